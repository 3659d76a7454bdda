"""Serve a module over HTTP: ``waddlebot module serve mymodule:module``.

``POST /`` takes a signed :class:`ModuleRequest` and answers a :class:`ModuleResponse`. The
signature (see :mod:`waddlebot.sdk.signing`) is checked over the raw body before anything is
parsed: a missing, wrong or stale one is answered 401. ``GET /healthz`` and ``GET /manifest``
are open.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from waddlebot.kernel.contracts import ModuleRequest, ModuleResponse
from waddlebot.sdk import signing
from waddlebot.sdk.module import Module
from waddlebot.sdk.remote import RemoteHost

logger = logging.getLogger("waddlebot.sdk.http")
MAX_BODY = 1_000_000


def http_app(module: Module, secret: str, *, host: RemoteHost | None = None) -> Starlette:
    """An ASGI app serving ``module``; ``secret`` is the signing secret the marketplace gave."""
    if not secret:
        raise ValueError("a signing secret is required (WADDLEBOT_MODULE_SECRET)")
    runtime_host = host or RemoteHost()

    async def invoke(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, status_code=413)
        if not signing.verify(secret, body, request.headers.get(signing.HEADER)):
            logger.warning("refused a request with a missing, invalid or stale signature")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            module_request = ModuleRequest.model_validate_json(body)
        except ValidationError as error:
            return JSONResponse(
                {"error": "invalid request", "detail": error.errors(include_url=False)},
                status_code=422,
            )
        try:
            response = await runtime_host.run(module, module_request)
        except Exception as error:
            logger.exception("module %s failed", module.name)
            response = ModuleResponse(error=f"{type(error).__name__}: {error}")
        return JSONResponse(response.model_dump(mode="json"))

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "module": module.name, "version": module.version})

    async def manifest(request: Request) -> JSONResponse:
        endpoint = str(request.base_url).rstrip("/") + "/"
        described = module.manifest(runtime="http", endpoint=endpoint)
        return JSONResponse(described.model_dump(mode="json"))

    return Starlette(
        routes=[
            Route("/", invoke, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/manifest", manifest, methods=["GET"]),
        ]
    )
