"""Rules: container (being written)."""
