"""The ``stream-alerts`` module end to end: platform events into router ingress, alerts out
of the community's alert overlay socket, one after the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tests.overlays.conftest import overlay_bot, overlay_config, overlay_socket
from waddlebot.kernel.contracts import Event, EventType, Platform, UserRef
from waddlebot.kernel.settings import Settings
from waddlebot.marketplace.catalogue import Catalogue
from waddlebot.marketplace.models import ModuleInstall
from waddlebot.modules.stream_alerts import module as stream_alerts
from waddlebot.router.service import RouterService


def lobby_event(kind: EventType, data: dict[str, Any], text: str = "", **user: str) -> Event:
    return Event(
        type=kind,
        platform=Platform.playground,
        server_id="playground",
        channel_id="lobby",
        user=UserRef(
            id=user.get("id", "7"),
            name=user.get("name", "penguin_fan"),
            display_name=user.get("display_name"),
        ),
        text=text,
        data=data,
    )


async def test_platform_events_pop_alerts_in_order(stack_settings: Settings) -> None:
    async with overlay_bot(stack_settings, overlay_config(alert_duration=0.1, alert_gap=0)) as bot:
        events = [
            lobby_event(EventType.follow, {}, display_name="PenguinFan"),
            lobby_event(EventType.raid, {"viewers": 42}, name="big_streamer"),
            lobby_event(EventType.cheer, {"bits": 100, "is_anonymous": True}, text="go go go"),
            lobby_event(EventType.gift_subscription, {"total": 5, "tier": "1000"}),
            lobby_event(EventType.resubscribe, {"tier": "2000", "cumulative_months": 12}),
        ]
        async with overlay_socket(bot.url, await bot.token("alert"), "alert") as alerts:
            router = bot.server.app.state.runtime.client("router", caller="test")
            answer = await router.post(
                "/api/router/v1/events", json=[e.model_dump(mode="json") for e in events]
            )
            assert answer.status_code == 202, answer.text
            received = [(await alerts.next(timeout=10))["content"] for _ in events]
        by_event = {content["event"]: content for content in received}
        assert by_event["follow"] == {
            "event": "follow",
            "user": "PenguinFan",
            "title": "just followed!",
        }
        assert by_event["raid"]["title"] == "is raiding with 42 viewers!"
        assert by_event["cheer"] == {
            "event": "cheer",
            "user": "Anonymous",
            "title": "cheered 100 bits!",
            "text": "go go go",
        }
        assert by_event["gift_subscription"]["title"] == "gifted 5 subs!"
        assert by_event["resubscribe"]["title"] == "resubscribed for 12 months!"
        assert by_event["resubscribe"]["amount"] == "Tier 2"


async def test_configured_media_ride_along_with_their_event(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k", log_format="console")
    async with overlay_bot(settings, overlay_config(alert_duration=0.1, alert_gap=0)) as bot:
        runtime = bot.server.app.state.runtime
        await Catalogue(runtime.db, runtime.backend).sync_builtins([stream_alerts])
        async with runtime.db.session() as session:
            session.add(
                ModuleInstall(
                    community_id=bot.community_id,
                    module_name=stream_alerts.name,
                    version=stream_alerts.version,
                    config={"follow_image": "media:follow.png", "follow_sound": "media:ding.ogg"},
                    enabled=True,
                )
            )
        router = next(s for s in bot.server.app.state.services if isinstance(s, RouterService))
        await router.table.load(runtime.db)
        events = [lobby_event(EventType.follow, {}), lobby_event(EventType.raid, {"viewers": 3})]
        async with overlay_socket(bot.url, await bot.token("alert"), "alert") as alerts:
            client = runtime.client("router", caller="test")
            answer = await client.post(
                "/api/router/v1/events", json=[e.model_dump(mode="json") for e in events]
            )
            assert answer.status_code == 202, answer.text
            received = [(await alerts.next(timeout=10))["content"] for _ in events]
        by_event = {content["event"]: content for content in received}
        assert by_event["follow"]["image"] == "media:follow.png"
        assert by_event["follow"]["sound"] == "media:ding.ogg"
        assert "image" not in by_event["raid"] and "sound" not in by_event["raid"]


def test_the_media_settings_are_refs_to_uploads() -> None:
    schema = stream_alerts.config_schema
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors({"cheer_sound": "media:bits.mp3"}))
    for bad in ("https://evil.example/a.png", "media:../x.png", "media:x", "javascript:x"):
        assert list(validator.iter_errors({"follow_image": bad})), bad
