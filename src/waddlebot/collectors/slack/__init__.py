"""Slack collector: signed Events API and slash-command webhooks in, Web API replies out."""
