"""The todo tool environment (see `env.py`)."""
