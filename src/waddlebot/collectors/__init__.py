"""Collectors: take platform events in, hand them to the router, deliver replies out."""
