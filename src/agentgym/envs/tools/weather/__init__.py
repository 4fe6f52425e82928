"""The weather tool environment (see `env.py`)."""
