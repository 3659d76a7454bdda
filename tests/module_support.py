"""Helpers for module tests: serve an ASGI app on loopback, and fakes of the third-party
serverless platforms at their HTTP boundary (OpenWhisk REST, AWS Lambda Invoke)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from waddlebot.kernel.contracts import Event, ModuleRequest, Platform, UserRef


def module_request(
    command: str | None = "ping", *args: str, community: str = "c1"
) -> ModuleRequest:
    event = Event(
        platform=Platform.playground,
        server_id="s",
        channel_id="ch",
        user=UserRef(id="u1", name="alice"),
        text=f"!{command} {' '.join(args)}".strip() if command else "",
    )
    return ModuleRequest(
        session_id="sess",
        community_id=community,
        entity_id="e1",
        platform=Platform.playground,
        user=event.user,
        command=command,
        prefix="!" if command else None,
        args=list(args),
        raw_text=event.text,
        event=event,
    )


Action = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class FakeOpenWhisk:
    """OpenWhisk's documented REST paths: blocking invoke with ``result=true`` (200 with the
    result, 502 ``{"error": …}`` on an application error), 202 + activation id for actions that
    outlast the blocking window, and ``GET …/activations/{id}`` (404 until recorded)."""

    auth: tuple[str, str] = ("23bc46b1-71f6-4ed5-8c54-816aa4f8c502", "secret-key")
    actions: dict[str, Action] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # answer 202, then polls see 404 twice
    hang: set[str] = field(default_factory=set)  # never finishes
    calls: list[dict[str, Any]] = field(default_factory=list)
    _activations: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def _authorised(self, request: Request) -> bool:
        import base64

        expected = base64.b64encode(":".join(self.auth).encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def _run(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.actions[name], params)

    async def invoke(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error": "The supplied authentication is invalid"}, 401)
        name = request.path_params["action"]
        self.calls.append({"action": name, "query": dict(request.query_params)})
        if name not in self.actions:
            return JSONResponse({"error": "The requested resource does not exist."}, 404)
        activation = uuid.uuid4().hex
        headers = {"x-openwhisk-activation-id": activation}
        params = await request.json()
        if name in self.hang:
            await asyncio.sleep(1.5)
        if name in self.slow:
            result = await self._run(name, params)
            self._activations[activation] = (2, result)
            return JSONResponse({"activationId": activation}, 202, headers=headers)
        result = await self._run(name, params)
        if "error" in result:
            return JSONResponse({"error": result["error"]}, 502, headers=headers)
        return JSONResponse(result, 200, headers=headers)

    async def activation(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error": "The supplied authentication is invalid"}, 401)
        activation = request.path_params["activation"]
        if activation not in self._activations:
            return JSONResponse({"error": "The requested resource does not exist."}, 404)
        misses, result = self._activations[activation]
        if misses > 0:
            self._activations[activation] = (misses - 1, result)
            return JSONResponse({"error": "The requested resource does not exist."}, 404)
        success = "error" not in result
        return JSONResponse(
            {
                "activationId": activation,
                "name": "action",
                "namespace": "guest",
                "response": {
                    "status": "success" if success else "application error",
                    "success": success,
                    "result": result,
                },
                "logs": [],
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/api/v1/namespaces/{namespace}/actions/{action:path}",
                    self.invoke,
                    methods=["POST"],
                ),
                Route(
                    "/api/v1/namespaces/{namespace}/activations/{activation}",
                    self.activation,
                    methods=["GET"],
                ),
            ]
        )


@dataclass
class FakeLambda:
    """AWS Lambda's Invoke API (``POST /2015-03-31/functions/{name}/invocations``): refuses
    requests without a SigV4 ``Authorization`` header for the ``lambda`` service, answers 200
    with the payload, or 200 + ``X-Amz-Function-Error: Unhandled`` and the Python error shape."""

    functions: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = field(
        default_factory=dict
    )
    delay: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def invoke(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not (
            authorization.startswith("AWS4-HMAC-SHA256 Credential=")
            and "/lambda/aws4_request" in authorization
            and "Signature=" in authorization
            and request.headers.get("x-amz-date")
        ):
            return JSONResponse({"message": "Missing Authentication Token"}, 403)
        name = request.path_params["name"]
        self.calls.append(
            {
                "name": name,
                "invocation_type": request.headers.get("x-amz-invocation-type"),
                "qualifier": request.query_params.get("Qualifier"),
            }
        )
        function = self.functions.get(name)
        if function is None:
            return JSONResponse(
                {"Type": "User", "message": f"Function not found: {name}"},
                404,
                headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        event = await request.json()
        request_id = f"req-{next(self._ids)}"
        try:
            result = await asyncio.to_thread(function, event, None)
        except Exception as error:
            return JSONResponse(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "requestId": request_id,
                    "stackTrace": [],
                },
                200,
                headers={"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": request_id},
            )
        return JSONResponse(result, 200, headers={"X-Amz-Executed-Version": "$LATEST"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2015-03-31/functions/{name}/invocations", self.invoke, methods=["POST"])
            ]
        )
