"""The ``shoutouts`` module: ``!so USER`` / ``!shoutout USER``, ``!shoutouts`` settings and
automatic raid shoutouts, with Twitch's native shoutout where the bot moderates; its settings
over REST at ``/api/shoutouts/v1/communities/{id}/settings``."""

from waddlebot.modules.shoutouts import api as _api  # noqa: F401 (registers the REST routes)
from waddlebot.modules.shoutouts.shoutouts import module

__all__ = ["module"]
