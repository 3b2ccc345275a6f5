"""Rules: pixel (being written)."""
