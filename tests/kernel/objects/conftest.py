"""The object stores under test: the data-dir directory and S3 on moto's server mode (real
HTTP on loopback, real SigV4), each with a way to fetch a presigned URL over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from waddlebot.kernel.objects import DirectoryStore, ObjectStore, S3Store
from waddlebot.kernel.objects.serving import signed_response

SIGNED_BASE = "http://objects.test/signed"


@dataclass
class Harness:
    store: ObjectStore
    fetch: Callable[[str], Awaitable[httpx.Response]]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The standard chain finds these: what an operator's environment would hold."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def directory_app(store: DirectoryStore) -> FastAPI:
    app = FastAPI()

    @app.get("/signed/{key:path}")
    async def signed(key: str, expires: str = "", signature: str = "") -> object:
        return await signed_response(store, key, expires, signature)

    return app


@pytest.fixture(params=["directory", "s3"])
async def objects(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "directory":
        store = DirectoryStore(tmp_path / "objects", secret="s" * 32, url_base=SIGNED_BASE)
        transport = httpx.ASGITransport(app=directory_app(store))
        async with httpx.AsyncClient(transport=transport) as client:
            yield Harness(store, client.get)
        return
    request.getfixturevalue("aws_credentials")
    url = request.getfixturevalue("moto_url")
    bucket = f"wb-{uuid.uuid4().hex[:12]}"
    s3 = S3Store(bucket, region="us-east-1", endpoint_url=url)
    client = await s3._s3()
    await client.create_bucket(Bucket=bucket)
    async with httpx.AsyncClient() as http:
        yield Harness(s3, http.get)
    await s3.close()
