"""The object stores under test: the data-dir directory and S3 on moto's server mode (real
HTTP on loopback, real SigV4), each with a way to fetch a presigned URL over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.objects_support import aws_credentials, moto_url, new_bucket
from waddlebot.kernel.objects import DirectoryStore, ObjectStore, S3Store
from waddlebot.kernel.objects.serving import signed_response

__all__ = ["aws_credentials", "moto_url"]  # fixtures, from tests/objects_support.py

SIGNED_BASE = "http://objects.test/signed"


@dataclass
class Harness:
    store: ObjectStore
    fetch: Callable[[str], Awaitable[httpx.Response]]


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
    s3 = S3Store(new_bucket(url), region="us-east-1", endpoint_url=url)
    async with httpx.AsyncClient() as http:
        yield Harness(s3, http.get)
    await s3.close()
