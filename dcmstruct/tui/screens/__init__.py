"""Modal dialogs: go to offset, go to tag, help."""
