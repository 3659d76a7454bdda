"""The overlays service: serves browser sources and runs this process's overlay hub."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter

from waddlebot.kernel.contracts import (
    PLAYER_JOB_PREFIX,
    PLAYER_MODULE,
    PLAYER_SYNC_HANDLER,
    PlayerReport,
    player_job_key,
)
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.scheduler import JobStore
from waddlebot.kernel.scheduler.spec import JobSpec
from waddlebot.kernel.service import Service
from waddlebot.overlays.config import OverlaySettings
from waddlebot.overlays.hub import OverlayHub
from waddlebot.overlays.media import MediaLibrary
from waddlebot.overlays.tokens import OverlayTokens

logger = get_logger(__name__)


class OverlayService(Service):
    name = "overlays"

    def __init__(self, config: OverlaySettings | None = None) -> None:
        super().__init__()
        self.config = config or OverlaySettings()
        self._runtime: Runtime | None = None
        self._hub: OverlayHub | None = None
        self._tokens: OverlayTokens | None = None
        self._jobs: JobStore | None = None
        self._media: MediaLibrary | None = None

    def api(self) -> APIRouter:
        from waddlebot.overlays.api import overlays_api
        from waddlebot.overlays.media_api import media_api

        api = APIRouter()
        api.include_router(media_api(self))  # first: its /overlay/… paths are the specific ones
        api.include_router(overlays_api(self))
        return api

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._hub = OverlayHub(runtime.backend, self.config)
        self._tokens = OverlayTokens(runtime.db, runtime.backend, runtime.settings)
        self._media = MediaLibrary(
            runtime.objects,
            max_bytes=self.config.media_max_bytes,
            max_files=self.config.media_max_files,
        )
        settings = runtime.settings
        self._jobs = JobStore(
            runtime.db,
            lease=settings.scheduler_lease,
            max_attempts=settings.scheduler_max_attempts,
            retry_delay=settings.scheduler_retry_delay,
            pubsub=runtime.backend.pubsub,
            wake_within=settings.scheduler_poll_interval,
        )
        self.spawn("revalidate", partial(self._hub.revalidate, self._tokens.live_hashes))

    async def player_report(self, community_id: str, report: PlayerReport) -> bool:
        """A ``player`` page says its track ended or failed: the music module's job for that
        queue entry becomes due now (the module advances its queue there; this layer knows
        no queue). False when no such job waits (already advanced, or a stale page)."""
        if self._jobs is None:
            return False
        if report.type == "ready":
            hurried = await self._sync(community_id)
        elif not report.entry:
            return False
        else:
            payload = {"report": report.type, "code": report.code}
            hurried = await self._jobs.hurry(
                PLAYER_MODULE, community_id, player_job_key(report.entry), payload
            )
        log_event(
            logger,
            Category.SYSTEM,
            "player_report",
            "ok" if hurried else "ignored",
            community=community_id,
            report=report.type,
            code=report.code,
        )
        return hurried

    async def _sync(self, community_id: str) -> bool:
        """Ask the module (a job now, in the channel of its pending player job) to send the
        player what plays: a page opened after the track started missed that card."""
        assert self._jobs is not None
        origin = await self._jobs.origin_of(PLAYER_MODULE, community_id, PLAYER_JOB_PREFIX)
        if origin is None:  # nothing plays on YouTube
            return False
        await self._jobs.schedule(
            JobSpec(
                module=PLAYER_MODULE,
                community_id=community_id,
                handler=PLAYER_SYNC_HANDLER,
                due_at=self._jobs.now(),
                payload={},
                origin=origin,
                key="player-sync",
            )
        )
        return True

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
    def media(self) -> MediaLibrary:
        if self._media is None:
            raise RuntimeError("the overlays service has not started")
        return self._media

    @property
    def tokens(self) -> OverlayTokens:
        if self._tokens is None:
            raise RuntimeError("the overlays service has not started")
        return self._tokens
