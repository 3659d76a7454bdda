"""YouTube as a music provider: the YouTube Data API v3 finds and checks tracks, the
``player`` overlay (an OBS browser source with the IFrame Player) plays our queue.

"Licence-aware": a video is queued only when the player can legally play it here, i.e. it is
embeddable (``status.embeddable``), public or unlisted, and not region-restricted away from
``WADDLEBOT_YOUTUBE_REGION`` (``contentDetails.regionRestriction.allowed/blocked``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from waddlebot.kernel.errors import Invalid, NotFound, Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.modules.music.provider import Playing, ProviderName, Track

logger = get_logger(__name__)

_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
TIMEOUT = 10.0


class ProviderUnavailable(Refusal):
    """The provider's API refused or failed (quota, key, outage): a clear line in chat."""

    status = 503


@dataclass(frozen=True, slots=True)
class YouTubeConfig:
    api_key: str | None
    api_base: str = "https://www.googleapis.com/youtube/v3"
    region: str = "US"


def video_id(text: str) -> str | None:
    """The video id of a YouTube link (watch?v=, youtu.be/, music.youtube.com, /shorts/,
    /embed/) or of a bare id-looking word; None for search words."""
    candidate = text.strip().strip("<>")
    if "://" not in candidate and "/" in candidate.split("?")[0]:
        candidate = "https://" + candidate
    if "://" in candidate:
        try:
            parts = urlsplit(candidate)
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        found: str | None = None
        if host in _HOSTS:
            if parts.path == "/watch":
                found = (parse_qs(parts.query).get("v") or [""])[0]
            else:
                pieces = parts.path.strip("/").split("/")
                if len(pieces) >= 2 and pieces[0] in {"shorts", "embed", "live", "v"}:
                    found = pieces[1]
        elif host == "youtu.be":
            found = parts.path.strip("/").split("/")[0]
        return found if found and _VIDEO_ID.match(found) else None
    return None


def duration_ms(iso: str) -> int | None:
    """ISO 8601 ``PT#H#M#S`` (days allowed) → milliseconds; None when unreadable."""
    match = _DURATION.match(iso or "")
    if match is None or iso in ("P", "PT"):
        return None
    parts = {key: float(value) if value else 0.0 for key, value in match.groupdict().items()}
    seconds = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    return int(seconds * 1000)


def _region_block(details: dict[str, Any], region: str) -> bool:
    restriction = details.get("regionRestriction")
    if not isinstance(restriction, dict):
        return False
    allowed = restriction.get("allowed")
    if isinstance(allowed, list):
        return region not in allowed
    blocked = restriction.get("blocked")
    return isinstance(blocked, list) and region in blocked


def _art(snippet: dict[str, Any]) -> str:
    thumbnails = snippet.get("thumbnails") or {}
    for size in ("high", "medium", "default"):
        url = (thumbnails.get(size) or {}).get("url")
        if isinstance(url, str) and url:
            return url
    return ""


def _artist(snippet: dict[str, Any]) -> str:
    """The channel, without YouTube's auto-generated " - Topic" suffix."""
    channel = str(snippet.get("channelTitle") or "")
    return channel.removesuffix(" - Topic")


class YouTubeProvider:
    """Search and checks over the Data API; playback happens in the ``player`` overlay."""

    name: ProviderName = "youtube"

    def __init__(self, config: YouTubeConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self._transport = transport

    async def find(self, community_id: str, query: str) -> Track:
        query = query.strip()
        if not query:
            raise Invalid("Tell me a song: !sr SONG or a YouTube link.")
        found = video_id(query)
        if found is None:
            if "://" in query:
                raise Invalid("That is not a YouTube video link.")
            found = await self._search(query)
        return await self._video(found)

    async def queued(self, community_id: str, track: Track) -> None:
        """Nothing to do: the player overlay plays our queue."""

    async def skip(self, community_id: str) -> None:
        """Nothing to do here: the queue moves on and the overlay is sent the next track."""

    async def now_playing(self, community_id: str) -> Playing | None:
        """The player overlay does not report its position; the queue knows the start time."""
        return None

    async def _search(self, query: str) -> str:
        body = await self._get(
            "search",
            {
                "part": "snippet",
                "q": query[:200],
                "type": "video",
                "videoCategoryId": "10",
                "videoEmbeddable": "true",
                "regionCode": self.config.region,
                "maxResults": "5",
            },
        )
        for item in body.get("items") or []:
            found = (item.get("id") or {}).get("videoId")
            live = (item.get("snippet") or {}).get("liveBroadcastContent", "none")
            if isinstance(found, str) and _VIDEO_ID.match(found) and live in ("none", None):
                return found
        raise NotFound(f"I found no song for “{query[:80]}” on YouTube.")

    async def _video(self, found: str) -> Track:
        body = await self._get(
            "videos", {"part": "snippet,contentDetails,status", "id": found, "maxResults": "1"}
        )
        items = body.get("items") or []
        if not items:
            raise NotFound("That YouTube video does not exist or is private.")
        item = items[0]
        snippet = item.get("snippet") or {}
        details = item.get("contentDetails") or {}
        status = item.get("status") or {}
        title = str(snippet.get("title") or found)
        if status.get("privacyStatus") == "private":
            raise Invalid(f"“{title}” is private on YouTube.")
        if status.get("embeddable") is False:
            raise Invalid(f"“{title}” cannot be played here: its owner does not allow embedding.")
        if _region_block(details, self.config.region):
            raise Invalid(
                f"“{title}” cannot be played here: it is blocked in {self.config.region}."
            )
        if snippet.get("liveBroadcastContent") in ("live", "upcoming"):
            raise Invalid(f"“{title}” is a live stream, not a song.")
        length = duration_ms(str(details.get("duration") or ""))
        if length is None:
            raise Invalid(f"“{title}” has no length I can read.")
        rating = (details.get("contentRating") or {}).get("ytRating")
        return Track(
            provider="youtube",
            id=found,
            title=title,
            artist=_artist(snippet),
            duration_ms=length,
            url=f"https://www.youtube.com/watch?v={found}",
            art_url=_art(snippet),
            explicit=rating == "ytAgeRestricted",
        )

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        if not self.config.api_key:
            raise ProviderUnavailable("YouTube song requests are not set up (no API key).")
        url = f"{self.config.api_base.rstrip('/')}/{path}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, transport=self._transport) as client:
                answer = await client.get(url, params={**params, "key": self.config.api_key})
        except httpx.HTTPError as error:
            log_event(logger, Category.ERROR, "youtube_api", "error", error=type(error).__name__)
            raise ProviderUnavailable("YouTube did not answer; try again in a moment.") from None
        if answer.status_code == 200:
            try:
                body = answer.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                return body
            raise ProviderUnavailable("YouTube answered something I cannot read.")
        reason = _reason(answer)
        log_event(
            logger,
            Category.ERROR,
            "youtube_api",
            "error",
            status=answer.status_code,
            reason=reason,
        )
        if answer.status_code == 429 or reason in {"quotaExceeded", "rateLimitExceeded"}:
            raise ProviderUnavailable(
                "YouTube's request quota is used up for now; song requests are paused until it "
                "resets."
            )
        if answer.status_code in (400, 401, 403):
            raise ProviderUnavailable(
                "YouTube refused the bot's API key; ask an admin to check it."
            )
        raise ProviderUnavailable("YouTube is not answering properly; try again later.")


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        errors = body["error"]["errors"]
        return str(errors[0].get("reason", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
