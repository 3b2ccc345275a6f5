"""Rules: values (being written)."""
