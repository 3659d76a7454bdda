"""Overlay media: upload, list, delete, refusals, and serving to the overlay pages — on the
directory store (both stacks) and on S3 (moto's server mode)."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.objects_support import aws_credentials, moto_url, new_bucket
from tests.overlays.conftest import OverlayBot, overlay_bot, overlay_config
from waddlebot.kernel.settings import Settings

__all__ = ["aws_credentials", "moto_url"]  # fixtures


def png(width: int = 1, height: int = 1) -> bytes:
    """A real PNG (Chromium must be able to decode it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


OGG = b"OggS\x00\x02" + b"\x00" * 60
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def media_path(bot: OverlayBot) -> str:
    return f"/api/browser-sources/v1/communities/{bot.community_id}/media"


async def upload(
    bot: OverlayBot,
    data: bytes,
    filename: str = "upload.bin",
    *,
    name: str | None = None,
    content_type: str = "image/png",
    key: str | None = None,
) -> httpx.Response:
    form = {"name": name} if name is not None else {}
    return await bot.server.client.post(
        media_path(bot),
        files={"file": (filename, data, content_type)},
        data=form,
        headers={"X-API-Key": key or bot.manage_key},
    )


async def test_upload_list_serve_and_delete(stack_settings: Settings) -> None:
    async with overlay_bot(stack_settings) as bot:
        answer = await upload(bot, png(), "Alert Image.png", name="follow")
        assert answer.status_code == 201, answer.text
        item = answer.json()
        assert (item["name"], item["kind"], item["content_type"], item["ref"]) == (
            "follow.png",
            "image",
            "image/png",
            "media:follow.png",
        )
        # the header said PNG; the bytes say Ogg: the bytes win, and the name follows them
        sound = await upload(bot, OGG, "ding.ogg", content_type="image/png")
        assert sound.status_code == 201, sound.text
        assert (sound.json()["kind"], sound.json()["content_type"]) == ("sound", "audio/ogg")

        listing = await bot.server.client.get(
            media_path(bot), headers={"X-API-Key": bot.manage_key}
        )
        assert listing.status_code == 200
        assert [f["name"] for f in listing.json()["files"]] == ["ding.ogg", "follow.png"]

        # the directory store's signed link, served by the app
        link = urlsplit(item["url"])
        assert item["url"].startswith(stack_settings.public_url + "/overlay/objects/overlays/")
        fetched = await bot.server.client.get(f"{link.path}?{link.query}")
        assert fetched.status_code == 200 and fetched.content == png()
        forged = await bot.server.client.get(link.path + "?expires=9999999999&signature=x")
        assert forged.status_code == 404

        # the page's own token URL (what overlay content's media:<name> becomes)
        token = await bot.token("alert")
        served = await bot.server.client.get(f"/overlay/{token}/media/follow.png")
        assert served.status_code == 200 and served.content == png()
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
        assert (
            await bot.server.client.get("/overlay/not-a-token/media/follow.png")
        ).status_code == 404

        gone = await bot.server.client.delete(
            media_path(bot) + "/follow.png", headers={"X-API-Key": bot.manage_key}
        )
        assert gone.status_code == 204
        assert (
            await bot.server.client.get(f"/overlay/{token}/media/follow.png")
        ).status_code == 404
        again = await bot.server.client.delete(
            media_path(bot) + "/follow.png", headers={"X-API-Key": bot.manage_key}
        )
        assert again.status_code == 404


@pytest.mark.parametrize(
    ("data", "filename", "name", "message"),
    [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "x.svg",
            None,
            "not a file type",
        ),
        (b"<html><script>alert(1)</script>", "x.png", None, "not a file type"),
        (b"PK\x03\x04" + b"\x00" * 40, "x.png", None, "application/zip"),
        (b"", "x.png", None, "empty"),
        (png(), "x.png", "../escape", "media name"),
        (png(), "x.png", "a/b", "media name"),
        (png(), "x.png", ".hidden", "media name"),
        (png(), "x.png", "x" * 70, "media name"),
        (png(), "photo.jpg", None, "use .png"),
        (png(), "my photo!.png", None, "media name"),
    ],
)
async def test_refusals_are_clear_422s(
    tmp_path: Path, data: bytes, filename: str, name: str | None, message: str
) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k", log_format="console")
    async with overlay_bot(settings) as bot:
        answer = await upload(bot, data, filename, name=name)
        assert answer.status_code == 422, answer.text
        assert message in answer.json()["detail"]
        listing = await bot.server.client.get(
            media_path(bot), headers={"X-API-Key": bot.manage_key}
        )
        assert listing.json()["files"] == []


async def test_size_and_count_limits(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k", log_format="console")
    config = overlay_config(media_max_bytes=2048, media_max_files=2)
    async with overlay_bot(settings, config) as bot:
        big = await upload(bot, png(40, 40) + b"\x00" * 3000, "big.png")
        assert big.status_code == 422 and "larger than 2048 bytes" in big.json()["detail"]
        for name in ("one", "two"):
            assert (await upload(bot, GIF, "a.gif", name=name)).status_code == 201
        third = await upload(bot, GIF, "a.gif", name="three")
        assert third.status_code == 422 and "already has 2" in third.json()["detail"]
        assert (await upload(bot, png(), "one.png", name="one")).status_code == 422  # .png≠gif
        assert (await upload(bot, GIF, "a.gif", name="one")).status_code == 201  # replaces
        # no file part at all: the one 422 shape for bad requests
        missing = await bot.server.client.post(
            media_path(bot), data={"name": "x"}, headers={"X-API-Key": bot.manage_key}
        )
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "file"


async def test_only_managers_upload(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k", log_format="console", host="0.0.0.0")
    async with overlay_bot(settings) as bot:
        assert (await upload(bot, png(), "a.png", key=bot.write_key)).status_code == 403
        anonymous = await bot.server.client.post(media_path(bot), files={"file": ("a.png", png())})
        assert anonymous.status_code == 401
        unknown = await bot.server.client.get(
            "/api/browser-sources/v1/communities/nope/media", headers={"X-API-Key": bot.manage_key}
        )
        assert unknown.status_code == 404


async def test_alerts_and_cards_carry_media_refs_and_the_csp_allows_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k", log_format="console")
    async with overlay_bot(settings) as bot:
        content: dict[str, Any] = {
            "title": "followed",
            "user": "ann",
            "image": "media:follow.png",
            "sound": "media:ding.ogg",
        }
        shown = await bot.display("alert", content)
        assert shown["content"]["image"] == "media:follow.png"
        assert shown["content"]["sound"] == "media:ding.ogg"
        crossed = await bot.display(
            "alert", {**content, "image": "media:ding.ogg", "sound": "media:follow.png"}
        )
        assert "image" not in crossed["content"] and "sound" not in crossed["content"]
        hostile = await bot.display(
            "alert", {**content, "image": "media:../x.png", "sound": "https://evil.example/a.mp3"}
        )
        assert "image" not in hostile["content"] and "sound" not in hostile["content"]
        card = await bot.display("general", {"title": "so", "image": "media:art.webp"})
        assert card["content"]["image"] == "media:art.webp"

        token = await bot.token("alert")
        page = await bot.server.client.get(f"/overlay/{token}")
        csp = page.headers["content-security-policy"]
        assert "'self'; media-src 'self';" in csp and "img-src https://" in csp


async def test_media_on_s3(aws_credentials: None, moto_url: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key="k",
        log_format="console",
        s3_bucket=new_bucket(moto_url),
        s3_endpoint_url=moto_url,
    )
    async with overlay_bot(settings) as bot:
        answer = await upload(bot, png(), "follow.png")
        assert answer.status_code == 201, answer.text
        item = answer.json()
        assert item["url"].startswith(moto_url) and "X-Amz-Signature=" in item["url"]
        async with httpx.AsyncClient() as outside:
            assert (await outside.get(item["url"])).content == png()
        token = await bot.token("alert")
        served = await bot.server.client.get(f"/overlay/{token}/media/follow.png")
        assert served.status_code == 200 and served.content == png()
        listing = await bot.server.client.get(
            media_path(bot), headers={"X-API-Key": bot.manage_key}
        )
        assert [f["name"] for f in listing.json()["files"]] == ["follow.png"]
        # S3 links are S3's: the app's signed route does not serve them
        assert (
            await bot.server.client.get("/overlay/objects/overlays/x/follow.png")
        ).status_code == 404
