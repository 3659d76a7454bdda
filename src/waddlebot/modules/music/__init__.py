"""Song requests: one durable queue per community (``queue.py``, chat in ``commands.py``,
REST in ``api.py``), played by Spotify (``spotify.py``) or by the YouTube player overlay
(``youtube.py``) behind the :class:`provider.MusicProvider` interface; ``providers.py``
picks the community's provider."""

from __future__ import annotations

from waddlebot.modules.music import api as _api  # noqa: F401  (registers the routes)
from waddlebot.modules.music import commands as _commands  # noqa: F401  (registers commands)
from waddlebot.modules.music import models as _models  # noqa: F401  (registers the tables)
from waddlebot.modules.music import spotify, spotify_web  # noqa: F401 - registers handlers
from waddlebot.modules.music.module import module

__all__ = ["module"]
