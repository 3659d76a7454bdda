"""The S3 object store (AWS, MinIO, moto, any S3 API) through aiobotocore.

aiobotocore is imported on first use, so a process that never touches the store does not pay
for botocore at start-up. Credentials come from botocore's standard chain (environment,
shared files, container/instance roles); WaddleBot has no settings of its own for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.objects.base import (
    CHUNK,
    ObjectInfo,
    StoredObject,
    check_key,
    check_prefix,
)

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    """Objects in one bucket; presigned GET URLs signed with SigV4 by botocore."""

    name = "s3"

    def __init__(self, bucket: str, *, region: str, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                    signature_version="s3v4",
                    # MinIO and moto behind a custom endpoint want bucket-in-path URLs.
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                )
                self._client = await self._stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=config,
                    )
                )
            return self._client

    async def prepare(self) -> None:
        """Create the bucket when it does not exist (MinIO's first start); an existing one,
        even one we may not create or list, is left alone."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
            return
        except Exception as error:
            if _code(error) not in _MISSING | {"NoSuchBucket"}:
                raise _outage(error) from error
        options: dict[str, Any] = {}
        if self.region != "us-east-1":  # the one region S3 refuses a constraint for
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await s3.create_bucket(Bucket=self.bucket, **options)
        except Exception as error:
            if _code(error) != "BucketAlreadyOwnedByYou":  # a concurrent migrate won
                raise _outage(error) from error

    async def put(self, key: str, data: bytes, *, content_type: str) -> ObjectInfo:
        s3 = await self._s3()
        await _call(
            s3.put_object(
                Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type
            )
        )
        found = await _call(s3.head_object(Bucket=self.bucket, Key=key))
        return ObjectInfo(key=key, size=len(data), modified=found["LastModified"])

    async def get(self, key: str) -> StoredObject | None:
        check_key(key)
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _code(error) in _MISSING:
                return None
            raise _outage(error) from error
        async with answer["Body"] as body:
            data = await body.read()
        return StoredObject(
            key=key, data=data, content_type=answer.get("ContentType") or "application/octet-stream"
        )

    async def put_file(self, key: str, source: Path, *, content_type: str) -> ObjectInfo:
        """One request for a small file, a multipart upload (aborted on failure) otherwise."""
        check_key(key)
        size = (await asyncio.to_thread(source.stat)).st_size
        if size <= CHUNK:
            return await self.put(
                key, await asyncio.to_thread(source.read_bytes), content_type=content_type
            )
        s3 = await self._s3()
        started = await _call(
            s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        )
        upload = {"Bucket": self.bucket, "Key": key, "UploadId": started["UploadId"]}
        parts: list[dict[str, Any]] = []
        try:
            handle = await asyncio.to_thread(source.open, "rb")
            with handle:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    number = len(parts) + 1
                    sent = await _call(s3.upload_part(**upload, PartNumber=number, Body=chunk))
                    parts.append({"PartNumber": number, "ETag": sent["ETag"]})
            await _call(s3.complete_multipart_upload(**upload, MultipartUpload={"Parts": parts}))
        except BaseException:
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(**upload)
            raise
        return ObjectInfo(key=key, size=size, modified=datetime.now(UTC))

    async def get_file(self, key: str, target: Path) -> bool:
        check_key(key)
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _code(error) in _MISSING:
                return False
            raise _outage(error) from error
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        try:
            async with answer["Body"] as body:
                out = await asyncio.to_thread(temporary.open, "xb")
                with out:
                    while chunk := await body.read(CHUNK):
                        await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(os.replace, temporary, target)
        finally:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
        return True

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await _call(s3.delete_object(Bucket=self.bucket, Key=check_key(key)))

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_prefix(prefix)
        s3 = await self._s3()
        found: list[ObjectInfo] = []
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        try:
            async for page in pages:
                found.extend(
                    ObjectInfo(key=item["Key"], size=item["Size"], modified=item["LastModified"])
                    for item in page.get("Contents", [])
                )
        except Exception as error:
            raise _outage(error) from error
        return sorted(found, key=lambda item: item.key)

    async def presigned_get(self, key: str, *, expires_in: int = 3600) -> str:
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=expires_in,
        )
        return url

    def url_origins(self) -> tuple[str, ...]:
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            return (f"{parts.scheme}://{parts.netloc}",)
        return (
            f"https://{self.bucket}.s3.{self.region}.amazonaws.com",
            f"https://s3.{self.region}.amazonaws.com",
        )

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


async def _call(pending: Any) -> Any:
    try:
        return await pending
    except Exception as error:
        raise _outage(error) from error


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _outage(error: Exception) -> Exception:
    """Any failure talking to S3 — refused connection, 5xx, but also a missing bucket or
    denied access (a deployment mistake) — is the store being unusable: 503 at the HTTP edge
    with the reason logged, never a crash. Missing keys are handled before this."""
    return DependencyUnavailable("object store", _code(error) or type(error).__name__)
