"""Labels from chat, through the host's label operations.

The router refuses ``!label add/remove/create/delete`` without ``labels.manage`` before this
module runs (a label can grant that permission too), and the host checks again. Label names
may contain spaces: everything after the user is the label, except a trailing duration
(``30m``, ``12h``, ``7d``, ``2w``, ``1d12h``) on ``add`` or a trailing ``#RRGGBB`` on ``create``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from waddlebot import __version__
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.errors import offered
from waddlebot.sdk.labels import HeldLabel, LabelError, LabelOperations
from waddlebot.sdk.text import fit

module = Module(
    "labels",
    version=__version__,
    description="Community labels: tag members, and let labels grant permissions.",
)

DURATION = re.compile(r"(\d{1,5})([smhdw])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``12h``, ``7d``, ``2w`` or combinations like ``1d12h``; None if not one."""
    compact = text.strip().lower()
    if not compact or DURATION.sub("", compact):
        return None
    seconds = sum(int(n) * UNITS[unit] for n, unit in DURATION.findall(compact))
    if seconds <= 0 or seconds > MAX_DURATION.total_seconds():
        raise CommandError("A duration is more than 0 and at most 10 years.")
    return timedelta(seconds=seconds)


def _operations(ctx: Context) -> LabelOperations:
    return offered(ctx.host.labels(), "Labels are not available here.")


def _name(words: tuple[str, ...], usage: str) -> str:
    name = " ".join(words).strip()
    if not name:
        raise CommandError(f"Usage: {usage}")
    return name


def _until(expires_at: datetime | None) -> str:
    """``, for 6d 23h`` style remaining time, or nothing without expiry."""
    if expires_at is None:
        return ""
    left = max(0, int((expires_at - datetime.now(UTC)).total_seconds()))
    days, rest = divmod(left, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not (days or hours) else rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else ""]
    if not days:
        parts.append(f"{minutes}m" if minutes else "")
    return f" ({' '.join(p for p in parts if p)} left)"


def _held(labels: list[HeldLabel]) -> str:
    return ", ".join(f"{label.name}{_until(label.expires_at)}" for label in labels)


@module.subcommand("label", "list", description="This community's labels.")
async def list_(ctx: Context) -> None:
    try:
        labels = await _operations(ctx).community_labels(ctx.community_id)
    except LabelError as refusal:
        raise CommandError(refusal.message) from None
    if not labels:
        ctx.reply("This community has no labels yet.")
        return
    names = [
        label.name + (f" [{', '.join(label.permissions)}]" if label.permissions else "")
        for label in labels
    ]
    ctx.reply(fit(f"Labels: {', '.join(names)}."))


@module.subcommand(
    "label", "show", usage="!label show [user]", description="Your labels, or someone else's."
)
async def show(ctx: Context, user: str | None = None) -> None:
    try:
        found = await _operations(ctx).labels_of(ctx.community_id, ctx.caller, user)
    except LabelError as refusal:
        raise CommandError(refusal.message) from None
    whose = "You have" if user is None else f"{found.name} has"
    if not found.labels:
        ctx.reply(f"{whose} no labels here.")
        return
    owner = "Your" if user is None else f"{found.name}'s"
    ctx.reply(fit(f"{owner} labels: {_held(found.labels)}."))


@module.subcommand(
    "label",
    "add",
    usage="!label add <user> <label> [duration, e.g. 7d]",
    description="Put a label on someone, for a while (30m, 12h, 7d, 2w) or for good.",
    permission="labels.manage",
)
async def add(ctx: Context, user: str, *words: str) -> None:
    usage = "!label add <user> <label> [duration, e.g. 7d]"
    duration = parse_duration(words[-1]) if len(words) > 1 else None
    name = _name(words[:-1] if duration is not None else words, usage)
    try:
        who, held = await _operations(ctx).apply_to(
            ctx.community_id, ctx.caller, user, name, duration
        )
    except LabelError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"{who} now has the label {held.name}{_until(held.expires_at)}.")


@module.subcommand(
    "label",
    "remove",
    usage="!label remove <user> <label>",
    description="Take a label off someone.",
    permission="labels.manage",
)
async def remove(ctx: Context, user: str, *words: str) -> None:
    name = _name(words, "!label remove <user> <label>")
    try:
        who, label = await _operations(ctx).remove_from(ctx.community_id, ctx.caller, user, name)
    except LabelError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"{who} no longer has the label {label}.")


@module.subcommand(
    "label",
    "create",
    usage="!label create <name> [#RRGGBB]",
    description="Create a label (grant it permissions over the API).",
    permission="labels.manage",
)
async def create(ctx: Context, *words: str) -> None:
    colour = words[-1] if len(words) > 1 and words[-1].startswith("#") else None
    name = _name(words[:-1] if colour is not None else words, "!label create <name> [#RRGGBB]")
    try:
        label = await _operations(ctx).create(ctx.community_id, ctx.caller, name, colour)
    except LabelError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"Label {label.name} created ({label.colour}).")


@module.subcommand(
    "label",
    "delete",
    usage="!label delete <name>",
    description="Delete a label and take it off everyone.",
    permission="labels.manage",
)
async def delete(ctx: Context, *words: str) -> None:
    name = _name(words, "!label delete <name>")
    try:
        label = await _operations(ctx).delete(ctx.community_id, ctx.caller, name)
    except LabelError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"Label {label.name} deleted.")
