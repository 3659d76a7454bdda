"""Accounts: password and OAuth login, login sessions, self-service API keys."""
