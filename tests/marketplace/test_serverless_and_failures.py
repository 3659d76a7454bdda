"""``#commands`` routed to serverless modules (OpenWhisk and Lambda, faked at their HTTP
boundary), and misbehaving modules: timeouts, crashes, malformed answers and an open circuit
breaker each give the user a clear reply while the router keeps serving other commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.marketplace.conftest import Market
from tests.module_support import FakeLambda, FakeOpenWhisk
from tests.support import serve_asgi
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import CommandExecution
from waddlebot.sdk import Context, Module
from waddlebot.sdk.adapters import lambda_handler, openwhisk_action

fortune = Module("fortune", version="1.0.0", description="Fortune cookies.")


@fortune.command("fortune", description="Open a fortune cookie.")
async def open_cookie(ctx: Context, topic: str = "life") -> None:
    ctx.reply(f"{ctx.user_name}, your {topic} will be {ctx.config.get('mood', 'bright')}.")


shouter = Module("shouter", version="1.0.0", description="Shouts.")


@shouter.command("shout")
async def shout(ctx: Context, *words: str) -> None:
    ctx.reply(" ".join(words).upper() or "HEY")


async def flaky(request: Request) -> Response:
    command = (await request.json())["command"]
    if command == "garbage":
        return JSONResponse({"actions": "not a list"})
    if command == "crash":
        return Response(b"Internal Server Error", status_code=500)
    if command == "slow":
        await asyncio.sleep(1.5)
    return JSONResponse({"actions": [{"type": "chat", "text": "fine"}]})


@pytest.fixture
async def platforms() -> AsyncIterator[dict[str, str]]:
    whisk = FakeOpenWhisk(actions={"bots/fortune": openwhisk_action(fortune)})
    aws = FakeLambda(functions={"shouter-fn": lambda_handler(shouter)})
    flaky_app = Starlette(routes=[Route("/", flaky, methods=["POST"])])
    async with (
        serve_asgi(whisk.app()) as whisk_url,
        serve_asgi(aws.app()) as lambda_url,
        serve_asgi(flaky_app) as flaky_url,
    ):
        yield {"openwhisk": whisk_url, "lambda": lambda_url, "flaky": flaky_url}


@pytest.fixture
def market_settings(
    stack_settings: Settings, platforms: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    return stack_settings.model_copy(
        update={
            "openwhisk_api_host": platforms["openwhisk"],
            "openwhisk_auth": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:secret-key",
            "openwhisk_namespace": "guest",
            "aws_endpoint_url": platforms["lambda"],
            "module_timeout": 0.5,
            "module_breaker_failures": 3,
            "module_breaker_reset": 0.5,
        }
    )


def manifest(module: Module, runtime: str, endpoint: str, **extra: Any) -> dict[str, Any]:
    return {**module.manifest(runtime=runtime, endpoint=endpoint).model_dump(mode="json"), **extra}  # type: ignore[arg-type]


async def test_hash_commands_reach_serverless_modules(market: Market) -> None:
    fortune_manifest = manifest(
        fortune,
        "openwhisk",
        "bots/fortune",
        config_schema={"type": "object", "properties": {"mood": {"type": "string"}}},
    )
    assert (await market.publish(fortune_manifest)).status_code == 201
    assert (await market.publish(manifest(shouter, "lambda", "shouter-fn"))).status_code == 201
    community = await market.lobby()
    assert (await market.install(community, "fortune", {"mood": "sunny"})).status_code == 200
    assert (await market.install(community, "shouter")).status_code == 200

    assert await market.bot.texts("#fortune love") == ["alice, your love will be sunny."]
    assert await market.bot.texts("#shout hello there") == ["HELLO THERE"]
    assert (await market.bot.say("!fortune"))["status"] == "ignored"  # serverless: # only
    [listing] = await market.bot.texts("!commands")
    assert "#fortune" in listing and "#shout" in listing


async def executions(market: Market, trigger: str) -> list[str]:
    db = market.bot.app.state.runtime.db
    for _ in range(50):
        async with db.session() as session:
            rows = (
                await session.scalars(
                    select(CommandExecution.status).where(CommandExecution.trigger == trigger)
                )
            ).all()
        if rows:
            return list(rows)
        await asyncio.sleep(0.1)
    return []


async def test_failures_are_friendly_and_the_breaker_opens_then_recovers(
    market: Market, platforms: dict[str, str]
) -> None:
    flaky_manifest = {
        "name": "flaky",
        "version": "1.0.0",
        "runtime": "http",
        "endpoint": f"{platforms['flaky']}/",
        "commands": [{"trigger": t} for t in ("garbage", "crash", "slow", "fine")],
    }
    assert (await market.publish(flaky_manifest)).status_code == 201
    community = await market.lobby()
    assert (await market.install(community, "flaky")).status_code == 200

    assert await market.bot.texts("!fine") == ["fine"]
    assert await market.bot.texts("!garbage") == ["@alice sorry, !garbage failed. Try again later."]
    assert await market.bot.texts("!ping") == ["pong"]
    assert await market.bot.texts("!crash") == ["@alice sorry, !crash failed. Try again later."]
    body = await market.bot.say("!slow")
    assert body["status"] == "failed"
    assert (
        body["replies"][0]["text"]
        == "@alice sorry, !slow took too long to answer. Try again later."
    )
    # three failures in a row: the breaker is open, the module is not even called
    assert await market.bot.texts("!fine") == [
        "@alice sorry, !fine is unavailable right now. Try again later."
    ]
    assert await market.bot.texts("!ping") == ["pong"]  # other modules unaffected
    await asyncio.sleep(0.6)  # half-open: one trial call goes through and closes it
    assert await market.bot.texts("!fine") == ["fine"]
    assert await market.bot.texts("!fine") == ["fine"]

    assert await executions(market, "!garbage") == ["failed"]
    assert await executions(market, "!slow") == ["timeout"]
    assert "unavailable" in await executions(market, "!fine")
