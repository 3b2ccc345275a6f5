"""Rules: private (being written)."""
