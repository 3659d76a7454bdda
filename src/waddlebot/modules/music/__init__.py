"""Song requests: one durable queue per community (``queue.py``, chat in ``commands.py``,
REST in ``api.py``), played by Spotify (``spotify.py``) or by the YouTube player overlay
(``youtube.py``) behind the :class:`provider.MusicProvider` interface."""

from __future__ import annotations

from waddlebot.modules.music import spotify, spotify_web  # noqa: F401 - registers handlers
from waddlebot.modules.music.module import module

__all__ = ["module"]
