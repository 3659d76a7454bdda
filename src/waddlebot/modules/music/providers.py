"""Which provider plays a community's requests: ``provider_for(ctx_or_request, settings)``.

The registry maps a provider name (the ``music_settings.provider`` column) to a factory
``(ctx_or_request, settings) -> MusicProvider``: the chat context or REST request (for the
database and secrets: ``ctx.database``/``ctx.host.secrets()``, ``web.database(request)``/
``web.secrets(request)``) and the installation's settings. YouTube is always there; Spotify
is imported lazily from ``spotify.py``, which must expose ``make_provider`` in that shape.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastapi import Request

from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.settings import Settings
from waddlebot.modules.music.models import MusicSettings
from waddlebot.modules.music.provider import MusicProvider
from waddlebot.modules.music.youtube import YouTubeConfig, YouTubeProvider
from waddlebot.sdk import Context

Caller = Context | Request | None
Factory = Callable[[Caller, Settings], MusicProvider]
PROVIDERS = ("youtube", "spotify")


def youtube(caller: Caller, settings: Settings) -> MusicProvider:
    return YouTubeProvider(
        YouTubeConfig(
            api_key=settings.youtube_api_key,
            api_base=settings.youtube_api_base,
            region=settings.youtube_region,
        )
    )


def spotify(caller: Caller, settings: Settings) -> MusicProvider:
    """The Spotify provider from ``spotify.py`` (owned by the Spotify side): its
    ``make_provider(ctx_or_request, settings)`` factory."""
    try:
        found: Any = importlib.import_module("waddlebot.modules.music.spotify")
    except ModuleNotFoundError:
        raise Invalid("Spotify song requests are not available in this installation.") from None
    maker = getattr(found, "make_provider", None)
    if maker is None:
        raise Invalid("Spotify song requests are not available in this installation.")
    provider: MusicProvider = maker(caller, settings)
    return provider


REGISTRY: dict[str, Factory] = {"youtube": youtube, "spotify": spotify}


def installation_settings(ctx_or_request: Caller) -> Settings:
    """The installation's settings: the app's in REST; in chat the environment's
    (``WADDLEBOT_…``), as modules get no settings object from their host."""
    if isinstance(ctx_or_request, Request):
        runtime = getattr(ctx_or_request.app.state, "runtime", None)
        if runtime is not None:
            settings: Settings = runtime.settings
            return settings
    return Settings()


def provider_for(ctx_or_request: Caller, row: MusicSettings) -> MusicProvider:
    """The provider the community chose (``row.provider``, default YouTube)."""
    factory = REGISTRY.get(row.provider or "youtube")
    if factory is None:
        raise Invalid(f"Unknown music provider {row.provider!r}.")
    return factory(ctx_or_request, installation_settings(ctx_or_request))
