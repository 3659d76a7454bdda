"""The host API remote modules call back: durable storage at ``/api/modules/v1/storage``.

Every request the router sends to an HTTP, Lambda or OpenWhisk module carries a
:class:`HostAccess`: this API's URL and a bearer token signed with the installation secret
(itsdangerous, a purpose of its own, so neither a module's signing secret nor any other signed
value can stand in for it), naming the module and community and expiring shortly after the
call's time budget. The API serves that module's data in that community only, with the same
limits as in-process modules (a refusal is a 422 with the message the chat would show).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from waddlebot.kernel.contracts import (
    HostAccess,
    ModuleRequest,
    ModuleResponse,
    StorageCounter,
    StorageDeleted,
    StorageIncrement,
    StorageKeys,
    StorageValue,
    StorageWrite,
)
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.signed_state import InvalidState, StateSigner
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.module_store import DatabaseDataStore
from waddlebot.kernel.web import get_runtime
from waddlebot.sdk.storage import MAX_LISTED, ModuleStorage, StorageRefused

logger = get_logger(__name__)

PREFIX = "/api/modules/v1"
TOKEN_PREFIX = "wbh_"  # noqa: S105 - a marker, not a secret
GRACE = 30.0  # seconds a token outlives the call's budget (clock skew, slow start)
MAX_AGE = 3600  # no token is honoured longer than this, whatever it claims


class InvalidGrant(Exception):
    """The token is missing, forged, for another purpose, or expired."""


@dataclass(frozen=True, slots=True)
class Grant:
    module: str
    community_id: str


class HostGrants:
    """Issues and checks host tokens (stateless: derived from the secret key)."""

    def __init__(self, secret_key: str, url: str) -> None:
        self._signer = StateSigner(secret_key, "module-host")
        self.url = url

    @classmethod
    def from_settings(cls, settings: Settings) -> HostGrants:
        base = (settings.module_host_url or settings.public_url).rstrip("/")
        return cls(settings.resolved_secret_key, f"{base}{PREFIX}")

    def issue(self, module: str, community_id: str, *, ttl: float) -> HostAccess:
        expires = time.time() + ttl
        token = self._signer.sign({"m": module, "c": community_id, "exp": expires})
        return HostAccess(
            url=self.url,
            token=f"{TOKEN_PREFIX}{token}",
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def verify(self, token: str, *, now: float | None = None) -> Grant:
        if not token.startswith(TOKEN_PREFIX):
            raise InvalidGrant("not a module host token")
        try:
            payload = self._signer.verify(token[len(TOKEN_PREFIX) :], max_age=MAX_AGE)
        except InvalidState as error:
            raise InvalidGrant(str(error)) from None
        module, community, expires = payload.get("m"), payload.get("c"), payload.get("exp")
        if not isinstance(module, str) or not isinstance(community, str):
            raise InvalidGrant("unexpected payload")
        if not isinstance(expires, int | float) or expires <= (time.time() if now is None else now):
            raise InvalidGrant("expired")
        return Grant(module=module, community_id=community)


class GrantingExecutor:
    """Wraps a remote executor: each request gets host access for its module and community."""

    def __init__(self, inner: Any, grants: HostGrants) -> None:
        self.name: str = inner.name
        self.inner = inner
        self.grants = grants

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        access = self.grants.issue(self.name, request.community_id, ttl=timeout + GRACE)
        response: ModuleResponse = await self.inner.execute(
            request.model_copy(update={"host": access}), timeout
        )
        return response

    async def aclose(self) -> None:
        closer = getattr(self.inner, "aclose", None)
        if closer is not None:
            await closer()


async def module_grant(request: Request) -> Grant:
    """The bearer host token's module and community; 401 when it is missing or invalid."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a module host token is required (Authorization: Bearer wbh_…)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return HostGrants.from_settings(get_runtime(request).settings).verify(token.strip())
    except InvalidGrant as error:
        log_event(logger, Category.AUTH, request.url.path, "denied", reason=str(error))
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"invalid module host token: {error}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


GrantDep = Annotated[Grant, Depends(module_grant)]


def _storage(request: Request, grant: Grant, user: str | None) -> ModuleStorage:
    runtime = get_runtime(request)
    store = ModuleStorage(
        DatabaseDataStore(runtime.db, runtime.backend.kv), grant.module, grant.community_id
    )
    return store.for_user(user) if user is not None else store


def _refused(error: StorageRefused) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.message)


def host_api() -> APIRouter:
    api = APIRouter(prefix=f"{PREFIX}/storage", tags=["module host"])
    refusal: dict[int | str, dict[str, Any]] = {
        422: {"description": "over a storage limit"},
        401: {"description": "missing, forged or expired host token"},
    }

    @api.get("/values", response_model=StorageValue, responses=refusal)
    async def get_value(
        request: Request, grant: GrantDep, key: str, user: str | None = None
    ) -> StorageValue:
        try:
            raw = await _storage(request, grant, user).get(key, _MISSING)
        except StorageRefused as error:
            raise _refused(error) from None
        if raw is _MISSING:
            return StorageValue(found=False)
        return StorageValue(found=True, value=raw)

    @api.put("/values", status_code=status.HTTP_204_NO_CONTENT, responses=refusal)
    async def put_value(request: Request, grant: GrantDep, body: StorageWrite) -> Response:
        try:
            await _storage(request, grant, body.user).set(body.key, body.value, ttl=body.ttl)
        except StorageRefused as error:
            raise _refused(error) from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.delete("/values", response_model=StorageDeleted, responses=refusal)
    async def delete_value(
        request: Request, grant: GrantDep, key: str, user: str | None = None
    ) -> StorageDeleted:
        try:
            return StorageDeleted(deleted=await _storage(request, grant, user).delete(key))
        except StorageRefused as error:
            raise _refused(error) from None

    @api.post("/counters", response_model=StorageCounter, responses=refusal)
    async def increment(
        request: Request, grant: GrantDep, body: StorageIncrement
    ) -> StorageCounter:
        try:
            total = await _storage(request, grant, body.user).incr(body.key, body.amount)
        except StorageRefused as error:
            raise _refused(error) from None
        return StorageCounter(value=total)

    @api.get("/keys", response_model=StorageKeys, responses=refusal)
    async def list_keys(
        request: Request,
        grant: GrantDep,
        prefix: str = "",
        user: str | None = None,
        limit: Annotated[int, Query(ge=0, le=MAX_LISTED)] = 1000,
    ) -> StorageKeys:
        try:
            keys = await _storage(request, grant, user).keys(prefix, limit=limit)
        except StorageRefused as error:
            raise _refused(error) from None
        return StorageKeys(keys=keys)

    return api


_MISSING: Any = object()
