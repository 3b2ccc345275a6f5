"""Rules: sequence (being written)."""
