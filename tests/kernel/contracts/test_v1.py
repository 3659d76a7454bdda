"""Contracts v1: schema export, strict validation, the action discriminator, JSON round-trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from waddlebot.kernel import contracts
from waddlebot.kernel.contracts import (
    Action,
    ChatAction,
    Event,
    EventBatch,
    EventOutcome,
    EventType,
    ModuleRequest,
    ModuleResponse,
    OutboundMessage,
    OverlayAction,
    Platform,
    Role,
    UserRef,
    WhisperAction,
)
from waddlebot.kernel.contracts.schema import json_schemas
from waddlebot.kernel.contracts.v1 import CONTRACT_VERSION, MAX_BATCH, MAX_TEXT

ACTIONS: TypeAdapter[ChatAction | WhisperAction | OverlayAction] = TypeAdapter(Action)


def event(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "platform": "twitch",
        "server_id": "1234",
        "channel_id": "1234",
        "user": {"id": "42", "name": "alice", "role": 30},
        "text": "!hello world",
    }
    payload.update(overrides)
    return payload


# --- schema export --------------------------------------------------------------------------


def test_json_schemas_cover_every_exported_contract_at_v1() -> None:
    exported = json_schemas()
    assert exported["version"] == "v1" == CONTRACT_VERSION
    assert set(exported["schemas"]) >= {
        "Event",
        "EventBatch",
        "Action",
        "ModuleRequest",
        "ModuleResponse",
        "OutboundMessage",
        "EventOutcome",
    }
    json.dumps(exported)  # plain JSON, printable by `waddlebot contracts`


def test_schemas_describe_the_models() -> None:
    schemas = json_schemas()["schemas"]
    assert schemas["Event"]["additionalProperties"] is False
    assert set(schemas["Event"]["required"]) == {"platform", "server_id", "channel_id"}
    assert set(schemas["Event"]["$defs"]["Platform"]["enum"]) == {p.value for p in Platform}
    assert schemas["EventBatch"]["type"] == "array"
    assert (schemas["EventBatch"]["minItems"], schemas["EventBatch"]["maxItems"]) == (1, 100)
    assert schemas["Action"]["discriminator"]["propertyName"] == "type"
    assert set(schemas["Action"]["discriminator"]["mapping"]) == {"chat", "whisper", "overlay"}
    assert schemas["ModuleResponse"]["properties"]["version"]["const"] == "v1"
    assert schemas["ModuleRequest"]["properties"]["version"]["const"] == "v1"


def test_package_exports_every_contract() -> None:
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None
    assert set(json_schemas()["schemas"]) <= set(contracts.__all__)


# --- Event ----------------------------------------------------------------------------------


def test_event_parses_and_fills_defaults() -> None:
    parsed = Event.model_validate(event())
    assert parsed.platform is Platform.twitch
    assert parsed.type is EventType.message
    assert parsed.user == UserRef(id="42", name="alice", role=Role.moderator)
    assert len(parsed.id) == 32
    assert parsed.received_at.tzinfo is not None
    assert parsed.data == {}
    assert Event.model_validate(event()).id != parsed.id  # a fresh id each time


def test_event_strips_identifiers() -> None:
    parsed = Event.model_validate(event(server_id="  guild  ", channel_id=" ch "))
    assert (parsed.server_id, parsed.channel_id) == ("guild", "ch")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(event(colour="blue"), id="unknown-field"),
        pytest.param(event(user={"id": "1", "name": "a", "rank": 1}), id="unknown-user-field"),
        pytest.param(event(platform="myspace"), id="unknown-platform"),
        pytest.param(event(platform="Twitch"), id="platform-case"),
        pytest.param(event(type="telepathy"), id="unknown-type"),
        pytest.param(event(server_id=""), id="empty-server"),
        pytest.param(event(channel_id="   "), id="blank-channel"),
        pytest.param(event(channel_id="x" * 201), id="long-channel"),
        pytest.param(event(text="x" * (MAX_TEXT + 1)), id="long-text"),
        pytest.param(event(user={"id": "1", "name": "a", "role": 99}), id="unknown-role"),
        pytest.param({k: v for k, v in event().items() if k != "platform"}, id="no-platform"),
    ],
)
def test_event_rejects_invalid_payloads(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Event.model_validate(bad)


def test_event_accepts_the_text_limit_exactly() -> None:
    assert len(Event.model_validate(event(text="x" * MAX_TEXT)).text) == MAX_TEXT


# --- EventBatch -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, MAX_BATCH])
def test_batch_accepts_1_to_100_events(size: int) -> None:
    batch = EventBatch.model_validate([event(id=f"e{i}") for i in range(size)])
    assert [e.id for e in batch.root] == [f"e{i}" for i in range(size)]


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_batch_refuses_0_and_101_events(size: int) -> None:
    assert MAX_BATCH == 100
    with pytest.raises(ValidationError):
        EventBatch.model_validate([event() for _ in range(size)])


def test_one_bad_event_refuses_the_whole_batch() -> None:
    with pytest.raises(ValidationError) as caught:
        EventBatch.model_validate([event(), event(platform="myspace"), event()])
    assert caught.value.errors()[0]["loc"][0] == 1


# --- Action discriminator -------------------------------------------------------------------


def test_action_discriminator_picks_the_right_model() -> None:
    chat = ACTIONS.validate_python({"type": "chat", "text": "hi"})
    whisper = ACTIONS.validate_python({"type": "whisper", "text": "psst", "user_id": "42"})
    overlay = ACTIONS.validate_python(
        {"type": "overlay", "kind": "ticker", "content": {"text": "go"}, "duration": 5}
    )
    assert chat == ChatAction(text="hi")
    assert whisper == WhisperAction(text="psst", user_id="42")
    assert overlay == OverlayAction(kind="ticker", content={"text": "go"}, duration=5.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "no type"},
        {"type": "email", "text": "hi"},
        {"type": "chat", "text": ""},
        {"type": "chat", "text": "hi", "kind": "ticker"},  # an overlay field on a chat
        {"type": "whisper"},
        {"type": "overlay", "kind": "fireworks"},
        {"type": "overlay", "kind": "alert", "duration": 0},
        {"type": "overlay", "kind": "alert", "duration": 3601},
    ],
)
def test_action_rejects_invalid_payloads(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTIONS.validate_python(bad)


# --- ModuleResponse and friends -------------------------------------------------------------


def test_module_response_round_trips_through_json() -> None:
    response = ModuleResponse(
        actions=[
            ChatAction(text="hello"),
            WhisperAction(text="psst"),
            OverlayAction(kind="media", content={"url": "https://example.com/a.mp4"}),
        ],
        error=None,
    )
    wire = response.model_dump_json()
    decoded = json.loads(wire)
    assert decoded["version"] == "v1"
    assert [a["type"] for a in decoded["actions"]] == ["chat", "whisper", "overlay"]

    back = ModuleResponse.model_validate_json(wire)
    assert back == response
    assert [type(a) for a in back.actions] == [ChatAction, WhisperAction, OverlayAction]


def test_module_response_refuses_another_version() -> None:
    with pytest.raises(ValidationError):
        ModuleResponse.model_validate({"version": "v2", "actions": []})
    with pytest.raises(ValidationError):
        ModuleResponse.model_validate({"actions": [], "extra": True})


def test_module_request_round_trips_with_its_event() -> None:
    request = ModuleRequest(
        session_id="s",
        community_id="c",
        entity_id="e",
        platform=Platform.discord,
        command="hello",
        prefix="!",
        args=["a", "b"],
        event=Event.model_validate(event(platform="discord")),
    )
    back = ModuleRequest.model_validate_json(request.model_dump_json())
    assert back == request
    assert back.event.user is not None
    assert back.event.user.role is Role.moderator


def test_outbound_message_and_outcome_round_trip() -> None:
    message = OutboundMessage(
        platform=Platform.slack,
        kind="whisper",
        server_id="T1",
        channel_id="C1",
        user_id="U1",
        text="psst",
        event_id="ev",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert OutboundMessage.model_validate_json(message.model_dump_json()) == message
    outcome = EventOutcome(event_id="ev", status="ok", outbound=1)
    assert EventOutcome.model_validate_json(outcome.model_dump_json()) == outcome
    with pytest.raises(ValidationError):
        EventOutcome.model_validate({"event_id": "ev", "status": "maybe"})


@pytest.mark.parametrize(
    ("name", "role"),
    [("moderator", Role.moderator), ("  VIP ", Role.vip), ("Everyone", Role.everyone)],
)
def test_role_parse(name: str, role: Role) -> None:
    assert Role.parse(name) is role


def test_role_parse_names_the_valid_roles() -> None:
    with pytest.raises(ValueError, match="broadcaster"):
        Role.parse("overlord")
    assert Role.broadcaster > Role.moderator > Role.vip > Role.subscriber > Role.everyone
