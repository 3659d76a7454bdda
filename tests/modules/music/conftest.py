"""A fake YouTube Data API on loopback, and the environment pointing the module at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.modules.music.fake_youtube import API_KEY, FakeYouTube, video
from tests.support import serve_asgi

SONGS = [
    video("dQw4w9WgXcQ", "Never Gonna Give You Up", "Rick Astley", duration="PT3M33S"),
    video("kJQP7kiw5Fk", "Despacito", "Luis Fonsi - Topic", duration="PT4M42S"),
    video("9bZkp7q19f0", "Gangnam Style", "officialpsy", duration="PT4M13S"),
    video("fJ9rUzIMcZQ", "Bohemian Rhapsody", "Queen Official", duration="PT5M59S"),
    video("hTWKbfoikeg", "Smells Like Teen Spirit", "Nirvana", duration="PT5M1S"),
    video("y6120QOlsfU", "Sandstorm", "Darude", duration="PT3M45S"),
    video("NotEmbed001", "Locked Song", "Label", embeddable=False),
    video("Blocked0001", "Blocked Song", "Label", blocked=["US", "DE"]),
    video("OnlyJapan01", "Japan Only Song", "Label", allowed=["JP"]),
    video("LongSong001", "Very Long Mix", "DJ", duration="PT1H2M3S"),
    video("Explicit001", "Rude Song", "Rapper", age_restricted=True),
]


@pytest.fixture
async def youtube(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeYouTube]:
    fake = FakeYouTube()
    for song in SONGS:
        fake.add(song)
    async with serve_asgi(fake.app()) as url:
        fake.url = url
        monkeypatch.setenv("WADDLEBOT_YOUTUBE_API_KEY", API_KEY)
        monkeypatch.setenv("WADDLEBOT_YOUTUBE_API_BASE", f"{url}/youtube/v3")
        monkeypatch.setenv("WADDLEBOT_YOUTUBE_REGION", "US")
        yield fake
