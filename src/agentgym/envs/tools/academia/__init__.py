"""The academia tool environment (see `env.py`)."""
