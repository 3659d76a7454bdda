"""Placeholder: filled in by its branch."""
