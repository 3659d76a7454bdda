"""The names services meet on: queues, pub/sub channels and shared keys.

A collector, the router and the core services agree on these strings and nothing else, so
they live here, in the kernel, and not in the service that happens to write them.
"""

from __future__ import annotations

EVENTS_QUEUE = "router:events"  # ingress → router workers
EVENTS_GROUP = "router"  # the workers' consumer group
OUTBOUND_GROUP = "sender"  # every platform sender's consumer group

COMMANDS_CHANGED = "router:commands-changed"
# Bumped (kv.incr) by whoever changes commands, before publishing COMMANDS_CHANGED: a worker
# that sees a version it has not loaded reloads before looking a command up, so a change is in
# effect for the very next message, whatever the pub/sub delivery timing.
COMMANDS_VERSION = "router:commands-version"


def outbound_queue(platform: str) -> str:
    """The queue a platform's sender drains."""
    return f"outbound:{platform}"


def overlay_channel(community_id: str) -> str:
    """The pub/sub channel the overlay hub listens on for a community."""
    return f"overlay:{community_id}"


def outcome_channel(event_id: str) -> str:
    """Where the outcome of one event is announced (the playground waits on it)."""
    return f"router:outcome:{event_id}"


def chat_lines_key(entity_id: str) -> str:
    """The channel's chat-line counter (one INCR per chat message; read by timers)."""
    return f"chat-lines:{entity_id}"


def identity_cache_key(platform: str, platform_user_id: str) -> str:
    """Cache key of the account → user mapping (the router's directory fills it; identity
    linking deletes it on change)."""
    return f"identity:{platform}:{platform_user_id}"
