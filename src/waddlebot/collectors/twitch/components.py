"""The Twitch collector's parts, wired once per process (the service) or per command (CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from waddlebot.collectors.twitch.auth import TwitchAuth
from waddlebot.collectors.twitch.helix import HelixClient
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.collectors.twitch.subscriptions import Subscriptions
from waddlebot.kernel.http_clients import http_client
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database

CALLBACK_PATH = "/auth/twitch/callback"


@dataclass
class Twitch:
    settings: TwitchSettings
    core: Settings
    http: httpx.AsyncClient
    auth: TwitchAuth
    helix: HelixClient
    subscriptions: Subscriptions

    @classmethod
    def build(cls, settings: TwitchSettings, core: Settings, db: Database) -> Twitch:
        http = http_client(timeout=settings.http_timeout, follow_redirects=False)
        auth = TwitchAuth(settings, db, core.secret_box, http)
        helix = HelixClient(settings, auth, http)
        subscriptions = Subscriptions(settings, core.public_url, db, helix, auth)
        return cls(settings, core, http, auth, helix, subscriptions)

    @property
    def redirect_uri(self) -> str:
        """Where Twitch sends the bot account back after authorising (register it at Twitch)."""
        return self.core.public_url.rstrip("/") + CALLBACK_PATH

    async def close(self) -> None:
        await self.http.aclose()
