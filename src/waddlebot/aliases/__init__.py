"""Linux-style aliases: per-community names for command lines, expanded by the router."""
