"""The object store contract: every test runs on the directory store and on S3 (moto)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.kernel.objects.conftest import Harness
from waddlebot.kernel.objects import BadKey, S3Store
from waddlebot.kernel.objects.base import CHUNK


async def test_put_then_get_returns_bytes_and_type(objects: Harness) -> None:
    store = objects.store
    info = await store.put("media/c1/alert.png", b"\x89PNG data", content_type="image/png")
    assert (info.key, info.size) == ("media/c1/alert.png", 9)
    found = await store.get("media/c1/alert.png")
    assert found is not None
    assert (found.data, found.content_type) == (b"\x89PNG data", "image/png")


async def test_missing_object_is_none(objects: Harness) -> None:
    assert await objects.store.get("media/nothing-here") is None


async def test_put_replaces_the_whole_object(objects: Harness) -> None:
    store = objects.store
    await store.put("a/b", b"first version, longer", content_type="text/plain")
    await store.put("a/b", b"second", content_type="audio/ogg")
    found = await store.get("a/b")
    assert found is not None and (found.data, found.content_type) == (b"second", "audio/ogg")
    assert [(item.key, item.size) for item in await store.list("a/")] == [("a/b", 6)]


async def test_empty_object(objects: Harness) -> None:
    await objects.store.put("empty", b"", content_type="application/octet-stream")
    found = await objects.store.get("empty")
    assert found is not None and found.data == b""


async def test_delete_removes_and_tolerates_missing(objects: Harness) -> None:
    store = objects.store
    await store.put("x/y/z.bin", b"1", content_type="application/octet-stream")
    await store.delete("x/y/z.bin")
    assert await store.get("x/y/z.bin") is None
    assert await store.list("x/") == []
    await store.delete("x/y/z.bin")  # already gone: no error


async def test_list_by_prefix_in_key_order(objects: Harness) -> None:
    store = objects.store
    for key in ("m/c2/b.png", "m/c1/b.png", "m/c1/a.ogg", "m/c10/a.png", "n/c1/a.png"):
        await store.put(key, key.encode(), content_type="image/png")
    assert [item.key for item in await store.list("m/c1/")] == ["m/c1/a.ogg", "m/c1/b.png"]
    assert [item.key for item in await store.list("m/c1")] == [
        "m/c1/a.ogg",
        "m/c1/b.png",
        "m/c10/a.png",
    ]
    assert [item.key for item in await store.list("m/c1/a")] == ["m/c1/a.ogg"]
    assert len(await store.list()) == 5
    assert await store.list("nothing/") == []
    listed = (await store.list("n/"))[0]
    assert listed.size == len(b"n/c1/a.png") and listed.modified.tzinfo is not None


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape",
        "a/../../escape",
        "/absolute",
        "a//b",
        "a/",
        ".hidden",
        "a/.hidden",
        "a\\b",
        "spaces in name",
        "ümlaut",
        "a/b\x00",
        "x" * 513,
    ],
)
async def test_bad_keys_are_refused_everywhere(objects: Harness, key: str) -> None:
    store = objects.store
    for attempt in (
        store.put(key, b"x", content_type="text/plain"),
        store.get(key),
        store.delete(key),
        store.presigned_get(key),
    ):
        with pytest.raises(BadKey):
            await attempt
    with pytest.raises(BadKey):
        await store.list(key + "/")


async def test_presigned_url_serves_the_object_over_http(objects: Harness) -> None:
    store = objects.store
    await store.put("media/c1/ding.mp3", b"ID3 sound", content_type="audio/mpeg")
    url = await store.presigned_get("media/c1/ding.mp3", expires_in=60)
    answer = await objects.fetch(url)
    assert answer.status_code == 200
    assert answer.content == b"ID3 sound"
    assert answer.headers["content-type"].startswith("audio/mpeg")
    tampered = url.replace("ding.mp3", "ding.mp4")
    assert (await objects.fetch(tampered)).status_code in (403, 404)


async def test_presigned_url_expires(objects: Harness) -> None:
    store = objects.store
    await store.put("short", b"x", content_type="text/plain")
    url = await store.presigned_get("short", expires_in=1)
    if isinstance(store, S3Store):
        # moto does not check signatures or expiry; what AWS and MinIO check is in the URL.
        assert "X-Amz-Expires=1&" in url and "X-Amz-Signature=" in url
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
        return
    await asyncio.sleep(2.1)
    assert (await objects.fetch(url)).status_code in (403, 404)


async def test_concurrent_writers_leave_one_whole_object(objects: Harness) -> None:
    store = objects.store
    bodies = [bytes([n]) * 50_000 for n in range(8)]
    await asyncio.gather(
        *(store.put("race", body, content_type="application/octet-stream") for body in bodies)
    )
    found = await store.get("race")
    assert found is not None and found.data in bodies
    assert [item.key for item in await store.list()] == ["race"]


async def test_prepare_is_safe_to_repeat(objects: Harness) -> None:
    await objects.store.prepare()
    await objects.store.put("kept", b"x", content_type="text/plain")
    await objects.store.prepare()
    assert [item.key for item in await objects.store.list()] == ["kept"]


@pytest.mark.parametrize("size", [0, 1000, CHUNK + CHUNK // 2], ids=["empty", "small", "multipart"])
async def test_files_stream_in_and_out(objects: Harness, tmp_path: Path, size: int) -> None:
    source = tmp_path / "backup.dump"
    source.write_bytes(os.urandom(size))
    info = await objects.store.put_file(
        "backups/b.dump", source, content_type="application/octet-stream"
    )
    assert (info.key, info.size) == ("backups/b.dump", size)
    target = tmp_path / "restored" / "b.dump"
    assert await objects.store.get_file("backups/b.dump", target) is True
    assert target.read_bytes() == source.read_bytes()
    assert [item.size for item in await objects.store.list("backups/")] == [size]
    assert await objects.store.get_file("backups/missing", tmp_path / "nothing") is False
    assert not (tmp_path / "nothing").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.dump"]  # no temporary left
