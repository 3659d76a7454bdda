"""Executors in isolation: circuit breaker, guard (timeout, concurrency, metrics), HTTP module
failures, OpenWhisk against a fake OpenWhisk REST server, Lambda through a real SigV4 client
against moto (server mode) and a fake Invoke API for function errors and timeouts."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.module_support import FakeLambda, FakeOpenWhisk, module_request
from tests.support import serve_asgi
from waddlebot.kernel.contracts import ChatAction, ModuleRequest, ModuleResponse
from waddlebot.kernel.observability.metrics import REGISTRY
from waddlebot.kernel.settings import Settings
from waddlebot.router.executors import (
    CircuitBreaker,
    CircuitOpen,
    GuardedExecutor,
    HttpExecutor,
    InProcessExecutor,
    LambdaClients,
    LambdaExecutor,
    ModuleFailure,
    ModuleTimeout,
    OpenWhiskExecutor,
)
from waddlebot.sdk import Context, Module
from waddlebot.sdk.adapters import lambda_handler, openwhisk_action

echo = Module("echoer")


@echo.command("echo")
async def echo_command(ctx: Context, *words: str) -> None:
    ctx.reply(" ".join(words) or "(nothing)")


@echo.command("crash")
async def crash(ctx: Context) -> None:
    raise ValueError("the module crashed")


@echo.command("dawdle")
async def dawdle(ctx: Context) -> None:
    await asyncio.sleep(5)
    ctx.reply("too late")


# --- circuit breaker and guard ----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_repeated_failures_and_half_opens_later() -> None:
    clock = Clock()
    breaker = CircuitBreaker("m", failures=3, reset_after=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    breaker.success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow() and breaker.state == "half-open"
    assert not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


class Scripted:
    """An executor whose answers the test scripts: a response, an exception or a delay."""

    def __init__(self, name: str = "scripted") -> None:
        self.name = name
        self.script: list[Any] = []
        self.running = 0
        self.peak = 0

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            step = self.script.pop(0) if self.script else ModuleResponse()
            if isinstance(step, float):
                await asyncio.sleep(step)
                return ModuleResponse()
            if isinstance(step, Exception):
                raise step
            assert isinstance(step, ModuleResponse)
            return step
        finally:
            self.running -= 1


def guarded(inner: Scripted, **kw: Any) -> GuardedExecutor:
    clock = kw.pop("clock", Clock())
    breaker = CircuitBreaker(inner.name, failures=kw.pop("failures", 2), clock=clock)
    return GuardedExecutor(
        inner, runtime="test", max_concurrency=kw.pop("concurrency", 4), breaker=breaker, **kw
    )


def calls(module: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "waddlebot_module_calls_total", {"module": module, "runtime": "test", "result": result}
    )
    return value or 0.0


async def test_an_in_process_module_is_answered_or_cut_off_at_its_timeout() -> None:
    executor = InProcessExecutor(echo, host=None)  # type: ignore[arg-type]  # no host service used
    answer = await executor.execute(module_request("echo", "hi"), timeout=1)
    assert [action.text for action in answer.actions] == ["hi"]  # type: ignore[union-attr]
    started = asyncio.get_running_loop().time()
    with pytest.raises(ModuleTimeout, match=r"echoer took longer than 0\.05s"):
        await executor.execute(module_request("dawdle"), timeout=0.05)
    assert asyncio.get_running_loop().time() - started < 1


async def test_a_guarded_in_process_module_is_cut_off_in_the_call_and_in_the_wait() -> None:
    """The guard adds no timeout of its own around a free slot (the executor bounds the
    call), but bounds the wait for a slot."""
    inner = InProcessExecutor(echo, host=None)  # type: ignore[arg-type]  # no host service used
    breaker = CircuitBreaker(inner.name, failures=100, clock=Clock())
    executor = GuardedExecutor(inner, runtime="test", max_concurrency=1, breaker=breaker)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ModuleTimeout, match=r"longer than 0\.05s"):
        await executor.execute(module_request("dawdle"), timeout=0.05)
    assert loop.time() - started < 1
    holding = asyncio.create_task(executor.execute(module_request("dawdle"), timeout=0.5))
    await asyncio.sleep(0.01)  # the only slot is taken
    started = loop.time()
    with pytest.raises(ModuleTimeout, match=r"longer than 0\.05s"):
        await executor.execute(module_request("echo", "late"), timeout=0.05)
    assert loop.time() - started < 0.4  # cut off while waiting, not after the holder
    with pytest.raises(ModuleTimeout):
        await holding
    answer = await executor.execute(module_request("echo", "hi"), timeout=1)
    assert [action.text for action in answer.actions] == ["hi"]  # type: ignore[union-attr]


async def test_guard_times_out_counts_and_opens_the_circuit() -> None:
    inner = Scripted("guard-timeout")
    executor = guarded(inner)
    inner.script = [5.0, ModuleFailure("bad answer")]
    with pytest.raises(ModuleTimeout, match=r"longer than 0\.05s"):
        await executor.execute(module_request(), timeout=0.05)
    with pytest.raises(ModuleFailure):
        await executor.execute(module_request(), timeout=1)
    with pytest.raises(CircuitOpen):
        await executor.execute(module_request(), timeout=1)
    assert calls("guard-timeout", "timeout") == 1
    assert calls("guard-timeout", "error") == 1
    assert calls("guard-timeout", "circuit_open") == 1
    state = REGISTRY.get_sample_value("waddlebot_module_circuit_state", {"module": "guard-timeout"})
    assert state == 2


async def test_guard_bounds_concurrency_and_uses_the_module_timeout() -> None:
    inner = Scripted("guard-slots")
    executor = guarded(inner, concurrency=2, timeout=2.0)
    inner.script = [0.1, 0.1, 0.1, 0.1, 0.1]
    await asyncio.gather(*(executor.execute(module_request(), timeout=0.01) for _ in range(5)))
    assert inner.peak == 2  # the manifest's 2 s budget won over the router's 0.01 s
    assert calls("guard-slots", "ok") == 5


async def test_errors_in_responses_count_as_failures() -> None:
    inner = Scripted("guard-errors")
    executor = guarded(inner, failures=2)
    inner.script = [ModuleResponse(error="x"), ModuleResponse(error="y")]
    assert (await executor.execute(module_request(), timeout=1)).error == "x"
    assert (await executor.execute(module_request(), timeout=1)).error == "y"
    assert executor.breaker.state == "open"


# --- HTTP modules that misbehave ----------------------------------------------------------


async def misbehaving(request: Request) -> Response:
    kind = (await request.json())["command"]
    if kind == "garbage":
        return JSONResponse({"actions": [{"type": "smoke-signal"}]})
    if kind == "notjson":
        return Response(b"<html>oops</html>", media_type="text/html")
    if kind == "crash":
        return Response(b"Internal Server Error", status_code=500)
    if kind == "slow":
        await asyncio.sleep(1.5)
    return JSONResponse({"actions": [{"type": "chat", "text": "fine"}]})


async def test_http_failures_are_clear() -> None:
    app = Starlette(routes=[Route("/", misbehaving, methods=["POST"])])
    async with serve_asgi(app) as url, httpx.AsyncClient() as client:
        executor = HttpExecutor("bad", f"{url}/", "secret", client)
        assert (await executor.execute(module_request("ok"), 2)).actions == [
            ChatAction(text="fine")
        ]
        with pytest.raises(ModuleFailure, match="not a ModuleResponse"):
            await executor.execute(module_request("garbage"), 2)
        with pytest.raises(ModuleFailure, match="not a ModuleResponse"):
            await executor.execute(module_request("notjson"), 2)
        with pytest.raises(ModuleFailure, match="answered HTTP 500"):
            await executor.execute(module_request("crash"), 2)
        with pytest.raises(ModuleTimeout):
            await executor.execute(module_request("slow"), 0.2)
        gone = HttpExecutor("gone", "http://127.0.0.1:9/", "secret", client)
        with pytest.raises(ModuleFailure, match="unreachable"):
            await gone.execute(module_request("ok"), 2)


# --- OpenWhisk ------------------------------------------------------------------------------


@pytest.fixture
async def whisk() -> AsyncIterator[tuple[FakeOpenWhisk, str]]:
    fake = FakeOpenWhisk()
    main = openwhisk_action(echo)
    fake.actions = {"bot/echo": main, "bot/slow": main, "bot/hang": main}
    fake.slow = {"bot/slow"}
    fake.hang = {"bot/hang"}
    async with serve_asgi(fake.app()) as url:
        yield fake, url


def whisk_executor(
    url: str, action: str, client: httpx.AsyncClient, **kw: Any
) -> OpenWhiskExecutor:
    return OpenWhiskExecutor(
        "echoer",
        action,
        api_host=url,
        auth=kw.pop("auth", "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:secret-key"),
        namespace="guest",
        client=client,
    )


async def test_openwhisk_blocking_result(whisk: tuple[FakeOpenWhisk, str]) -> None:
    fake, url = whisk
    async with httpx.AsyncClient() as client:
        response = await whisk_executor(url, "bot/echo", client).execute(
            module_request("echo", "hi", "there"), timeout=2
        )
    assert response.actions == [ChatAction(text="hi there")]
    assert fake.calls[0]["query"] == {"blocking": "true", "result": "true", "timeout": "2000"}


async def test_openwhisk_202_is_followed_by_polling(whisk: tuple[FakeOpenWhisk, str]) -> None:
    _, url = whisk
    async with httpx.AsyncClient() as client:
        response = await whisk_executor(url, "bot/slow", client).execute(
            module_request("echo", "later"), timeout=3
        )
    assert response.actions == [ChatAction(text="later")]


async def test_openwhisk_errors_and_timeouts(whisk: tuple[FakeOpenWhisk, str]) -> None:
    _, url = whisk
    async with httpx.AsyncClient() as client:
        with pytest.raises(ModuleFailure, match="action error: ValueError: the module crashed"):
            await whisk_executor(url, "bot/echo", client).execute(module_request("crash"), 2)
        with pytest.raises(ModuleFailure, match="action failed: ValueError"):
            await whisk_executor(url, "bot/slow", client).execute(module_request("crash"), 3)
        with pytest.raises(ModuleFailure, match="HTTP 401"):
            await whisk_executor(url, "bot/echo", client, auth="x:y").execute(
                module_request("echo"), 2
            )
        with pytest.raises(ModuleFailure, match="HTTP 404"):
            await whisk_executor(url, "bot/missing", client).execute(module_request("echo"), 2)
        with pytest.raises(ModuleTimeout):
            await whisk_executor(url, "bot/hang", client).execute(module_request("echo"), 0.3)


# --- Lambda ---------------------------------------------------------------------------------


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto in server mode on loopback, with its simple (no Docker) Lambda backend."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    httpx.post(f"{url}/moto-api/config", json={"lambda": {"use_docker": False}})
    yield url
    server.stop()


def lambda_settings(tmp_path: Path, url: str) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k", aws_endpoint_url=url)


async def test_lambda_invoke_through_moto(
    aws_credentials: None, moto_url: str, tmp_path: Path
) -> None:
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1")
    role = iam.create_role(RoleName="waddlebot-module", AssumeRolePolicyDocument="{}")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("handler.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda", endpoint_url=moto_url, region_name="us-east-1").create_function(
        FunctionName="waddlebot-echo",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    # moto's simple backend answers with the queued result (what the handler would return)
    answer = lambda_handler(echo)(
        json.loads(module_request("echo", "moto").model_dump_json()), None
    )
    httpx.post(
        f"{moto_url}/moto-api/static/lambda-simple/response",
        json={"results": [json.dumps(answer)], "region": "us-east-1"},
    )
    clients = LambdaClients(lambda_settings(tmp_path, moto_url))
    try:
        executor = LambdaExecutor("echoer", "waddlebot-echo", clients)
        response = await executor.execute(module_request("echo", "moto"), timeout=10)
        assert response.actions == [ChatAction(text="moto")]
        # without a queued result moto echoes the event: not a ModuleResponse → clear failure
        with pytest.raises(ModuleFailure, match="not a ModuleResponse"):
            await executor.execute(module_request("echo"), timeout=10)
    finally:
        await clients.aclose()


async def test_lambda_function_errors_timeouts_and_no_retries(
    aws_credentials: None, tmp_path: Path
) -> None:
    fake = FakeLambda(functions={"echo-fn": lambda_handler(echo)})
    async with serve_asgi(fake.app()) as url:
        clients = LambdaClients(lambda_settings(tmp_path, url))
        try:
            executor = LambdaExecutor("echoer", "echo-fn:live", clients)
            response = await executor.execute(module_request("echo", "signed"), timeout=5)
            assert response.actions == [ChatAction(text="signed")]
            assert fake.calls[-1] == {
                "name": "echo-fn",
                "invocation_type": "RequestResponse",
                "qualifier": "live",
            }
            with pytest.raises(
                ModuleFailure, match="function error: ValueError: the module crashed"
            ):
                await executor.execute(module_request("crash"), timeout=5)
            with pytest.raises(ModuleFailure, match="ResourceNotFoundException"):
                await LambdaExecutor("x", "no-such-function", clients).execute(
                    module_request("echo"), timeout=5
                )
            fake.delay = 1.0
            before = len(fake.calls)
            with pytest.raises(ModuleTimeout):
                await executor.execute(module_request("echo"), timeout=0.3)
            await asyncio.sleep(0.1)
            assert len(fake.calls) == before + 1  # never retried
        finally:
            await clients.aclose()
