"""Developer scripts (``python -m scripts.<name>``)."""
