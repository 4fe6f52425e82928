"""The movie tool environment (see `env.py`)."""
