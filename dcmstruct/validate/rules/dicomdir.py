"""Rules: dicomdir (being written)."""
