"""Labels: a community's tags for users, channels, modules and items (``/api/labels/v1``)."""
