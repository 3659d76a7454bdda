"""The same module served over HTTP (real loopback server, HMAC checked on both sides), as a
Lambda handler and as an OpenWhisk action."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.module_support import module_request
from tests.support import free_port, serve_asgi
from waddlebot.kernel.contracts import ChatAction, ModuleResponse
from waddlebot.router.executors import HttpExecutor, ModuleFailure
from waddlebot.sdk import Context, Module, signing
from waddlebot.sdk.adapters import http_app, lambda_handler, openwhisk_action

SECRET = "wbm_test-secret"
greeter = Module("greeter", version="1.0.0", description="Says hello.")


@greeter.command("hello")
async def hello(ctx: Context, name: str | None = None) -> None:
    ctx.reply(f"Hello {name or ctx.user_name}!")


@greeter.command("crash")
async def crash(ctx: Context) -> None:
    raise RuntimeError("boom")


async def test_http_module_answers_signed_requests_from_the_router() -> None:
    async with serve_asgi(http_app(greeter, SECRET)) as url, httpx.AsyncClient() as client:
        executor = HttpExecutor("greeter", f"{url}/", SECRET, client)
        response = await executor.execute(module_request("hello", "bob"), timeout=5)
        assert response.actions == [ChatAction(text="Hello bob!")]
        crashed = await executor.execute(module_request("crash"), timeout=5)
        assert crashed.error == "RuntimeError: boom"
        assert (await client.get(f"{url}/healthz")).json()["module"] == "greeter"
        manifest = (await client.get(f"{url}/manifest")).json()
        assert manifest["runtime"] == "http" and manifest["endpoint"] == f"{url}/"


async def test_http_module_refuses_bad_signatures() -> None:
    body = module_request("hello").model_dump_json().encode()
    async with serve_asgi(http_app(greeter, SECRET)) as url, httpx.AsyncClient() as client:
        unsigned = await client.post(f"{url}/", content=body)
        assert unsigned.status_code == 401
        forged = await client.post(
            f"{url}/", content=body, headers={signing.HEADER: signing.sign("wrong", body)}
        )
        assert forged.status_code == 401
        stale = await client.post(
            f"{url}/",
            content=body,
            headers={signing.HEADER: signing.sign(SECRET, body, now=time.time() - 3600)},
        )
        assert stale.status_code == 401
        signed_garbage = b'{"not": "a request"}'
        invalid = await client.post(
            f"{url}/",
            content=signed_garbage,
            headers={signing.HEADER: signing.sign(SECRET, signed_garbage)},
        )
        assert invalid.status_code == 422
        with pytest.raises(ModuleFailure, match="answered HTTP 401"):
            await HttpExecutor("greeter", f"{url}/", "wrong", client).execute(
                module_request("hello"), timeout=5
            )


def test_lambda_handler_and_openwhisk_action_run_the_module() -> None:
    event = json.loads(module_request("hello", "eve").model_dump_json())
    answer = ModuleResponse.model_validate(lambda_handler(greeter)(event, None))
    assert answer.actions == [ChatAction(text="Hello eve!")]
    with pytest.raises(RuntimeError, match="boom"):  # Lambda reports it as a function error
        lambda_handler(greeter)(json.loads(module_request("crash").model_dump_json()), None)

    main = openwhisk_action(greeter)
    result = main({**event, "__ow_method": "post"})
    assert ModuleResponse.model_validate(result).actions == [ChatAction(text="Hello eve!")]
    assert main(json.loads(module_request("crash").model_dump_json())) == {
        "error": "RuntimeError: boom"
    }
    assert main({"nonsense": True})["error"].startswith("invalid request")


def test_waddlebot_module_serve_runs_a_module_as_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "mymodule.py").write_text(
        "from waddlebot.sdk import Context, Module\n"
        "module = Module('mymodule')\n"
        "@module.command('hi')\n"
        "async def hi(ctx: Context) -> None:\n"
        "    ctx.reply('hi from a process')\n"
    )
    port = free_port()
    waddlebot = str(Path(sys.executable).with_name("waddlebot"))
    env = {**os.environ, "WADDLEBOT_MODULE_SECRET": SECRET}
    process = subprocess.Popen(
        [waddlebot, "module", "serve", "mymodule:module", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "module server never became healthy"
            time.sleep(0.1)
        body = module_request("hi").model_dump_json().encode()
        signed = httpx.post(url, content=body, headers={signing.HEADER: signing.sign(SECRET, body)})
        assert signed.json()["actions"] == [{"type": "chat", "text": "hi from a process"}]
        assert httpx.post(url, content=body).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
