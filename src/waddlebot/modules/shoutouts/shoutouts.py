"""Shoutouts: ``!so USER`` (alias ``!shoutout``) looks a streamer up on Twitch and says so.

One chat line from the community's template, a ``general`` overlay card (name, avatar, last
game, most viewed clip), and on Twitch, where the bot moderates, Twitch's native shoutout.
Twitch allows a native shoutout once per 2 minutes per channel and once per 60 minutes per
target; those cooldowns are kept in the module's storage with TTLs so Helix is not even
called while one runs. Raids can shout the raider out automatically.

A community's settings (template, raid options) live in the module's storage over the
``config_schema`` defaults, changed with ``!shoutouts template|raids``: built-in modules
are not installed per community, so there is no install configuration to hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waddlebot import __version__
from waddlebot.kernel.contracts import MESSAGE_LIMITS, EventType, Platform, Role
from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.modules.shoutouts.settings import (
    DEFAULT_MIN_VIEWERS,
    DEFAULT_TEMPLATE,
    MAX_TEMPLATE,
    ShoutoutSettingsManager,
    check_template,
)
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.twitch import (
    TwitchApiError,
    TwitchChannel,
    TwitchClip,
    TwitchOperations,
    TwitchUser,
)

logger = get_logger(__name__)

LOGIN = re.compile(r"^[A-Za-z0-9_]{1,25}$")
CLIP_WINDOW = timedelta(days=30)
CHANNEL_COOLDOWN = 120.0  # Twitch: one native shoutout per channel per 2 minutes
TARGET_COOLDOWN = 3600.0  # Twitch: the same streamer once per 60 minutes
CARD_SECONDS = 15.0
USAGE = "Usage: !so TWITCHLOGIN"
MANAGE = "shoutouts.manage"  # the settings, in chat and over REST (moderators by default)
NOT_SET_UP = "Shoutouts need Twitch to be set up on this bot first."

module = Module(
    "shoutouts",
    version=__version__,
    description="Shoutouts: !so USER names a streamer, their last game and best clip.",
    config_schema={
        "type": "object",
        "properties": {
            "template": {
                "type": "string",
                "maxLength": MAX_TEMPLATE,
                "default": DEFAULT_TEMPLATE,
                "description": "The chat line; placeholders {name} {login} {game} {title} {clip}",
            },
            "auto_on_raid": {"type": "boolean", "default": False},
            "raid_min_viewers": {
                "type": "integer",
                "minimum": 0,
                "default": DEFAULT_MIN_VIEWERS,
            },
        },
    },
)


# --- templates and settings ------------------------------------------------------------


def render(template: str, values: dict[str, str]) -> str:
    """The template with its placeholders filled (the default when it is somehow invalid)."""
    try:
        return check_template(template).format_map(values)
    except Invalid:
        return DEFAULT_TEMPLATE.format_map(values)


def settings_manager(ctx: Context) -> ShoutoutSettingsManager:
    """The community's settings over the defaults and any host configuration."""
    return ShoutoutSettingsManager(ctx.storage, ctx.config)


# --- looking a streamer up --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    user: TwitchUser
    channel: TwitchChannel | None
    clip: TwitchClip | None


def twitch_of(ctx: Context) -> TwitchOperations:
    twitch = ctx.host.twitch()
    if twitch is None:
        raise CommandError(NOT_SET_UP)
    return twitch


def refusal(error: TwitchApiError, login: str) -> CommandError:
    """What chat hears when Helix refuses (details go to the log)."""
    log_event(
        logger,
        Category.ERROR,
        "shoutout_lookup",
        "failed",
        level="warning",
        target=login,
        status=error.status,
        reason=error.message,
    )
    if error.status == 429:
        wait = max(1, round(error.retry_after or 1))
        return CommandError(f"Twitch is rate limiting me right now; try again in {wait}s.")
    if error.status == 0:
        return CommandError(f"I could not reach Twitch to look up {login}; try again soon.")
    return CommandError(f"Twitch could not look up {login} right now; try again later.")


async def look_up(twitch: TwitchOperations, login: str) -> Found:
    """The streamer, their channel (last game, title) and their best clip: the most viewed
    of the last 30 days, else the most viewed ever."""
    try:
        user = await twitch.user(login)
        if user is None:
            raise CommandError(f"There is no Twitch user called {login}.")
        channel = await twitch.channel(user.id)
        since = datetime.now(UTC) - CLIP_WINDOW
        clips = await twitch.clips(user.id, started_at=since, first=20)
        if not clips:
            clips = await twitch.clips(user.id, first=20)
    except TwitchApiError as error:
        raise refusal(error, login) from None
    best = max(clips, key=lambda clip: clip.view_count) if clips else None
    return Found(user, channel, best)


def chat_line(template: str, found: Found, platform: Platform) -> str:
    """The template filled in; off Twitch the clip link follows when the template has none."""
    game = found.channel.game_name if found.channel and found.channel.game_name else "something"
    values = {
        "name": found.user.display_name,
        "login": found.user.login,
        "game": game,
        "title": found.channel.title if found.channel and found.channel.title else "",
        "clip": found.clip.url if found.clip else "(no clips yet)",
    }
    line = render(template, values)
    if platform is not Platform.twitch and found.clip and "{clip}" not in template:
        line = f"{line} Clip: {found.clip.url}"
    limit = MESSAGE_LIMITS.get(platform, 500)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def card(found: Found, art: str | None = None) -> dict[str, Any]:
    """The ``general`` overlay card. The page shows title, image (avatar), subtitle (game),
    thumbnail and caption (the clip, else the community's card ``art``: an uploaded image);
    ``url``/``embed_url`` ride along for custom pages and are dropped by the hub's sanitiser
    (the overlay page embeds no frames)."""
    game = found.channel.game_name if found.channel else ""
    content: dict[str, Any] = {
        "title": found.user.display_name,
        "text": f"twitch.tv/{found.user.login}",
        "subtitle": f"Last seen playing {game}" if game else None,
        "image": found.user.profile_image_url or None,
        "thumbnail": art,
    }
    if found.clip is not None:
        content.update(
            thumbnail=found.clip.thumbnail_url or art,
            caption=found.clip.title or None,
            url=found.clip.url,
            embed_url=found.clip.embed_url,
        )
    return {key: value for key, value in content.items() if value is not None}


# --- Twitch's native shoutout -----------------------------------------------------------


def _channel_key(channel_id: str) -> str:
    return f"native:channel:{channel_id}"


def _target_key(channel_id: str, target_id: str) -> str:
    return f"native:target:{channel_id}:{target_id}"


async def native_shoutout(ctx: Context, twitch: TwitchOperations, target: TwitchUser) -> bool:
    """Twitch's own shoutout where the bot moderates; False when skipped or refused. Never
    raises: the chat line is the shoutout that always happens."""
    channel_id = ctx.event.channel_id
    if ctx.platform is not Platform.twitch or not channel_id or target.id == channel_id:
        return False
    try:
        if not await twitch.bot_moderates(channel_id):
            outcome = "not_moderator"
        elif await ctx.storage.get(_channel_key(channel_id)) or await ctx.storage.get(
            _target_key(channel_id, target.id)
        ):
            outcome = "cooling_down"  # Twitch would refuse: do not even ask
        else:
            await twitch.shoutout(channel_id, target.id)
            await ctx.storage.set(_channel_key(channel_id), True, ttl=CHANNEL_COOLDOWN)
            await ctx.storage.set(_target_key(channel_id, target.id), True, ttl=TARGET_COOLDOWN)
            outcome = "sent"
    except TwitchApiError as error:
        if error.status == 429:  # Twitch's own cooldown: believe it, do not ask again early
            wait = min(max(error.retry_after or CHANNEL_COOLDOWN, 1.0), CHANNEL_COOLDOWN)
            await ctx.storage.set(_channel_key(channel_id), True, ttl=wait)
        log_event(
            logger,
            Category.ERROR,
            "native_shoutout",
            "refused",
            level="warning",
            channel=channel_id,
            target=target.id,
            status=error.status,
            reason=error.message,
        )
        return False
    log_event(
        logger, Category.SYSTEM, "native_shoutout", outcome, channel=channel_id, target=target.id
    )
    return outcome == "sent"


async def shout(ctx: Context, login: str) -> None:
    """Everything ``!so`` and a raid do: look up, chat line, card, native shoutout."""
    twitch = twitch_of(ctx)
    found = await look_up(twitch, login)
    settings = await settings_manager(ctx).current()
    ctx.reply(chat_line(settings.template, found, ctx.platform))
    ctx.overlay("general", card(found, settings.card_art), duration=CARD_SECONDS)
    await native_shoutout(ctx, twitch, found.user)


def login_from(word: str) -> str:
    login = word.strip().lstrip("@")
    if login.lower().startswith(("https://twitch.tv/", "https://www.twitch.tv/")):
        login = login.rstrip("/").rsplit("/", 1)[-1]
    if not LOGIN.match(login):
        raise CommandError(f"{word} is not a Twitch login. {USAGE}")
    return login.lower()


# --- commands ---------------------------------------------------------------------------


@module.command(
    "so",
    usage="!so TWITCHLOGIN",
    description="Shout a streamer out: their last game and best clip.",
    min_role=Role.moderator,
)
async def so(ctx: Context, user: str) -> None:
    await shout(ctx, login_from(user))


@module.command(
    "shoutout",
    usage="!shoutout TWITCHLOGIN",
    description="Same as !so.",
    min_role=Role.moderator,
)
async def shoutout(ctx: Context, user: str) -> None:
    await shout(ctx, login_from(user))


@module.command(
    "shoutouts",
    usage="!shoutouts <template|raids>",
    description="Show or change how shoutouts read and whether raids get one.",
    min_role=Role.moderator,
    permission=MANAGE,
)
async def shoutouts(ctx: Context) -> None:
    settings = await settings_manager(ctx).current()
    raids = f"on (from {settings.raid_min_viewers} viewers)" if settings.auto_on_raid else "off"
    ctx.reply(
        f"Shoutout template: {settings.template} | "
        f"Raid shoutouts: {raids}. Change with !shoutouts template TEXT|reset, "
        "!shoutouts raids on [MIN-VIEWERS]|off"
    )


@module.subcommand(
    "shoutouts",
    "template",
    usage="!shoutouts template TEXT|reset",
    description="Set the shoutout line ({name} {login} {game} {title} {clip}).",
    min_role=Role.moderator,
    permission=MANAGE,
)
async def set_template(ctx: Context, *words: str) -> None:
    text = " ".join(words).strip()
    if not text:
        raise CommandError(
            "Usage: !shoutouts template TEXT|reset (placeholders: {name} {login} {game} "
            "{title} {clip})"
        )
    if text.lower() == "reset":
        settings = await settings_manager(ctx).change({"template": None})
        ctx.reply(f"Shoutout template reset: {settings.template}")
        return
    settings = await settings_manager(ctx).change({"template": text})
    ctx.reply(f"Shoutout template set: {settings.template}")


@module.subcommand(
    "shoutouts",
    "raids",
    usage="!shoutouts raids on [MIN-VIEWERS]|off",
    description="Shout raiders out automatically.",
    min_role=Role.moderator,
    permission=MANAGE,
)
async def set_raids(ctx: Context, switch: bool, min_viewers: int = DEFAULT_MIN_VIEWERS) -> None:
    manager = settings_manager(ctx)
    if switch:
        settings = await manager.change({"auto_on_raid": True, "raid_min_viewers": min_viewers})
        ctx.reply(f"Raiders with at least {settings.raid_min_viewers} viewers get a shoutout.")
    else:
        await manager.change({"auto_on_raid": False})
        ctx.reply("Raid shoutouts are off.")


# --- raids ------------------------------------------------------------------------------


@module.on_event(EventType.raid)
async def raided(ctx: Context) -> None:
    """Shout the raider out when the community asked for it; quiet when anything fails."""
    settings = await settings_manager(ctx).current()
    raider = ctx.event.user
    viewers = ctx.event.data.get("viewers")
    count = viewers if isinstance(viewers, int) and not isinstance(viewers, bool) else 0
    if not settings.auto_on_raid or raider is None or ctx.host.twitch() is None:
        return
    if count < settings.raid_min_viewers:
        return
    try:
        await shout(ctx, login_from(raider.name))
    except CommandError as error:
        log_event(
            logger,
            Category.ERROR,
            "raid_shoutout",
            "skipped",
            level="warning",
            raider=raider.name,
            reason=error.message,
        )
