"""The few Kong Admin API calls the broker makes (database mode), over httpx.

Documented endpoints only (``/work/shared/reference/module-apis.md`` §7, Kong 3.x Admin API):
``GET /consumers`` (paged by ``offset``), ``PUT``/``DELETE /consumers/{username}``,
``GET``/``POST /consumers/{c}/key-auth``, ``DELETE /consumers/{c}/key-auth/{id}``,
``GET /consumers/{c}/acls``, ``PUT``/``DELETE /consumers/{c}/acls/{group or id}``.
Kong unreachable or answering 5xx is :class:`DependencyUnavailable` (the broker's loop backs
off and ``/readyz`` shows it); any other unexpected answer is :class:`KongAdminError`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from waddlebot.kernel.errors import DependencyUnavailable

PAGE_SIZE = 1000  # the Admin API's maximum page size

Entity = dict[str, Any]


class KongAdminError(Exception):
    """Kong refused a call (4xx): a bug or a Kong we do not understand, not an outage."""


def _part(value: str) -> str:
    return quote(value, safe="")


class KongAdmin:
    """A client for one Kong cluster's Admin API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise DependencyUnavailable("kong admin api", type(error).__name__) from error
        if response.status_code >= 500:
            raise DependencyUnavailable(
                "kong admin api", f"{method} {path}: HTTP {response.status_code}"
            )
        if response.status_code == 404 and method == "DELETE":
            return response  # already gone: what we wanted
        if response.status_code >= 400:
            raise KongAdminError(
                f"{method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response

    async def _pages(self, path: str) -> list[Entity]:
        found: list[Entity] = []
        params: dict[str, str | int] = {"size": PAGE_SIZE}
        while True:
            body = (await self._call("GET", path, params=params)).json()
            found.extend(body.get("data", []))
            offset = body.get("offset")
            if not offset:
                return found
            params = {"size": PAGE_SIZE, "offset": offset}

    async def consumers(self) -> list[Entity]:
        return await self._pages("/consumers")

    async def put_consumer(self, username: str) -> Entity:
        path = f"/consumers/{_part(username)}"
        result: Entity = (await self._call("PUT", path, json={"username": username})).json()
        return result

    async def delete_consumer(self, username: str) -> None:
        """Deletes its credentials and ACL groups with it (Kong cascades)."""
        await self._call("DELETE", f"/consumers/{_part(username)}")

    async def key_auths(self, username: str) -> list[Entity]:
        return await self._pages(f"/consumers/{_part(username)}/key-auth")

    async def add_key(self, username: str, key: str, *, ttl: int | None = None) -> None:
        body: dict[str, Any] = {"key": key}
        if ttl is not None:
            body["ttl"] = ttl
        await self._call("POST", f"/consumers/{_part(username)}/key-auth", json=body)

    async def delete_key(self, username: str, credential_id: str) -> None:
        await self._call("DELETE", f"/consumers/{_part(username)}/key-auth/{_part(credential_id)}")

    async def acls(self, username: str) -> list[Entity]:
        return await self._pages(f"/consumers/{_part(username)}/acls")

    async def put_acl(self, username: str, group: str) -> None:
        await self._call("PUT", f"/consumers/{_part(username)}/acls/{_part(group)}", json={})

    async def delete_acl(self, username: str, acl_id: str) -> None:
        await self._call("DELETE", f"/consumers/{_part(username)}/acls/{_part(acl_id)}")
