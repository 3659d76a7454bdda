"""Credentials for machines: internal service tokens and hashed, scoped API keys."""
