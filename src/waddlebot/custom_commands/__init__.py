"""Custom commands: community-defined `!name` answers, their safe template language, importers."""
