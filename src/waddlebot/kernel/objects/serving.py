"""Objects as HTTP answers: what every route that hands out stored files sends."""

from __future__ import annotations

from fastapi import HTTPException, status
from fastapi.responses import Response

from waddlebot.kernel.objects.base import ObjectStore
from waddlebot.kernel.objects.directory import DirectoryStore

# Stored files are shown, never run: no sniffing into HTML, and a sandbox should a browser
# open one as a document.
OBJECT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


async def object_response(store: ObjectStore, key: str, *, max_age: int = 300) -> Response:
    """The object under ``key`` as a response; 404 when there is none."""
    found = await store.get(key)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    headers = {**OBJECT_HEADERS, "Cache-Control": f"private, max-age={max_age}"}
    return Response(found.data, media_type=found.content_type, headers=headers)


async def signed_response(store: ObjectStore, key: str, expires: str, signature: str) -> Response:
    """A :class:`DirectoryStore` presigned URL answered; 404 for anything else (another
    backend, a wrong or expired signature: no hint which)."""
    if not isinstance(store, DirectoryStore) or not store.verify(key, expires, signature):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file, or the link expired")
    return await object_response(store, key, max_age=60)
