"""Rules: encoding (being written)."""
