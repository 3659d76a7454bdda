"""``/api/auth/v1``: password and OAuth login, logout, who-am-I, password change, own API keys.

Only ``/login`` and the OAuth start/callback are open; everything else needs a login session
or an API key that a user owns.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from waddlebot.accounts.manager import user_by_email, user_for_login
from waddlebot.accounts.oauth import PROVIDERS, Provider, ProviderError, provider
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import (
    ADMIN_SCOPE,
    COMMUNITY_SCOPES,
    SCOPES,
    ApiKeyLimitReached,
    Principal,
    create_api_key,
    key_info,
    list_api_keys,
    revoke_api_key,
)
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.security.key_copies import announce_keys_changed, gateway_box
from waddlebot.kernel.security.passwords import (
    WeakPassword,
    hash_password,
    needs_rehash,
    verify_password,
)
from waddlebot.kernel.security.sessions import COOKIE_NAME, SessionStore, cookie_secure
from waddlebot.kernel.security.signed_state import InvalidState, StateSigner
from waddlebot.kernel.service import Service
from waddlebot.kernel.storage.models import ApiKey, PlatformIdentity, User
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)

PREFIX = "/api/auth/v1"
ACCOUNT_SCOPE = "account"
OAUTH_COOKIE = "waddlebot_oauth"
OAUTH_COOKIE_PATH = f"{PREFIX}/oauth"
LOGIN_FAILED = "wrong e-mail or password"  # one message for both, so e-mails are not probed
SCOPE_PATTERN = r"^[a-z][a-z0-9_.:-]{0,63}$"


async def require_user(request: Request) -> Principal:
    """A caller that is a person or service account: a session, or a key a user owns."""
    principal = await require_scope(ACCOUNT_SCOPE)(request)
    if principal.user_id is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "this endpoint is about your own account; this key has none"
        )
    return principal


Caller = Annotated[Principal, Depends(require_user)]


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class LinkedOut(BaseModel):
    platform: str
    platform_user_id: str
    username: str


class MeOut(BaseModel):
    id: str
    display_name: str
    email: str | None
    superuser: bool
    kind: str
    accounts: list[LinkedOut]


class LoginOut(BaseModel):
    user: MeOut


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] = Field(min_length=1, max_length=32)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class KeyOut(BaseModel):
    """A key's metadata, read straight off :class:`ApiKeyInfo`."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool


class NewKeyOut(KeyOut):
    key: str  # shown once


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sessions_of(runtime: Runtime) -> SessionStore:
    return SessionStore(runtime.backend.kv, ttl=runtime.settings.login_session_ttl)


def set_session_cookie(response: Response, runtime: Runtime, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=runtime.settings.login_session_ttl,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(runtime.settings.public_url),
        path="/",
    )


def _state_signer(runtime: Runtime) -> StateSigner:
    return StateSigner(runtime.settings.resolved_secret_key, "oauth-login")


async def account_view(runtime: Runtime, user: User) -> MeOut:
    async with runtime.db.read_session() as session:
        rows = (
            await session.scalars(
                select(PlatformIdentity)
                .where(PlatformIdentity.user_id == user.id)
                .order_by(PlatformIdentity.platform, PlatformIdentity.username)
            )
        ).all()
    return MeOut(
        id=user.id,
        display_name=user.display_name,
        email=user.email,
        superuser=user.is_superuser,
        kind=user.kind,
        accounts=[
            LinkedOut(platform=r.platform, platform_user_id=r.platform_user_id, username=r.username)
            for r in rows
        ],
    )


async def _rate_limit(runtime: Runtime, key: str, limit: int) -> None:
    decision = await runtime.backend.kv.hit_rate_limit(
        key, limit=limit, window=runtime.settings.login_window
    )
    if not decision.allowed:
        retry = max(1, math.ceil(decision.retry_after))
        log_event(logger, Category.AUTH, "login", "limited", limit=key.partition(":")[2][:20])
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many login attempts; try again in {retry} seconds",
            headers={"Retry-After": str(retry)},
        )


async def _load_user(runtime: Runtime, user_id: str) -> User:
    async with runtime.db.read_session() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this account no longer exists")
    return user


async def password_login(runtime: Runtime, email: str, password: str, ip: str) -> tuple[User, str]:
    """Check an e-mail and password (rate-limited per IP and per e-mail) and open a session.

    Returns the user and the session token for the cookie; raises 429 (limited) or 401 (one
    message for a wrong e-mail or password). Shared by the auth API and the portal's form.
    """
    await _rate_limit(runtime, f"login:ip:{ip}", runtime.settings.login_attempts_per_ip)
    email_key = _sha(email.strip().lower())
    await _rate_limit(
        runtime, f"login:email:{email_key}", runtime.settings.login_attempts_per_email
    )
    # From the primary: a password changed or an account created or disabled a moment ago
    # counts now, not once a replica has it.
    user = await user_by_email(runtime.db, email, fresh=True)
    usable = user is not None and user.is_active and user.kind == "person"
    stored = user.password_hash if user is not None and usable else None
    matches = verify_password(stored, password)  # hashes even for unknown e-mails
    if user is None or not matches:
        log_event(
            logger, Category.AUTH, "login", "denied", method="password", ip=ip, email=email_key
        )
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, LOGIN_FAILED)
    if stored is not None and needs_rehash(stored):
        async with runtime.db.session() as session:
            row = await session.get(User, user.id)
            if row is not None:
                row.password_hash = hash_password(password)
    token = await sessions_of(runtime).create(user.id, method="password")
    log_event(logger, Category.AUTH, "login", "ok", user=user.id, method="password", ip=ip)
    return user, token


async def create_own_key(
    runtime: Runtime,
    caller: Principal,
    name: str,
    requested: list[str],
    expires_in_days: int | None = None,
) -> tuple[str, ApiKey]:
    """A key ``caller`` owns, never wider than what they may hold; the plaintext is returned
    once. Raises 403/409/422 (HTTPException) with a message. Shared by the API and the portal.
    """
    assert caller.user_id is not None
    scopes = sorted(set(requested))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:  # as `waddlebot admin create-api-key`: a typo never becomes a dead key
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown scope {', '.join(unknown)}; valid scopes: {', '.join(sorted(SCOPES))}",
        )
    if not caller.superuser:
        if ADMIN_SCOPE in scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "only superusers can create keys with 'admin'"
            )
        owner = await _load_user(runtime, caller.user_id)
        unknown = [s for s in scopes if s not in COMMUNITY_SCOPES]
        if owner.kind == "person" and unknown:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"scopes {', '.join(unknown)} are not available to people; "
                f"choose from {', '.join(sorted(COMMUNITY_SCOPES))}",
            )
    if caller.kind != "session" and not caller.installation_wide:
        wider = [s for s in scopes if s not in caller.scopes]
        if wider:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a key cannot create a key with more scopes than its own ({', '.join(wider)})",
            )
    expires = timedelta(days=expires_in_days) if expires_in_days else None
    try:
        key, row = await create_api_key(
            runtime.db,
            name=name.strip() or "key",
            scopes=scopes,
            expires_in=expires,
            user_id=caller.user_id,
            limit=runtime.settings.api_keys_per_user,
            gateway_copy=gateway_box(runtime.settings),
        )
    except ApiKeyLimitReached as limit:
        raise HTTPException(status.HTTP_409_CONFLICT, str(limit)) from None
    log_event(logger, Category.AUDIT, "api_key_created", "ok", user=caller.user_id, key_id=row.id)
    await announce_keys_changed(runtime.settings, runtime.backend)
    return key, row


def accounts_api() -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["accounts"])

    @api.post("/login", response_model=LoginOut)
    async def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        runtime = get_runtime(request)
        user, token = await password_login(runtime, body.email, body.password, client_ip(request))
        set_session_cookie(response, runtime, token)
        return LoginOut(user=await account_view(runtime, user))

    @api.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    async def logout(request: Request, caller: Caller) -> Response:
        runtime = get_runtime(request)
        token = request.cookies.get(COOKIE_NAME)
        if token:
            await sessions_of(runtime).revoke(token)
        log_event(logger, Category.AUTH, "logout", "ok", user=caller.user_id)
        answer = Response(status_code=status.HTTP_204_NO_CONTENT)
        answer.delete_cookie(COOKIE_NAME, path="/")
        return answer

    @api.get("/me", response_model=MeOut)
    async def me(request: Request, caller: Caller) -> MeOut:
        runtime = get_runtime(request)
        assert caller.user_id is not None
        return await account_view(runtime, await _load_user(runtime, caller.user_id))

    @api.post("/password", status_code=status.HTTP_204_NO_CONTENT)
    async def change_password(body: PasswordIn, request: Request, caller: Caller) -> Response:
        runtime = get_runtime(request)
        assert caller.user_id is not None
        await _rate_limit(
            runtime, f"password:user:{caller.user_id}", runtime.settings.login_attempts_per_email
        )
        user = await _load_user(runtime, caller.user_id)
        if not verify_password(user.password_hash, body.current_password):
            log_event(logger, Category.AUTH, "password_change", "denied", user=user.id)
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong")
        try:
            new_hash = hash_password(body.new_password)
        except WeakPassword as weak:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(weak)) from None
        async with runtime.db.session() as session:
            row = await session.get(User, user.id)
            if row is not None:
                row.password_hash = new_hash
        sessions = sessions_of(runtime)
        await sessions.revoke_all(user.id)  # every other browser is logged out
        answer = Response(status_code=status.HTTP_204_NO_CONTENT)
        if caller.kind == "session":
            set_session_cookie(answer, runtime, await sessions.create(user.id, method="password"))
        log_event(logger, Category.AUTH, "password_change", "ok", user=user.id)
        return answer

    @api.get("/oauth/{provider_name}/start")
    async def oauth_start(provider_name: str, request: Request) -> RedirectResponse:
        runtime = get_runtime(request)
        chosen = _provider(runtime, provider_name)
        nonce = secrets.token_urlsafe(24)
        state = _state_signer(runtime).sign({"p": chosen.name, "b": _sha(nonce)})
        redirect = RedirectResponse(
            chosen.authorize(redirect_uri=_redirect_uri(runtime, chosen.name), state=state),
            status_code=status.HTTP_302_FOUND,
        )
        redirect.set_cookie(
            OAUTH_COOKIE,
            nonce,
            max_age=runtime.settings.oauth_state_max_age,
            httponly=True,
            samesite="lax",
            secure=cookie_secure(runtime.settings.public_url),
            path=OAUTH_COOKIE_PATH,
        )
        return redirect

    @api.get("/oauth/{provider_name}/callback")
    async def oauth_callback(
        provider_name: str,
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
    ) -> RedirectResponse:
        runtime = get_runtime(request)
        chosen = _provider(runtime, provider_name)
        ip = client_ip(request)

        def refuse(reason: str, code_: int = status.HTTP_400_BAD_REQUEST) -> HTTPException:
            log_event(
                logger, Category.AUTH, "login", "denied", method=chosen.name, ip=ip, reason=reason
            )
            return HTTPException(code_, reason)

        if error:
            raise refuse(f"{chosen.name} did not authorise the login ({error[:100]})")
        if not state or not code:
            raise refuse("the login callback needs both code and state; start the login again")
        max_age = runtime.settings.oauth_state_max_age
        try:
            payload = _state_signer(runtime).verify(state[:2048], max_age=max_age)
        except InvalidState as invalid:
            raise refuse(f"the login state is invalid ({invalid}); start the login again") from None
        if payload.get("p") != chosen.name:
            raise refuse("the login state was issued for another provider; start again")
        nonce = request.cookies.get(OAUTH_COOKIE, "")
        if not nonce or not hmac.compare_digest(_sha(nonce), str(payload.get("b", ""))):
            raise refuse("the login state belongs to another browser; start the login again")
        fresh = await runtime.backend.kv.set(
            f"oauth-state-used:{_sha(state)}", "1", ttl=max_age, only_if_absent=True
        )
        if not fresh:
            raise refuse("this login state was already used; start the login again")
        async with httpx.AsyncClient(timeout=10.0) as client:
            try:
                account = await chosen.account(
                    client, code=code[:2048], redirect_uri=_redirect_uri(runtime, chosen.name)
                )
            except ProviderError as failure:
                raise refuse(
                    f"login with {chosen.name} failed: {failure}", status.HTTP_502_BAD_GATEWAY
                ) from None
        user = await user_for_login(runtime.db, account)
        if not user.is_active or user.kind != "person":
            raise refuse("this account is disabled", status.HTTP_403_FORBIDDEN)
        token = await sessions_of(runtime).create(user.id, method=chosen.name)
        home = "/portal" if "portal" in runtime.local_services else "/"
        redirect = RedirectResponse(home, status_code=status.HTTP_302_FOUND)
        set_session_cookie(redirect, runtime, token)
        redirect.delete_cookie(OAUTH_COOKIE, path=OAUTH_COOKIE_PATH)
        log_event(logger, Category.AUTH, "login", "ok", user=user.id, method=chosen.name, ip=ip)
        return redirect

    @api.get("/keys", response_model=list[KeyOut])
    async def list_keys(request: Request, caller: Caller) -> list[KeyOut]:
        runtime = get_runtime(request)
        keys = await list_api_keys(runtime.db, caller.user_id)
        return [KeyOut.model_validate(info) for info in keys]

    @api.post("/keys", response_model=NewKeyOut, status_code=status.HTTP_201_CREATED)
    async def create_key(body: KeyIn, request: Request, caller: Caller) -> NewKeyOut:
        runtime = get_runtime(request)
        key, row = await create_own_key(
            runtime, caller, body.name, body.scopes, body.expires_in_days
        )
        return NewKeyOut(key=key, **KeyOut.model_validate(key_info(row)).model_dump())

    @api.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_key(key_id: str, request: Request, caller: Caller) -> Response:
        runtime = get_runtime(request)
        if not await revoke_api_key(runtime.db, key_id, owner_id=caller.user_id, keys=runtime.keys):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "you have no live key with this id")
        await announce_keys_changed(runtime.settings, runtime.backend)
        log_event(
            logger, Category.AUDIT, "api_key_revoked", "ok", user=caller.user_id, key_id=key_id
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return api


def _provider(runtime: Runtime, name: str) -> Provider:
    if name not in PROVIDERS:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"unknown login provider {name[:40]!r}; choose from {', '.join(PROVIDERS)}",
        )
    chosen = provider(runtime.settings, name)
    if chosen is None:
        variable = f"WADDLEBOT_OAUTH_{name.upper()}_CLIENT_ID and _CLIENT_SECRET"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"login with {name} is not configured (set {variable})"
        )
    return chosen


def _redirect_uri(runtime: Runtime, provider_name: str) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}{PREFIX}/oauth/{provider_name}/callback"


class AccountsService(Service):
    """Login, sessions and self-service API keys for people and service accounts."""

    name = "accounts"

    def api(self) -> APIRouter:
        return accounts_api()
