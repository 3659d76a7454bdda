"""Built-in interaction modules, each written with the public SDK like any third-party one."""

from __future__ import annotations

from waddlebot.sdk import Module


def builtin_modules() -> list[Module]:
    """Every module that ships with WaddleBot, freshly imported."""
    from waddlebot.modules.ai import module as ai
    from waddlebot.modules.aliases import module as aliases
    from waddlebot.modules.calendar import module as calendar
    from waddlebot.modules.core import module as core
    from waddlebot.modules.custom_commands import module as custom_commands
    from waddlebot.modules.identity import module as identity
    from waddlebot.modules.inventory import module as inventory
    from waddlebot.modules.labels import module as labels
    from waddlebot.modules.members import module as members
    from waddlebot.modules.memories import module as memories
    from waddlebot.modules.music import module as music
    from waddlebot.modules.shoutouts import module as shoutouts
    from waddlebot.modules.stream_alerts import module as stream_alerts
    from waddlebot.modules.timers import module as timers

    return [
        core,
        custom_commands,
        identity,
        labels,
        members,
        stream_alerts,
        aliases,
        timers,
        memories,
        shoutouts,
        calendar,
        music,
        inventory,
        ai,
    ]
