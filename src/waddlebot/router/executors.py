"""Executors run a module for the router, chosen by the module's runtime.

- :class:`InProcessExecutor`: an SDK module in this process (``builtin``);
- :class:`HttpExecutor`: POST the signed :class:`ModuleRequest` to the module's URL (``http``);
- :class:`LambdaExecutor`: AWS Lambda ``Invoke`` (RequestResponse), no automatic retries;
- :class:`OpenWhiskExecutor`: OpenWhisk REST invoke, ``blocking=true&result=true``; a 202
  (still running) is followed by polling the activation within the same time budget.

Each is wrapped in a :class:`GuardedExecutor`: per-call timeout, bounded concurrency, a circuit
breaker per module and metrics. Every failure surfaces as an exception the pipeline turns into
a friendly reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, Protocol

import httpx
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from waddlebot.kernel.backends import KeyValue, PubSub
from waddlebot.kernel.backends.announce import commands_changed
from waddlebot.kernel.contracts import CommandInfo, Manifest, ModuleRequest, ModuleResponse, Role
from waddlebot.kernel.http_clients import http_client
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import REGISTRY
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.module_store import DatabaseDataStore
from waddlebot.router.host_api import GrantingExecutor, HostGrants
from waddlebot.router.registry import CommandTable, claim_triggers, installed_config
from waddlebot.sdk import Module, ModuleStorage, signing
from waddlebot.sdk.aliases import AliasOperations
from waddlebot.sdk.community import CommunityOperations
from waddlebot.sdk.custom_commands import CustomCommandOperations
from waddlebot.sdk.database import ModuleDatabase
from waddlebot.sdk.identity import IdentityOperations
from waddlebot.sdk.labels import LabelOperations
from waddlebot.sdk.members import MemberOperations
from waddlebot.sdk.scheduling import SchedulerOperations
from waddlebot.sdk.secrets import SecretOperations
from waddlebot.sdk.timers import TimerOperations
from waddlebot.sdk.triggers import TriggerClaim
from waddlebot.sdk.twitch import TwitchOperations

logger = get_logger(__name__)

MODULE_CALLS = Counter(
    "waddlebot_module_calls_total",
    "Module calls by module, runtime and result",
    ["module", "runtime", "result"],
    registry=REGISTRY,
)
MODULE_IN_FLIGHT = Gauge(
    "waddlebot_module_in_flight", "Module calls running now", ["module"], registry=REGISTRY
)
MODULE_CIRCUIT = Gauge(
    "waddlebot_module_circuit_state",
    "Circuit breaker per module: 0 closed, 1 half-open, 2 open",
    ["module"],
    registry=REGISTRY,
)


class ModuleTimeout(Exception):
    """The module did not answer within its time budget."""


class ModuleFailure(Exception):
    """The module answered, but with an error or something that is not a ModuleResponse."""


class CircuitOpen(Exception):
    """The module failed repeatedly; calls are refused until it has had time to recover."""


class Executor(Protocol):
    name: str

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse: ...


class RouterHost:
    """What the router offers modules it hosts: the live command table and storage."""

    def __init__(
        self,
        table: CommandTable,
        db: Database,
        pubsub: PubSub,
        kv: KeyValue | None = None,
        *,
        identity: IdentityOperations | None = None,
        members: MemberOperations | None = None,
        labels: LabelOperations | None = None,
        aliases: AliasOperations | None = None,
        timers: TimerOperations | None = None,
        scheduler: SchedulerOperations | None = None,
        custom_commands: CustomCommandOperations | None = None,
        community: CommunityOperations | None = None,
        twitch: TwitchOperations | None = None,
        secrets: SecretOperations | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.table = table
        self.db = db
        self.pubsub = pubsub
        self.kv = kv
        self._identity = identity
        self._members = members
        self._labels = labels
        self._aliases = aliases
        self._timers = timers
        self._scheduler = scheduler
        self._custom_commands = custom_commands
        self._community = community
        self._twitch = twitch
        self._secrets = secrets
        self._settings = settings

    async def list_commands(self, community_id: str, role: Role) -> list[CommandInfo]:
        return self.table.available(community_id, role)

    async def reload_commands(self) -> int:
        await self.table.load(self.db)
        await commands_changed(self.kv, self.pubsub, "reload")
        return len(self.table)

    def storage(self, module: str, community_id: str) -> ModuleStorage:
        if self.kv is None:
            raise RuntimeError("this router host has no key-value store")
        return ModuleStorage(DatabaseDataStore(self.db, self.kv), module, community_id)

    def identity(self) -> IdentityOperations | None:
        return self._identity

    def members(self) -> MemberOperations | None:
        return self._members

    def labels(self) -> LabelOperations | None:
        return self._labels

    def aliases(self) -> AliasOperations | None:
        return self._aliases

    def timers(self) -> TimerOperations | None:
        return self._timers

    def scheduler(self) -> SchedulerOperations | None:
        return self._scheduler

    def custom_commands(self) -> CustomCommandOperations | None:
        return self._custom_commands

    def database(self) -> ModuleDatabase | None:
        return self.db

    def community(self) -> CommunityOperations | None:
        return self._community

    def twitch(self) -> TwitchOperations | None:
        return self._twitch

    def secrets(self) -> SecretOperations | None:
        return self._secrets

    def settings(self) -> Settings | None:
        return self._settings

    async def module_config(self, community_id: str, module: str) -> dict[str, Any]:
        return await installed_config(self.db, community_id, module)

    async def claim_triggers(
        self,
        community_id: str,
        module: str,
        wanted: Sequence[str],
        keep: Sequence[str],
        description: str,
    ) -> TriggerClaim:
        done = await claim_triggers(self.db, community_id, module, wanted, keep, description)
        if done.added or done.removed:
            await self.reload_commands()
        return done


class InProcessExecutor:
    """Calls an SDK module in this process, bounded by a timeout."""

    runtime = "builtin"
    bounds_whole_call = True  # its timeout covers the whole call: a guard need not add one

    def __init__(self, module: Module, host: RouterHost) -> None:
        self.name = module.name
        self.module = module
        self.host = host

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        try:
            # In the caller's task (no task per call, unlike wait_for); the module's handler
            # is ours to await, and a cancelled one ends at its next await like any coroutine.
            async with asyncio.timeout(timeout):
                return await self.module.handle(request, self.host)
        except TimeoutError:
            raise ModuleTimeout(f"{self.name} took longer than {timeout:g}s") from None


def _parse_response(name: str, payload: bytes | str | dict[str, Any]) -> ModuleResponse:
    try:
        if isinstance(payload, dict):
            return ModuleResponse.model_validate(payload)
        return ModuleResponse.model_validate_json(payload)
    except ValidationError as error:
        raise ModuleFailure(
            f"{name} answered something that is not a ModuleResponse "
            f"({error.error_count()} problem(s))"
        ) from None


class HttpExecutor:
    """POSTs the request to the module's URL, signed with the module's HMAC secret."""

    runtime = "http"

    def __init__(self, name: str, endpoint: str, secret: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self.endpoint = endpoint
        self.secret = secret
        self.client = client

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        body = request.model_dump_json().encode()
        headers = {
            "content-type": "application/json",
            signing.HEADER: signing.sign(self.secret, body),
        }
        try:
            answer = await self.client.post(
                self.endpoint, content=body, headers=headers, timeout=httpx.Timeout(timeout)
            )
        except httpx.TimeoutException:
            raise ModuleTimeout(f"{self.name} took longer than {timeout:g}s") from None
        except httpx.HTTPError as error:
            raise ModuleFailure(f"{self.name} is unreachable: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise ModuleFailure(f"{self.name} answered HTTP {answer.status_code}")
        return _parse_response(self.name, answer.content)


class LambdaClients:
    """One aiobotocore Lambda client per process: explicit timeouts, no automatic retries."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def client(self) -> Any:
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    connect_timeout=5,
                    read_timeout=max(self.settings.module_timeout, 300),
                    retries={"total_max_attempts": 1},  # never run a command twice
                )
                self._client = await self._stack.enter_async_context(
                    get_session().create_client(
                        "lambda",
                        region_name=self.settings.aws_region,
                        endpoint_url=self.settings.aws_endpoint_url,
                        config=config,
                    )
                )
            return self._client

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None


class LambdaExecutor:
    """AWS Lambda ``Invoke`` (RequestResponse); ``X-Amz-Function-Error`` is a failed call."""

    runtime = "lambda"

    def __init__(self, name: str, function: str, clients: LambdaClients) -> None:
        self.name = name
        # "name:qualifier" (version or alias); an ARN keeps its colons.
        self.function, self.qualifier = function, None
        if not function.startswith("arn:") and ":" in function:
            self.function, self.qualifier = function.rsplit(":", 1)
        self.clients = clients

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        client = await self.clients.client()
        extra = {"Qualifier": self.qualifier} if self.qualifier else {}
        try:
            async with asyncio.timeout(timeout):
                answer = await client.invoke(
                    FunctionName=self.function,
                    InvocationType="RequestResponse",
                    Payload=request.model_dump_json().encode(),
                    **extra,
                )
                payload = await answer["Payload"].read()
        except TimeoutError:
            raise ModuleTimeout(f"{self.name} took longer than {timeout:g}s") from None
        except ModuleFailure:
            raise
        except Exception as error:  # botocore ClientError, connection errors
            raise ModuleFailure(f"{self.name}: Lambda invoke failed: {error}") from None
        if answer.get("FunctionError"):
            raise ModuleFailure(f"{self.name}: function error: {_lambda_error(payload)}")
        return _parse_response(self.name, payload)


def _lambda_error(payload: bytes) -> str:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload[:200].decode(errors="replace")
    if isinstance(body, dict):
        return f"{body.get('errorType', 'Error')}: {body.get('errorMessage', '')}"
    return str(body)[:200]


class OpenWhiskExecutor:
    """OpenWhisk REST invoke with the namespace's API key; polls the activation after a 202."""

    runtime = "openwhisk"
    MAX_BLOCKING_MS = 60_000

    def __init__(
        self,
        name: str,
        action: str,
        *,
        api_host: str,
        auth: str,
        namespace: str,
        client: httpx.AsyncClient,
    ) -> None:
        self.name = name
        self.action = action.strip("/")
        self.base = f"{api_host.rstrip('/')}/api/v1/namespaces/{namespace}"
        user, _, key = auth.partition(":")
        self.auth = httpx.BasicAuth(user, key)
        self.client = client

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        deadline = time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._invoke(request, timeout, deadline)
        except (TimeoutError, httpx.TimeoutException):
            raise ModuleTimeout(f"{self.name} took longer than {timeout:g}s") from None
        except httpx.HTTPError as error:
            raise ModuleFailure(
                f"{self.name}: OpenWhisk unreachable: {type(error).__name__}"
            ) from None

    async def _invoke(
        self, request: ModuleRequest, timeout: float, deadline: float
    ) -> ModuleResponse:
        wait_ms = max(100, min(int(timeout * 1000), self.MAX_BLOCKING_MS))
        answer = await self.client.post(
            f"{self.base}/actions/{self.action}",
            params={"blocking": "true", "result": "true", "timeout": str(wait_ms)},
            json=request.model_dump(mode="json"),
            auth=self.auth,
            timeout=httpx.Timeout(timeout),
        )
        if answer.status_code == 200:
            return _parse_response(self.name, answer.content)
        if answer.status_code == 202:
            activation = answer.json().get("activationId") or answer.headers.get(
                "x-openwhisk-activation-id"
            )
            if not activation:
                raise ModuleFailure(f"{self.name}: OpenWhisk answered 202 without an activation id")
            return await self._poll(str(activation), deadline)
        raise ModuleFailure(f"{self.name}: {_whisk_error(answer)}")

    async def _poll(self, activation: str, deadline: float) -> ModuleResponse:
        delay = 0.05
        while True:
            left = deadline - time.monotonic()
            answer = await self.client.get(
                f"{self.base}/activations/{activation}",
                auth=self.auth,
                timeout=httpx.Timeout(max(left, 0.01)),
            )
            if answer.status_code == 200:
                record = answer.json()
                response = record.get("response") or {}
                result = response.get("result") or {}
                if not response.get("success", False):
                    error = result.get("error", response.get("status", "failed"))
                    raise ModuleFailure(f"{self.name}: action failed: {error}")
                return _parse_response(self.name, result)
            if answer.status_code != 404:  # 404: the activation is not recorded yet
                raise ModuleFailure(f"{self.name}: {_whisk_error(answer)}")
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.5)


def _whisk_error(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        body = None
    detail = body.get("error") if isinstance(body, dict) else None
    if answer.status_code == 502:
        return f"action error: {detail or 'unknown'}"
    return f"OpenWhisk answered HTTP {answer.status_code}" + (f": {detail}" if detail else "")


class CircuitBreaker:
    """Closed → (``failures`` in a row) → open → (``reset_after`` s) → half-open: one trial
    call; its success closes the circuit, its failure opens it again."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = failures
        self.reset_after = reset_after
        self.clock = clock
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self._trial = False
        MODULE_CIRCUIT.labels(name).set(0)

    def allow(self) -> bool:
        if self.state == "open" and self.clock() - self.opened_at >= self.reset_after:
            self._set("half-open")
        if self.state == "closed":
            return True
        if self.state == "half-open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self._trial = False
        if self.state != "closed":
            self._set("closed")

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self.state == "half-open" or self.failures >= self.threshold:
            self.opened_at = self.clock()
            if self.state != "open":
                self._set("open")

    def _set(self, state: str) -> None:
        self.state = state
        MODULE_CIRCUIT.labels(self.name).set({"closed": 0, "half-open": 1, "open": 2}[state])
        log_event(
            logger,
            Category.SYSTEM if state == "closed" else Category.ERROR,
            "circuit_breaker",
            state,
            level="info" if state == "closed" else "warning",
            module=self.name,
        )


class GuardedExecutor:
    """Timeout, bounded concurrency, circuit breaker and metrics around any executor."""

    def __init__(
        self,
        inner: Executor,
        *,
        runtime: str,
        max_concurrency: int,
        breaker: CircuitBreaker,
        timeout: float | None = None,
        signature: tuple[Any, ...] = (),
    ) -> None:
        self.name = inner.name
        self.inner = inner
        self.runtime = runtime
        self.breaker = breaker
        self.timeout = timeout
        self.signature = signature  # what it was built from; rebuilt when that changes
        self._slots = asyncio.Semaphore(max_concurrency)
        # The labelled metric children, looked up once instead of on every call.
        self._in_flight = MODULE_IN_FLIGHT.labels(self.name)
        self._calls: dict[str, Any] = {}

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        budget = self.timeout or timeout
        if not self.breaker.allow():
            self._counted("circuit_open")
            raise CircuitOpen(f"{self.name} is failing; calls are paused")
        result = "error"
        self._in_flight.inc()
        try:
            try:
                if self._slots.locked() or not getattr(self.inner, "bounds_whole_call", False):
                    # the wait for a slot, and a remote call whose own timeouts are per phase
                    async with asyncio.timeout(budget):
                        async with self._slots:
                            response = await self.inner.execute(request, budget)
                else:  # a slot is free and the executor bounds the call itself
                    async with self._slots:
                        response = await self.inner.execute(request, budget)
            except TimeoutError:
                result = "timeout"
                raise ModuleTimeout(f"{self.name} took longer than {budget:g}s") from None
            except ModuleTimeout:
                result = "timeout"
                raise
            result = "error" if response.error else "ok"
            return response
        finally:
            self._in_flight.dec()
            self._counted(result)
            if result == "ok":
                self.breaker.success()
            else:
                self.breaker.failure()

    def _counted(self, result: str) -> None:
        counter = self._calls.get(result)
        if counter is None:
            counter = self._calls[result] = MODULE_CALLS.labels(self.name, self.runtime, result)
        counter.inc()

    async def aclose(self) -> None:
        closer = getattr(self.inner, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


class ExecutorFactory:
    """Builds the guarded executor for a module from its manifest and the settings."""

    def __init__(self, settings: Settings, host: RouterHost) -> None:
        self.settings = settings
        self.host = host
        self.http = http_client(follow_redirects=False)  # every remote module call
        self.lambdas = LambdaClients(settings)
        self.grants = HostGrants.from_settings(settings)

    def guard(
        self, inner: Executor, runtime: str, timeout: float | None, signature: tuple[Any, ...]
    ) -> GuardedExecutor:
        return GuardedExecutor(
            inner,
            runtime=runtime,
            max_concurrency=self.settings.module_max_concurrency,
            breaker=CircuitBreaker(
                inner.name,
                failures=self.settings.module_breaker_failures,
                reset_after=self.settings.module_breaker_reset,
            ),
            timeout=timeout,
            signature=signature,
        )

    def builtin(self, module: Module) -> GuardedExecutor:
        return self.guard(InProcessExecutor(module, self.host), "builtin", None, ("builtin",))

    @staticmethod
    def signature(manifest: Manifest) -> tuple[Any, ...]:
        return (manifest.runtime, manifest.endpoint, manifest.timeout)

    def remote(self, manifest: Manifest) -> GuardedExecutor:
        endpoint = manifest.endpoint or ""
        inner: Executor
        if manifest.runtime == "http":
            secret = signing.module_secret(self.settings.resolved_secret_key, manifest.name)
            inner = HttpExecutor(manifest.name, endpoint, secret, self.http)
        elif manifest.runtime == "lambda":
            inner = LambdaExecutor(manifest.name, endpoint, self.lambdas)
        elif manifest.runtime == "openwhisk":
            if not self.settings.openwhisk_api_host or not self.settings.openwhisk_auth:
                raise ValueError(
                    "OpenWhisk modules need WADDLEBOT_OPENWHISK_API_HOST and "
                    "WADDLEBOT_OPENWHISK_AUTH"
                )
            inner = OpenWhiskExecutor(
                manifest.name,
                endpoint,
                api_host=self.settings.openwhisk_api_host,
                auth=self.settings.openwhisk_auth,
                namespace=self.settings.openwhisk_namespace,
                client=self.http,
            )
        else:
            raise ValueError(
                f"{manifest.name}: runtime {manifest.runtime!r} has no remote executor"
            )
        granting = GrantingExecutor(inner, self.grants)  # host API access for its storage
        return self.guard(granting, manifest.runtime, manifest.timeout, self.signature(manifest))

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.lambdas.aclose()
