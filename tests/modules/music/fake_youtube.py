"""A fake YouTube Data API v3 (``search`` and ``videos``) at its HTTP boundary: the paths,
parameters and answer shapes of the real one, with videos the test defines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

API_KEY = "test-youtube-key"


def video(
    video_id: str,
    title: str,
    channel: str = "Artist - Topic",
    *,
    duration: str = "PT3M30S",
    embeddable: bool = True,
    allowed: list[str] | None = None,
    blocked: list[str] | None = None,
    age_restricted: bool = False,
) -> dict[str, Any]:
    details: dict[str, Any] = {"duration": duration}
    if allowed is not None:
        details["regionRestriction"] = {"allowed": allowed}
    if blocked is not None:
        details["regionRestriction"] = {"blocked": blocked}
    if age_restricted:
        details["contentRating"] = {"ytRating": "ytAgeRestricted"}
    return {
        "kind": "youtube#video",
        "id": video_id,
        "snippet": {
            "title": title,
            "channelTitle": channel,
            "liveBroadcastContent": "none",
            "thumbnails": {"high": {"url": f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg"}},
        },
        "contentDetails": details,
        "status": {"embeddable": embeddable, "privacyStatus": "public"},
    }


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}},
        status_code=status,
    )


@dataclass
class FakeYouTube:
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fail: tuple[int, str] | None = None  # every call answers this (status, reason)
    url: str = ""

    def add(self, item: dict[str, Any]) -> None:
        self.videos[item["id"]] = item

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/youtube/v3/search")
        async def search(request: Request) -> JSONResponse:
            params = dict(request.query_params)
            self.calls.append(("search", params))
            if (refused := self._refuse(params)) is not None:
                return refused
            if params.get("part") != "snippet" or params.get("type") != "video":
                return _error(400, "invalidFilters")
            words = params.get("q", "").casefold().split()
            items = [
                {"id": {"kind": "youtube#video", "videoId": v["id"]}, "snippet": v["snippet"]}
                for v in self.videos.values()
                if all(w in v["snippet"]["title"].casefold() for w in words)
            ]
            return JSONResponse({"kind": "youtube#searchListResponse", "items": items[:5]})

        @app.get("/iframe_api")
        async def iframe_api() -> Response:
            return Response(IFRAME_API_STUB, media_type="text/javascript")

        @app.get("/youtube/v3/videos")
        async def videos(request: Request) -> JSONResponse:
            params = dict(request.query_params)
            self.calls.append(("videos", params))
            if (refused := self._refuse(params)) is not None:
                return refused
            ids = params.get("id", "").split(",")
            items = [self.videos[i] for i in ids if i in self.videos]
            return JSONResponse({"kind": "youtube#videoListResponse", "items": items})

        return app

    def _refuse(self, params: dict[str, str]) -> JSONResponse | None:
        if self.fail is not None:
            return _error(*self.fail)
        if params.get("key") != API_KEY:
            return _error(400, "keyInvalid")
        return None


IFRAME_API_STUB = """
// A stand-in for https://www.youtube.com/iframe_api: the YT.Player surface the player page
// uses, driven by the test through window.stub (end(), fail(code)).
(() => {
  const PlayerState = { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 };
  class Player {
    constructor(element, options) {
      this.options = options; this.loaded = []; this.volume = null; this.stopped = 0;
      window.stub = this;
      setTimeout(() => options.events.onReady({ target: this }), 0);
    }
    loadVideoById(video) {
      this.loaded.push(video); document.body.dataset.video = video;
      const playing = { data: PlayerState.PLAYING, target: this };
      setTimeout(() => this.options.events.onStateChange(playing), 0);
    }
    stopVideo() { this.stopped += 1; }
    setVolume(volume) { this.volume = volume; }
    end() { this.options.events.onStateChange({ data: PlayerState.ENDED, target: this }); }
    fail(code) { this.options.events.onError({ data: code, target: this }); }
  }
  window.YT = { Player, PlayerState };
  window.onYouTubeIframeAPIReady();
})();
"""
