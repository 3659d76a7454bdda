"""Run a module as an Apache OpenWhisk action: ``main = openwhisk_action(module)``.

OpenWhisk passes the invocation body as the action's parameters (plus ``__ow_*`` keys for web
actions, which are dropped) and returns the result JSON. A failure is returned as
``{"error": …}``, which OpenWhisk reports as an application error (HTTP 502).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from waddlebot.kernel.contracts import ModuleRequest
from waddlebot.sdk.adapters._sync import run_sync
from waddlebot.sdk.module import Module
from waddlebot.sdk.remote import RemoteHost


def openwhisk_action(
    module: Module, *, host: RemoteHost | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    runtime_host = host or RemoteHost()

    def main(params: dict[str, Any]) -> dict[str, Any]:
        payload = {key: value for key, value in params.items() if not key.startswith("__ow_")}
        try:
            request = ModuleRequest.model_validate(payload)
        except ValidationError as error:
            return {"error": f"invalid request: {error.error_count()} problem(s)"}
        try:
            response = run_sync(runtime_host.run(module, request))
        except Exception as error:
            return {"error": f"{type(error).__name__}: {error}"}
        result = response.model_dump(mode="json")
        if result.get("error") is None:
            result.pop("error", None)  # OpenWhisk fails any result that has an "error" field
        return result

    return main
