"""The ``shoutouts`` module: ``!so USER`` / ``!shoutout USER``, ``!shoutouts`` settings and
automatic raid shoutouts, with Twitch's native shoutout where the bot moderates."""

from waddlebot.modules.shoutouts.shoutouts import module

__all__ = ["module"]
