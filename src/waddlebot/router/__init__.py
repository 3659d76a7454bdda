"""The router: ingress, workers, command parsing, permissions, limits and module execution."""
