"""Run a module as an AWS Lambda function: ``handler = lambda_handler(module)``.

The event is the :class:`ModuleRequest` JSON the router sends with ``Invoke``
(RequestResponse); the return value is the :class:`ModuleResponse`. An exception escapes, so
Lambda reports it with ``X-Amz-Function-Error`` and the router counts a failed execution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waddlebot.kernel.contracts import ModuleRequest
from waddlebot.sdk.adapters._sync import run_sync
from waddlebot.sdk.module import Module
from waddlebot.sdk.remote import RemoteHost


def lambda_handler(
    module: Module, *, host: RemoteHost | None = None
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    runtime_host = host or RemoteHost()

    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        request = ModuleRequest.model_validate(event)
        response = run_sync(runtime_host.run(module, request))
        return response.model_dump(mode="json")

    return handler
