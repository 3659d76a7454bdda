"""Which provider plays a community's requests: ``provider_for(ctx_or_request, row)``.

The registry maps a provider name (the ``music_settings.provider`` column) to a factory
``(ctx_or_request, settings) -> MusicProvider``: the chat context or REST request (for the
database and secrets: ``ctx.database``/``ctx.host.secrets()``, ``web.database(request)``/
``web.host(request).secrets()``) and the installation's settings — in chat
``ctx.host.settings()``, in REST the runtime's, so both use the same configuration.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.settings import Settings
from waddlebot.modules.music import spotify as spotify_provider
from waddlebot.modules.music.models import MusicSettings
from waddlebot.modules.music.provider import MusicProvider
from waddlebot.modules.music.youtube import YouTubeConfig, YouTubeProvider
from waddlebot.sdk import Context, web
from waddlebot.sdk.errors import offered

Caller = Context | Request
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
    """The Spotify provider (``spotify.make_provider``) with the community's stored token."""
    return spotify_provider.make_provider(caller, settings)


REGISTRY: dict[str, Factory] = {"youtube": youtube, "spotify": spotify}


def installation_settings(ctx_or_request: Caller) -> Settings:
    """The installation's settings: the router's in REST, the host's in chat (the same
    object for a built-in module; a remote module has none, and gets a clear refusal)."""
    if isinstance(ctx_or_request, Request):
        return web.settings(ctx_or_request)
    return offered(
        ctx_or_request.host.settings(),
        "Song requests are only available in the built-in music module.",
    )


def provider_for(ctx_or_request: Caller, row: MusicSettings) -> MusicProvider:
    """The provider the community chose (``row.provider``, default YouTube)."""
    factory = REGISTRY.get(row.provider or "youtube")
    if factory is None:
        raise Invalid(f"Unknown music provider {row.provider!r}.")
    return factory(ctx_or_request, installation_settings(ctx_or_request))
