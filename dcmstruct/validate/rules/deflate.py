"""Rules: deflate (being written)."""
