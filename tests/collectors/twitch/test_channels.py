"""Connecting channels: EventSub subscriptions created at the fake Helix, repaired by
reconcile (REST, periodic task and CLI), deleted on disconnect; REST needs the right scope."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.collectors.twitch.conftest import twitch_app, twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, CLIENT_ID, CLIENT_SECRET, STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import (
    SECRET,
    authorise_bot,
    connect_streamer,
    deliver,
    eventually,
    manager_headers,
)
from tests.support import LiveServer, live_server
from waddlebot.kernel.settings import Settings

EXPECTED = {
    "channel.chat.message": ("1", {"broadcaster_user_id": STREAMER["id"], "user_id": BOT["id"]}),
    "channel.follow": (
        "2",
        {"broadcaster_user_id": STREAMER["id"], "moderator_user_id": BOT["id"]},
    ),
    "channel.subscribe": ("1", {"broadcaster_user_id": STREAMER["id"]}),
    "channel.subscription.gift": ("1", {"broadcaster_user_id": STREAMER["id"]}),
    "channel.subscription.message": ("1", {"broadcaster_user_id": STREAMER["id"]}),
    "channel.cheer": ("1", {"broadcaster_user_id": STREAMER["id"]}),
    "channel.raid": ("1", {"to_broadcaster_user_id": STREAMER["id"]}),
    "stream.online": ("1", {"broadcaster_user_id": STREAMER["id"]}),
    "stream.offline": ("1", {"broadcaster_user_id": STREAMER["id"]}),
    "channel.channel_points_custom_reward_redemption.add": (
        "1",
        {"broadcaster_user_id": STREAMER["id"]},
    ),
}
CALLBACK = "http://127.0.0.1:8000/webhooks/twitch/eventsub"


def remote_for_streamer(fake: FakeTwitch) -> dict[str, dict[str, Any]]:
    return {
        s["type"]: s
        for s in fake.subscriptions.values()
        if STREAMER["id"] in s["condition"].values()
    }


async def test_connect_creates_every_subscription(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    await authorise_bot(bot, fake_twitch)
    status = await connect_streamer(bot)
    assert (status["login"], status["broadcaster_id"]) == ("streamer", STREAMER["id"])
    remote = remote_for_streamer(fake_twitch)
    assert {kind: (s["version"], s["condition"]) for kind, s in remote.items()} == EXPECTED
    assert {s["transport"]["callback"] for s in remote.values()} == {CALLBACK}
    creates = fake_twitch.calls("POST", "/helix/eventsub/subscriptions")
    assert {c.body["transport"]["secret"] for c in creates} == {SECRET}
    assert all(c.headers["authorization"].startswith("Bearer app-") for c in creates)
    assert {s["type"] for s in status["subscriptions"]} == set(EXPECTED)
    assert {s["status"] for s in status["subscriptions"]} == {
        "webhook_callback_verification_pending"
    }
    assert status["healthy"] is True
    # Twitch then verifies the callback: the subscription shows as enabled.
    chat = remote["channel.chat.message"]
    verification = {"challenge": "c-1", "subscription": chat}
    assert (
        await deliver(bot.client, verification, kind="webhook_callback_verification")
    ).text == "c-1"
    headers = await manager_headers(bot)
    status = (await bot.client.get("/api/twitch/v1/channels/streamer", headers=headers)).json()
    by_type = {s["type"]: s for s in status["subscriptions"]}
    assert by_type["channel.chat.message"]["status"] == "enabled"
    listing = (await bot.client.get("/api/twitch/v1/channels", headers=headers)).json()
    assert [c["login"] for c in listing] == ["streamer"]


async def test_reconcile_repairs_missing_revoked_and_orphans(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    await connect_streamer(bot)
    remote = remote_for_streamer(fake_twitch)
    del fake_twitch.subscriptions[remote["channel.cheer"]["id"]]
    fake_twitch.subscriptions[remote["channel.raid"]["id"]]["status"] = "authorization_revoked"
    revoked_here = remote["stream.online"]
    await deliver(
        bot.client, {"subscription": {**revoked_here, "status": "user_removed"}}, kind="revocation"
    )
    orphan = {**remote["stream.offline"], "id": "orphan", "condition": {"broadcaster_user_id": "9"}}
    foreign = {
        **orphan,
        "id": "foreign",
        "transport": {"method": "webhook", "callback": "https://x"},
    }
    fake_twitch.subscriptions.update(orphan=orphan, foreign=foreign)
    headers = await manager_headers(bot)
    answer = await bot.client.post("/api/twitch/v1/reconcile", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"channels": 1, "ok": 7, "created": 3, "deleted": 3, "failed": []}
    repaired = remote_for_streamer(fake_twitch)
    assert set(repaired) == set(EXPECTED)
    assert {s["status"] for s in repaired.values()} == {"webhook_callback_verification_pending"}
    assert "orphan" not in fake_twitch.subscriptions and "foreign" in fake_twitch.subscriptions
    assert len(fake_twitch.calls("GET", "/helix/eventsub/subscriptions")) > 3  # paginated
    status = (await bot.client.get("/api/twitch/v1/channels/streamer", headers=headers)).json()
    assert status["healthy"] is True
    assert {s["twitch_id"] for s in status["subscriptions"]} == {s["id"] for s in repaired.values()}


async def test_failed_creations_are_reported_not_fatal(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    fake_twitch.fail(
        "/helix/eventsub/subscriptions", 403, method="POST", message="missing proper authorization"
    )
    status = await connect_streamer(bot)
    by_type = {s["type"]: s for s in status["subscriptions"]}
    assert by_type["channel.chat.message"]["status"] == "failed"
    assert by_type["channel.chat.message"]["reason"] == "missing proper authorization"
    assert status["healthy"] is False
    assert len(remote_for_streamer(fake_twitch)) == len(EXPECTED) - 1
    headers = await manager_headers(bot)
    answer = await bot.client.post("/api/twitch/v1/reconcile", headers=headers)
    assert answer.json()["created"] == 1
    status = (await bot.client.get("/api/twitch/v1/channels/streamer", headers=headers)).json()
    assert status["healthy"] is True


async def test_disconnect_deletes_subscriptions(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    await authorise_bot(bot, fake_twitch)
    await connect_streamer(bot)
    headers = await manager_headers(bot)
    answer = await bot.client.delete("/api/twitch/v1/channels/streamer", headers=headers)
    assert answer.json() == {"deleted": len(EXPECTED)}
    assert remote_for_streamer(fake_twitch) == {}
    missing = await bot.client.get("/api/twitch/v1/channels/streamer", headers=headers)
    assert missing.status_code == 404
    again = await bot.client.delete("/api/twitch/v1/channels/streamer", headers=headers)
    assert again.status_code == 404


async def test_rest_needs_the_twitch_scope(bot: LiveServer) -> None:
    assert (await bot.client.get("/api/twitch/v1/channels")).status_code == 401
    other = await manager_headers(bot, scopes=("events:write",))
    assert (await bot.client.get("/api/twitch/v1/channels", headers=other)).status_code == 403
    admin = await manager_headers(bot, scopes=("admin",))
    assert (await bot.client.get("/api/twitch/v1/channels", headers=admin)).status_code == 200


async def test_bad_connect_requests_are_clear_4xx(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    headers = await manager_headers(bot)
    url = "/api/twitch/v1/channels"
    answer = await bot.client.post(url, json={"login": "streamer"}, headers=headers)
    assert answer.status_code == 409 and "/auth/twitch/login" in answer.text  # bot unknown
    await authorise_bot(bot, fake_twitch)
    for body in ({"login": "no spaces!"}, {"login": ""}, {}, {"login": "ok", "extra": 1}):
        assert (await bot.client.post(url, json=body, headers=headers)).status_code == 422
    answer = await bot.client.post(url, json={"login": "nosuchuser"}, headers=headers)
    assert answer.status_code == 404
    fake_twitch.fail("/helix/users", 503)
    answer = await bot.client.post(url, json={"login": "streamer"}, headers=headers)
    assert answer.status_code == 502
    fake_twitch.fail("/helix/eventsub/subscriptions", 500, method="GET")
    answer = await bot.client.post(url, json={"login": "streamer"}, headers=headers)
    assert answer.status_code == 502
    assert fake_twitch.subscriptions == {}
    listing = (await bot.client.get(url, headers=headers)).json()
    assert listing == []  # nothing half-written


async def test_periodic_reconcile_repairs_in_the_background(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    twitch = twitch_settings(fake_twitch, reconcile_interval=0.3)
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        await connect_streamer(server)
        gone = remote_for_streamer(fake_twitch)["channel.follow"]["id"]
        del fake_twitch.subscriptions[gone]
        await eventually(lambda: "channel.follow" in remote_for_streamer(fake_twitch))


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("waddlebot")),
        "twitch",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_cli_connect_status_reconcile_disconnect(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEBOT_")}
    env.update(
        WADDLEBOT_DATA_DIR=str(stack_settings.data_dir),
        WADDLEBOT_SECRET_KEY="test-secret",
        WADDLEBOT_LOG_LEVEL="WARNING",
        WADDLEBOT_TWITCH_CLIENT_ID=CLIENT_ID,
        WADDLEBOT_TWITCH_CLIENT_SECRET=CLIENT_SECRET,
        WADDLEBOT_TWITCH_EVENTSUB_SECRET=SECRET,
        WADDLEBOT_TWITCH_BOT_USER_ID=BOT["id"],
        WADDLEBOT_TWITCH_API_BASE=f"{fake_twitch.url}/helix",
        WADDLEBOT_TWITCH_AUTH_BASE=f"{fake_twitch.url}/oauth2",
    )
    if stack_settings.database_url:
        env["WADDLEBOT_DATABASE_URL"] = stack_settings.database_url
    code, out, err = await run_cli(env, "connect", "streamer", "--moderator")
    assert code == 0, err
    status = json.loads(out)
    assert status["bot_is_moderator"] is True and len(status["subscriptions"]) == len(EXPECTED)
    assert set(remote_for_streamer(fake_twitch)) == set(EXPECTED)
    del fake_twitch.subscriptions[remote_for_streamer(fake_twitch)["stream.online"]["id"]]
    code, out, err = await run_cli(env, "reconcile")
    assert code == 0, err
    assert json.loads(out)["created"] == 1
    code, out, err = await run_cli(env, "status", "streamer")
    assert code == 0, err
    assert json.loads(out)["healthy"] is True
    code, out, err = await run_cli(env, "disconnect", "streamer")
    assert code == 0 and f"{len(EXPECTED)} subscriptions deleted" in out
    assert remote_for_streamer(fake_twitch) == {}
    code, _, err = await run_cli(env, "connect", "nosuchuser")
    assert code == 1 and "error: Twitch has no user 'nosuchuser'" in err


def test_cli_help_lists_the_twitch_commands() -> None:
    import subprocess

    result = subprocess.run(
        [str(Path(sys.executable).with_name("waddlebot")), "twitch", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("connect", "reconcile", "disconnect", "status", "login-url"):
        assert command in result.stdout
