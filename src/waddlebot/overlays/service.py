"""The overlays service: serves browser sources and runs this process's overlay hub."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter

from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.service import Service
from waddlebot.overlays.config import OverlaySettings
from waddlebot.overlays.hub import OverlayHub
from waddlebot.overlays.tokens import OverlayTokens


class OverlayService(Service):
    name = "overlays"

    def __init__(self, config: OverlaySettings | None = None) -> None:
        super().__init__()
        self.config = config or OverlaySettings()
        self._runtime: Runtime | None = None
        self._hub: OverlayHub | None = None
        self._tokens: OverlayTokens | None = None

    def api(self) -> APIRouter:
        from waddlebot.overlays.api import overlays_api

        return overlays_api(self)

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._hub = OverlayHub(runtime.backend, self.config)
        self._tokens = OverlayTokens(runtime.db, runtime.backend, runtime.settings)
        self.spawn("revalidate", partial(self._hub.revalidate, self._tokens.live_hashes))

    async def stop(self) -> None:
        if self._hub is not None:
            await self._hub.close()
        await super().stop()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the overlays service has not started")
        return self._runtime

    @property
    def hub(self) -> OverlayHub:
        if self._hub is None:
            raise RuntimeError("the overlays service has not started")
        return self._hub

    @property
    def tokens(self) -> OverlayTokens:
        if self._tokens is None:
            raise RuntimeError("the overlays service has not started")
        return self._tokens
