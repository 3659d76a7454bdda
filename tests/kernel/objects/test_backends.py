"""What only one backend has: the directory store's files and HMAC-signed URLs, S3's bucket
creation, and the settings that pick one."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.objects import BadKey, DirectoryStore
from waddlebot.kernel.objects.factory import open_object_store
from waddlebot.kernel.objects.s3 import S3Store
from waddlebot.kernel.settings import Settings


def store(tmp_path: Path, secret: str = "secret") -> DirectoryStore:
    return DirectoryStore(tmp_path / "objects", secret=secret, url_base="https://bot.example/o/")


async def test_files_stay_inside_the_root(tmp_path: Path) -> None:
    objects = store(tmp_path)
    await objects.put("a/b.png", b"x", content_type="image/png")
    assert (tmp_path / "objects" / "a" / "b.png").is_file()
    (tmp_path / "objects" / "link").symlink_to(tmp_path)
    with pytest.raises(BadKey):
        await objects.put("link/escaped", b"x", content_type="text/plain")
    assert not (tmp_path / "escaped").exists()


async def test_a_key_under_an_object_is_refused_not_a_crash(tmp_path: Path) -> None:
    objects = store(tmp_path)
    await objects.put("a", b"x", content_type="text/plain")
    with pytest.raises(BadKey):
        await objects.put("a/b", b"x", content_type="text/plain")


async def test_no_temporary_files_are_listed_or_left(tmp_path: Path) -> None:
    objects = store(tmp_path)
    await objects.put("a/b", b"x", content_type="text/plain")
    (tmp_path / "objects" / "a" / ".b.123.tmp").write_bytes(b"half")
    assert [item.key for item in await objects.list()] == ["a/b"]
    await objects.delete("a/b")
    assert not (tmp_path / "objects" / "a" / "b").exists()


async def test_signature_checks(tmp_path: Path) -> None:
    objects = store(tmp_path)
    url = await objects.presigned_get("a/b.png", expires_in=60)
    assert url.startswith("https://bot.example/o/a/b.png?")
    query = parse_qs(urlsplit(url).query)
    expires, signature = query["expires"][0], query["signature"][0]
    assert objects.verify("a/b.png", expires, signature)
    assert not objects.verify("a/c.png", expires, signature)
    assert not objects.verify("a/b.png", str(int(expires) + 1), signature)
    tampered = signature[:-1] + ("B" if signature[-1] != "B" else "C")  # never the same
    assert not objects.verify("a/b.png", expires, tampered)
    assert not objects.verify("a/b.png", expires, "ü")
    assert not objects.verify("a/b.png", "soon", signature)
    assert not objects.verify("../b.png", expires, signature)
    assert not objects.verify("a/b.png", expires, signature, now=time.time() + 61)
    assert not store(tmp_path, secret="other").verify("a/b.png", expires, signature)
    assert objects.url_origins() == ("https://bot.example",)


async def test_s3_prepare_creates_a_missing_bucket(aws_credentials: None, moto_url: str) -> None:
    bucket = f"wb-new-{uuid.uuid4().hex[:8]}"
    for region in ("us-east-1", "eu-west-1"):
        s3 = S3Store(f"{bucket}-{region}", region=region, endpoint_url=moto_url)
        try:
            await s3.prepare()
            await s3.prepare()
            await s3.put("a", b"x", content_type="text/plain")
            assert [item.key for item in await s3.list()] == ["a"]
        finally:
            await s3.close()


def test_settings_pick_the_backend(tmp_path: Path) -> None:
    local = open_object_store(Settings(data_dir=tmp_path, secret_key="k"))
    assert isinstance(local, DirectoryStore) and local.root == tmp_path / "objects"
    remote = open_object_store(
        Settings(
            data_dir=tmp_path,
            secret_key="k",
            s3_bucket="wb-media",
            s3_endpoint_url="http://minio:9000",
            aws_region="eu-west-1",
        )
    )
    assert isinstance(remote, S3Store)
    assert (remote.bucket, remote.region, remote.url_origins()) == (
        "wb-media",
        "eu-west-1",
        ("http://minio:9000",),
    )


async def test_s3_trouble_is_an_outage_not_a_crash(aws_credentials: None, moto_url: str) -> None:
    missing = S3Store(
        f"wb-absent-{uuid.uuid4().hex[:8]}", region="us-east-1", endpoint_url=moto_url
    )
    away = S3Store("wb-away", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    try:
        for store in (missing, away):
            with pytest.raises(DependencyUnavailable):
                await store.put("a", b"x", content_type="text/plain")
            with pytest.raises(DependencyUnavailable):
                await store.list()
        with pytest.raises(DependencyUnavailable):
            await away.get("a")
    finally:
        await missing.close()
        await away.close()
