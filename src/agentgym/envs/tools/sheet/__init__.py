"""The sheet tool environment (see `env.py`)."""
