"""Contracts v1: the payloads that cross service boundaries.

Collectors produce :class:`Event`; the router sends :class:`ModuleRequest` to modules and gets
:class:`ModuleResponse` (a list of :data:`Action`) back; chat and whisper actions travel to the
collectors as :class:`OutboundMessage`. ``waddlebot.kernel.contracts.schema`` exports them as
JSON Schema. Changing a field's meaning means a new version, not an edit here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_serializer,
    model_validator,
)

from waddlebot.kernel.ids import new_id

CONTRACT_VERSION: Final = "v1"
MAX_BATCH = 100
MAX_TEXT = 4000

MAX_EVENT_DATA = 64 * 1024  # bytes of an event's ``data`` as compact JSON
NUL = "\x00"


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL (0x00) and nothing can store a lone surrogate: refuse
    both here, the same on every database, instead of failing in a worker later."""
    if NUL in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def storable(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every NUL character removed from its
    strings and keys and lone surrogates replaced (U+FFFD); collectors call it on platform
    payloads before normalising them, so a stray byte never costs a member their message."""
    if isinstance(value, str):
        cleaned = value.replace(NUL, "")
        if cleaned.isascii():
            return cleaned
        return cleaned.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _event_data(value: dict[str, Any]) -> dict[str, Any]:
    """``data`` is stored and queued as JSON: bounded in size and free of NUL characters."""
    if not value:  # most events carry none; it is checked on every hop
        return value
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        size = len(encoded.encode())
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("must be plain JSON (no NaN, Infinity or lone surrogates)") from None
    if size > MAX_EVENT_DATA:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_EVENT_DATA} are allowed")
    if _has_nul(value):
        raise ValueError("must not contain NUL characters (\\u0000)")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string that fits PostgreSQL text: no NUL characters."""

Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]


def _now() -> datetime:
    return datetime.now(UTC)


class Platform(StrEnum):
    """Where an event came from and where replies go."""

    twitch = "twitch"
    discord = "discord"
    slack = "slack"
    playground = "playground"


# Characters one chat message may hold on each platform: senders split longer text there, and
# modules that cut a reply to one message (e.g. custom commands) use the same numbers.
MESSAGE_LIMITS: dict[Platform, int] = {
    Platform.twitch: 500,
    Platform.discord: 2000,
    Platform.slack: 4000,
    Platform.playground: 500,
}


class Role(IntEnum):
    """The platform-derived role ladder; a higher value may do everything a lower one may."""

    everyone = 0
    subscriber = 10
    vip = 20
    moderator = 30
    broadcaster = 40

    @classmethod
    def parse(cls, name: str) -> Role:
        """Role from its name (case-insensitive); ValueError names the valid ones."""
        try:
            return cls[name.strip().lower()]
        except KeyError:
            valid = ", ".join(role.name for role in cls)
            raise ValueError(f"unknown role {name!r}; expected one of: {valid}") from None


class EventType(StrEnum):
    """Normalised event kinds shared by every platform."""

    message = "message"
    command = "command"  # a slash command: text already holds "!trigger args"
    follow = "follow"
    subscribe = "subscribe"
    gift_subscription = "gift_subscription"
    resubscribe = "resubscribe"
    cheer = "cheer"
    raid = "raid"
    redemption = "redemption"
    stream_online = "stream_online"
    stream_offline = "stream_offline"
    member_join = "member_join"
    member_leave = "member_leave"
    guild_join = "guild_join"
    scheduled = "scheduled"  # synthetic: a scheduler job came due (no user; see ScheduledJob)


class Strict(BaseModel):
    """Base for contracts: unknown fields are rejected so typos fail loudly."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class UserRef(Strict):
    """The member as the platform reports them."""

    id: Identifier
    name: Identifier
    display_name: Text | None = Field(default=None, max_length=200)
    role: Role = Role.everyone
    badges: list[Text] = Field(default_factory=list, max_length=50)


class Event(Strict):
    """A normalised platform event, as collectors hand it to the router."""

    id: Identifier = Field(default_factory=new_id, description="platform message id or a uuid")
    type: EventType = EventType.message
    platform: Platform
    server_id: Identifier = Field(description="Twitch channel id, Discord guild id, Slack team id")
    channel_id: Identifier = Field(description="where to reply: channel/room id")
    channel_name: Text | None = Field(default=None, max_length=200)
    user: UserRef | None = None
    text: Text = Field(default="", max_length=MAX_TEXT)
    thread_id: Text | None = Field(default=None, max_length=200)
    reply_to: Text | None = Field(default=None, max_length=200, description="platform message id")
    data: Annotated[dict[str, Any], AfterValidator(_event_data)] = Field(
        default_factory=dict,
        description=f"type-specific details; at most {MAX_EVENT_DATA} bytes as JSON",
    )
    received_at: datetime = Field(default_factory=_now)
    outcome_wanted: bool = Field(
        default=True,
        description="publish the outcome on router:outcome:<id> once handled; a collector "
        "that never waits for it (Twitch, Slack events, Discord gateway) says false and saves "
        "the router a Redis round trip per event",
    )


class EventBatch(RootModel[list[Event]]):
    """Up to :data:`MAX_BATCH` events accepted or refused together."""

    root: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class IngressAccepted(Strict):
    """Router ingress answer: the ids of the events now queued."""

    accepted: list[str]


class ChatAction(Strict):
    """Reply in the channel the event came from."""

    type: Literal["chat"] = "chat"
    text: Text = Field(min_length=1, max_length=MAX_TEXT)


class WhisperAction(Strict):
    """Direct message to a user (the invoking user when ``user_id`` is unset)."""

    type: Literal["whisper"] = "whisper"
    text: Text = Field(min_length=1, max_length=MAX_TEXT)
    user_id: str | None = None


class OverlayAction(Strict):
    """Content for an OBS browser source of the community."""

    type: Literal["overlay"] = "overlay"
    kind: Literal["ticker", "media", "general", "alert", "player", "clear"]
    content: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = Field(default=None, gt=0, le=3600)


Action = Annotated[ChatAction | WhisperAction | OverlayAction, Field(discriminator="type")]


class CommandInfo(Strict):
    """A command as the router's table knows it (used by help listings)."""

    prefix: Literal["!", "#"] = "!"
    trigger: str
    module: str
    usage: str = ""
    description: str = ""
    min_role: Role = Role.everyone
    permission: str | None = None


class ScheduledJob(Strict):
    """The scheduler job a request runs (``ctx.job``): which ``@on_schedule`` handler, with what."""

    id: str
    handler: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    due_at: datetime
    attempt: int = Field(default=1, ge=1, description="1 on the first run, higher on retries")


class HostAccess(Strict):
    """The router's host API for one remote call: base URL and a bearer token signed with the
    installation secret, scoped to (module, community) and valid until ``expires_at``."""

    url: str = Field(max_length=2000, description="e.g. https://bot.example.com/api/modules/v1")
    token: str = Field(max_length=2000)
    expires_at: datetime


class ModuleRequest(Strict):
    """What a module is asked to do: one command invocation or one subscribed event."""

    version: Literal["v1"] = CONTRACT_VERSION
    invocation_id: str = Field(default_factory=new_id)
    session_id: str
    community_id: str
    entity_id: str
    platform: Platform
    user: UserRef | None = None
    user_labels: list[str] = Field(default_factory=list)
    user_permissions: list[str] = Field(
        default_factory=list, description="the user's permissions in this community"
    )
    community_role: str | None = Field(
        default=None,
        description="owner/admin/moderator/member: granted here or derived from the platform",
    )
    command: str | None = Field(default=None, description="trigger without prefix, lowercased")
    prefix: Literal["!", "#"] | None = None
    args: list[str] = Field(default_factory=list)
    raw_text: str = ""
    event: Event
    config: dict[str, Any] = Field(default_factory=dict)
    job: ScheduledJob | None = Field(
        default=None, description="set when a scheduler job runs (event type 'scheduled')"
    )
    host: HostAccess | None = Field(
        default=None, description="remote modules: where and how to reach the router's host API"
    )


class ModuleResponse(Strict):
    """A module's answer: actions for the router to deliver, or an error to report."""

    version: Literal["v1"] = CONTRACT_VERSION
    actions: list[Action] = Field(default_factory=list)
    error: str | None = None


class OutboundMessage(Strict):
    """A chat or whisper action on its way to a platform's sender."""

    id: str = Field(default_factory=new_id)
    platform: Platform
    kind: Literal["chat", "whisper"]
    server_id: str
    channel_id: str
    user_id: str | None = None
    thread_id: str | None = None
    reply_to: str | None = None
    text: str
    event_id: str
    created_at: datetime = Field(default_factory=_now)
    received_at: datetime | None = Field(
        default=None,
        description="when a collector received the event this answers (None: unsolicited); "
        "the end-to-end reply latency is measured from it",
    )


class EventOutcome(Strict):
    """Published when the router has finished an event: how many outbound messages it made."""

    event_id: str
    status: Literal["ok", "ignored", "refused", "failed"]
    outbound: int = 0
    detail: str | None = None


OverlayKind = Literal["ticker", "media", "general", "alert", "player"]


class OverlayMessage(Strict):
    """What the overlay hub sends an OBS browser source over its WebSocket (and what the page
    may send back: ``ping``/``pong``).

    ``ticker``/``media``/``general``/``alert`` carry sanitised ``content`` (plain text fields,
    escaped by the page; ``general`` may hold ``html`` already reduced to a safe subset) and
    ``duration`` (seconds left to show; None = until replaced or cleared). ``clear`` empties
    ``content["kind"]`` (or everything when absent). ``hello`` opens every connection with the
    overlay's kind and limits; ``revoked`` precedes a close when the URL stops being valid.
    """

    version: Literal["v1"] = CONTRACT_VERSION
    type: Literal[
        "hello",
        "ticker",
        "media",
        "general",
        "alert",
        "player",
        "clear",
        "ping",
        "pong",
        "revoked",
    ]
    id: str = Field(default_factory=new_id)
    content: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = Field(default=None, ge=0, le=3600)
    sent_at: datetime = Field(default_factory=_now)


PLAYER_MODULE = "music"
"""The module that drives the ``player`` overlay and owns the jobs its reports hurry."""


PLAYER_SYNC_HANDLER = "player_sync"
"""The :data:`PLAYER_MODULE` job a ``ready`` report schedules: send the page what plays now."""
PLAYER_JOB_PREFIX = "player:"


def player_job_key(entry: str) -> str:
    """The dedupe key of the pending job that ends queue entry ``entry`` (see PlayerReport)."""
    return f"{PLAYER_JOB_PREFIX}{entry}"


class PlayerReport(Strict):
    """What a ``player`` overlay page reports over its WebSocket: the track of queue entry
    ``entry`` ``ended``, or could not play (``error`` with the IFrame API's ``code``).

    The overlays service does not know the queue: it makes the :data:`PLAYER_MODULE`'s pending
    job keyed :func:`player_job_key` due now, with the report merged into its payload; that
    job (scheduled by the module when the track started, due at its natural end as a
    fallback) then advances the queue through the normal scheduler path. ``ready`` (a page
    that just connected with nothing to play) schedules :data:`PLAYER_SYNC_HANDLER` now, in
    the channel of the module's pending player job, which sends the page what plays."""

    type: Literal["ready", "ended", "error"]
    entry: str = Field(default="", pattern=r"^[A-Za-z0-9]{0,32}$")
    code: int | None = Field(default=None, ge=0, le=100_000)


ModuleRuntime = Literal["builtin", "http", "lambda", "openwhisk"]
SERVERLESS_RUNTIMES: Final = frozenset({"lambda", "openwhisk"})
MODULE_NAME_PATTERN: Final = r"^[a-z][a-z0-9_-]{1,63}$"
TRIGGER_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,99}$"
PERMISSION_PATTERN: Final = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
VERSION_PATTERN: Final = r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"


def _role(value: Any) -> Any:
    return Role.parse(value) if isinstance(value, str) else value


class ManifestCommand(Strict):
    """A command a module offers, as its manifest declares it."""

    trigger: str = Field(pattern=TRIGGER_PATTERN, description="lowercase, without prefix")
    prefix: Literal["!", "#"] | None = Field(
        default=None, description="default: '#' for lambda/openwhisk modules, '!' otherwise"
    )
    usage: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=500)
    min_role: Annotated[Role, BeforeValidator(_role)] = Field(
        default=Role.everyone, description="a role name (everyone … broadcaster) or its value"
    )
    user_cooldown: float = Field(default=0.0, ge=0, le=86_400)
    global_cooldown: float = Field(default=0.0, ge=0, le=86_400)
    subcommands: list[str] = Field(default_factory=list, max_length=50)
    permission: str | None = Field(
        default=None,
        pattern=PERMISSION_PATTERN,
        description="a community permission needed to run it, e.g. commands.manage",
    )
    subcommand_permissions: dict[
        str, Annotated[str, StringConstraints(pattern=PERMISSION_PATTERN)]
    ] = Field(default_factory=dict, description="subcommand → permission it needs")

    @field_serializer("min_role")
    def _role_name(self, role: Role) -> str:
        return role.name


class Manifest(Strict):
    """Everything the marketplace and the router need to know about a module (v1)."""

    manifest_version: Literal["v1"] = CONTRACT_VERSION
    name: str = Field(pattern=MODULE_NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN, description="semantic version, e.g. 1.2.0")
    description: str = Field(default="", max_length=1000)
    author: str = Field(default="", max_length=200)
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=10
    )
    runtime: ModuleRuntime = "http"
    endpoint: str | None = Field(
        default=None,
        max_length=500,
        description="http: the URL to POST requests to; lambda: function name or ARN "
        "(optionally name:qualifier); openwhisk: [package/]action",
    )
    timeout: float | None = Field(default=None, gt=0, le=300, description="seconds per call")
    commands: list[ManifestCommand] = Field(default_factory=list, max_length=100)
    events: list[EventType] = Field(default_factory=list)
    config_schema: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of the per-community configuration"
    )
    scopes: list[str] = Field(default_factory=list, max_length=50)
    homepage: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.runtime != "builtin" and not self.endpoint:
            raise ValueError(f"{self.runtime} modules need an endpoint")
        if self.runtime == "http" and not self.endpoint.startswith(("http://", "https://")):  # type: ignore[union-attr]
            raise ValueError("an http module's endpoint must be an http:// or https:// URL")
        default: Literal["!", "#"] = "#" if self.runtime in SERVERLESS_RUNTIMES else "!"
        seen: set[tuple[str, str]] = set()
        for command in self.commands:
            if command.prefix is None:
                command.prefix = default
            key = (command.prefix or default, command.trigger)
            if key in seen:
                raise ValueError(f"command {command.prefix}{command.trigger} is declared twice")
            seen.add(key)
        return self


# --- the host API remote modules call back (``/api/modules/v1``, bearer = HostAccess.token) ---


class StorageWrite(Strict):
    """``PUT /storage/values``: store ``value`` (JSON) under ``key``."""

    key: str
    value: Any
    ttl: float | None = Field(default=None, description="seconds until the value vanishes")
    user: str | None = Field(default=None, description="a user's key space; unset: community")


class StorageIncrement(Strict):
    """``POST /storage/counters``: add ``amount`` atomically (a missing key counts as 0)."""

    key: str
    amount: int = 1
    user: str | None = None


class StorageValue(Strict):
    """``GET /storage/values?key=``: ``found`` false when the key is missing or expired."""

    found: bool
    value: Any = None


class StorageCounter(Strict):
    value: int


class StorageDeleted(Strict):
    deleted: bool


class StorageKeys(Strict):
    keys: list[str]
