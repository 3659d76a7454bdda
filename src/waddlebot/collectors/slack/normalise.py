"""Slack payloads → the router's :class:`Event`. Pure functions, no I/O.

Only command-looking text goes to the router: ``message`` events whose text starts with ``!``
or ``#``, ``app_mention`` events (``@WaddleBot !cmd``) with the mention stripped, and slash
commands (``/waddlebot cmd args`` → ``!cmd args``). Bots, the bot itself and edits are ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from waddlebot.kernel.contracts import Event, EventType, Platform, UserRef

COMMAND_PREFIXES = ("!", "#")
# Message subtypes that are still a person typing in the channel.
HUMAN_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})


@dataclass(frozen=True, slots=True)
class SlackCommand:
    """A command someone typed in Slack, before the user's name and role are known."""

    id: str  # event_id, or a slash command's trigger id
    type: EventType
    team_id: str
    channel_id: str
    channel_name: str | None
    user_id: str
    user_name: str | None
    text: str
    ts: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None

    def event(self, user: UserRef) -> Event:
        data: dict[str, Any] = {"slack": {"ts": self.ts}} if self.ts else {}
        return Event(
            id=self.id,
            type=self.type,
            platform=Platform.slack,
            server_id=self.team_id,
            channel_id=self.channel_id,
            channel_name=self.channel_name,
            user=user,
            text=self.text,
            thread_id=self.thread_ts,
            reply_to=self.ts,
            data=data,
            outcome_wanted=False,  # answers go out through the sender (slash commands too)
        )


def unescape(text: str) -> str:
    """Slack escapes ``&``, ``<`` and ``>`` in message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """Escape outgoing text so it cannot form mentions or links (``<!channel>``, ``<@U…>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def bot_user_ids(envelope: Mapping[str, Any]) -> set[str]:
    """The app's own user ids, from the envelope's ``authorizations``."""
    ids: set[str] = set()
    for authorization in envelope.get("authorizations") or []:
        if isinstance(authorization, dict) and authorization.get("is_bot"):
            user = authorization.get("user_id")
            if isinstance(user, str):
                ids.add(user)
    return ids


def _strip_mentions(text: str) -> str:
    """Drop leading ``<@U…>`` mentions: ``<@U0BOT> !clip`` → ``!clip``."""
    text = text.strip()
    while text.startswith("<@"):
        end = text.find(">")
        if end == -1:
            break
        text = text[end + 1 :].lstrip()
    return text


def command_from_event(
    envelope: Mapping[str, Any], own_user_ids: Collection[str] = ()
) -> SlackCommand | None:
    """The command in an ``event_callback`` envelope, or None when there is nothing to do."""
    if envelope.get("type") != "event_callback":
        return None
    event = envelope.get("event")
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    if kind not in ("message", "app_mention"):
        return None
    user = event.get("user")
    channel = event.get("channel")
    text = event.get("text")
    if not isinstance(user, str) or not isinstance(channel, str) or not isinstance(text, str):
        return None
    if event.get("bot_id") or event.get("bot_profile"):
        return None  # the bot itself or another bot: never answer bots (loops)
    if user in own_user_ids or user in bot_user_ids(envelope):
        return None
    subtype = event.get("subtype")
    if subtype is not None and subtype not in HUMAN_SUBTYPES:
        return None
    text = unescape(text).strip()
    if kind == "app_mention":
        text = _strip_mentions(text)
    if not text.startswith(COMMAND_PREFIXES):
        return None
    team = envelope.get("team_id") or event.get("team")
    event_id = envelope.get("event_id")
    if not isinstance(team, str) or not isinstance(event_id, str):
        return None
    thread_ts = event.get("thread_ts")
    ts = event.get("ts")
    return SlackCommand(
        id=event_id,
        type=EventType.message,
        team_id=team,
        channel_id=channel,
        channel_name=None,
        user_id=user,
        user_name=None,
        text=text,
        ts=ts if isinstance(ts, str) else None,
        thread_ts=thread_ts if isinstance(thread_ts, str) else None,
    )


def command_from_slash(form: Mapping[str, str], event_id: str) -> SlackCommand | None:
    """``/waddlebot ping now`` → ``!ping now`` (empty text → ``!help``)."""
    team, channel, user = form.get("team_id"), form.get("channel_id"), form.get("user_id")
    if not team or not channel or not user:
        return None
    text = unescape(form.get("text", "")).strip() or "help"
    if not text.startswith(COMMAND_PREFIXES):
        text = "!" + text
    return SlackCommand(
        id=event_id,
        type=EventType.command,
        team_id=team,
        channel_id=channel,
        channel_name=form.get("channel_name") or None,
        user_id=user,
        user_name=form.get("user_name") or None,
        text=text,
        response_url=form.get("response_url") or None,
    )
