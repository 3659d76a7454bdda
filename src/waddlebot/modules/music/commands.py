"""Song requests in chat: ``!sr``, ``!song``, ``!queue``, ``!wrongsong``, ``!skip``,
``!voteskip``, ``!volume``; every rule is in :class:`queue.MusicQueue`.

When the playing track changes, the ``media`` overlay shows it (title, artist, album art,
requester, length) and the ``player`` overlay (YouTube) is told to play it.

On Spotify the broadcaster's player decides what plays: a request waits in our queue (and in
Spotify's) until the poller (``spotify.py``) sees it playing; :func:`who_asked`, the
poller's ``requester_lookup``, then moves our queue on (:meth:`MusicQueue.follow`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from waddlebot.kernel.contracts import PLAYER_SYNC_HANDLER, EventType, Role, player_job_key
from waddlebot.kernel.errors import Refusal
from waddlebot.modules.music import spotify
from waddlebot.modules.music.models import MusicSettings
from waddlebot.modules.music.module import module
from waddlebot.modules.music.provider import Playing, Track
from waddlebot.modules.music.providers import provider_for
from waddlebot.modules.music.queue import Entry, MusicQueue, length_text
from waddlebot.sdk import CommandError, Context, Host
from waddlebot.sdk.text import fit

SR_USAGE = "Usage: !sr SONG or LINK (moderators: !sr on|off)"
VOLUME_USAGE = "Usage: !volume 0-100"
SPOTIFY_KEEPS = "Spotify cannot take songs out of its own queue, so it may still play there."
LISTED = 5
RECENT_CHATTERS = 600.0  # seconds a chatter counts towards !voteskip's percentage
CHATTER = "chatter:"
TRACK_END = "track_end"
END_SLACK = 30.0  # seconds past a track's length before the queue moves on without the player


def _queue(ctx: Context) -> MusicQueue:
    return MusicQueue(ctx.database)


def _now() -> datetime:
    return datetime.now(UTC)


def media_content(entry: Entry, now: datetime) -> dict[str, Any]:
    """The ``media`` overlay's card for what plays now."""
    position = 0.0
    if entry.started_at is not None:
        position = max(0.0, (now - entry.started_at).total_seconds())
    return {
        "title": entry.title,
        "artist": entry.artist,
        "album": entry.album or None,
        "art": entry.art_url or None,
        "source": "Spotify" if entry.provider == "spotify" else "YouTube",
        "requested_by": entry.requester_name,
        "length": entry.duration_ms / 1000,
        "position": min(position, entry.duration_ms / 1000),
        "playing": True,
    }


def player_content(entry: Entry | None, volume: int) -> dict[str, Any]:
    """The ``player`` overlay's instruction: play this video (or stop)."""
    if entry is None or entry.provider != "youtube":
        return {"command": "stop", "volume": volume}
    return {"command": "play", "video": entry.track_id, "entry": entry.id, "volume": volume}


def show(ctx: Context, entry: Entry | None, volume: int) -> None:
    """Tell the overlays what plays now (nothing: the media card is cleared)."""
    if entry is None:
        ctx.overlay("clear", {"kind": "media"})
    else:
        ctx.overlay("media", media_content(entry, _now()))
    ctx.overlay("player", player_content(entry, volume))


async def start(ctx: Context, entry: Entry | None, volume: int) -> None:
    """``entry`` plays now: the overlays show it and, for YouTube, a job ends it. The
    player page's ``ended``/``error`` report makes that job due at once; without a player
    page it runs at the track's natural end (plus :data:`END_SLACK`), so the queue moves on
    either way."""
    show(ctx, entry, volume)
    if entry is None or entry.provider != "youtube" or ctx.host.scheduler() is None:
        return
    await ctx.schedule(
        TRACK_END,
        after=entry.duration_ms / 1000 + END_SLACK,
        payload={"entry": entry.id},
        key=player_job_key(entry.id),
        grace=3600,
    )


async def follow_spotify(ctx: Context, playing: Playing | None) -> Entry | None:
    """Our queue agrees with what Spotify plays; the request playing now (None: nothing,
    or a track nobody requested)."""
    track_id = playing.track.id if playing is not None else None
    return await _queue(ctx).follow(ctx.community_id, "spotify", track_id, now=_now())


async def who_asked(ctx: Context, track: Track) -> str:
    """The poller saw ``track`` start (or pause/resume): advance our queue to it and name
    its requester for the ``media`` overlay ("" when nobody requested it)."""
    entry = await _queue(ctx).follow(ctx.community_id, track.provider, track.id, now=_now())
    return entry.requester_name if entry is not None else ""


spotify.requester_lookup = who_asked


async def poll_spotify(ctx: Context) -> None:
    """(Re)start the Spotify poller where the host can schedule jobs."""
    if ctx.host.scheduler() is not None:
        await spotify.ensure_polling(ctx)


@module.on_schedule(PLAYER_SYNC_HANDLER)
async def player_sync(ctx: Context) -> None:
    """A player page connected with nothing to play: send it (and the media card) what
    plays now."""
    queue = _queue(ctx)
    row = await queue.settings(ctx.community_id)
    show(ctx, await queue.current(ctx.community_id), row.volume)


PLAYER_ERRORS = {
    2: "the video id was refused",
    5: "the browser could not play it",
    100: "it was removed or made private",
    101: "its owner does not allow embedding",
    150: "its owner does not allow embedding",
    153: "YouTube wanted to know the page playing it",
}


@module.on_schedule(TRACK_END)
async def track_end(ctx: Context) -> None:
    """A YouTube track ended (the player said so, or its time ran out) or could not play:
    the next one starts; an unplayable one gets a note in chat."""
    payload = ctx.job.payload if ctx.job is not None else {}
    entry_id = payload.get("entry")
    if not isinstance(entry_id, str):
        return
    queue = _queue(ctx)
    done, following = await queue.advance(ctx.community_id, entry_id, now=_now())
    if done is None:  # skipped meanwhile, or another report got here first
        return
    row = await queue.settings(ctx.community_id)
    if payload.get("report") == "error":
        code = payload.get("code")
        why = PLAYER_ERRORS.get(code, f"player error {code}") if isinstance(code, int) else "?"
        after = f" Now playing {following.label}." if following else ""
        ctx.reply(fit(f"Skipped {done.label}: YouTube would not play it ({why}).{after}"))
    await start(ctx, following, row.volume)


@module.command(
    "sr",
    usage="!sr SONG or LINK",
    description="Request a song (search words or a link); moderators: !sr on|off.",
)
async def song_request(ctx: Context) -> None:
    if not ctx.args:
        raise CommandError(SR_USAGE)
    queue = _queue(ctx)
    if len(ctx.args) == 1 and ctx.args[0].lower() in ("on", "off"):
        if ctx.role < Role.moderator:
            raise CommandError("Only moderators can turn song requests on or off.")
        on = ctx.args[0].lower() == "on"
        await queue.update_settings(ctx.community_id, {"requests_open": on})
        ctx.reply("Song requests are on." if on else "Song requests are off.")
        return
    row = await queue.settings(ctx.community_id)
    moderator = ctx.role >= Role.moderator
    # cheap refusals before spending API quota
    if not row.requests_open and not moderator:
        raise CommandError("Song requests are off right now.")
    if row.subscriber_only and ctx.role < Role.subscriber:
        raise CommandError("Song requests are for subscribers only right now.")
    provider = provider_for(ctx, row)
    on_spotify = provider.name == "spotify"
    track = await provider.find(ctx.community_id, " ".join(ctx.args))
    added = await queue.add(
        ctx.community_id,
        track,
        user_id=await ctx.user_id(),
        name=ctx.user_name,
        subscriber=ctx.role >= Role.subscriber,
        moderator=moderator,
        now=_now(),
        start=not on_spotify,  # Spotify's player starts it; the poller sees when
    )
    try:
        await provider.queued(ctx.community_id, track)
    except Refusal:  # the provider's player refused it (e.g. Spotify: no active device)
        await queue.discard(ctx.community_id, added.entry.id)
        raise
    if on_spotify:
        await poll_spotify(ctx)
    entry = added.entry
    length = length_text(entry.duration_ms)
    if added.started:
        ctx.reply(
            fit(f"Now playing {entry.label} ({length}), requested by {entry.requester_name}.")
        )
        await start(ctx, entry, row.volume)
    else:
        ctx.reply(fit(f"Queued {entry.label} ({length}) at #{added.ahead} in the queue."))


@module.command("song", usage="!song", description="What plays now, and who asked for it.")
async def song(ctx: Context) -> None:
    queue = _queue(ctx)
    row = await queue.settings(ctx.community_id)
    if row.provider == "spotify":
        await _spotify_song(ctx)
        return
    entry = await queue.current(ctx.community_id)
    if entry is None:
        ctx.reply("Nothing is playing. Request a song with !sr SONG.")
        return
    ctx.reply(fit(f"Now playing {entry.label}, requested by {entry.requester_name}: {entry.url}"))


async def _spotify_song(ctx: Context) -> None:
    """``!song`` on Spotify: ask the player (refusals such as "not connected" are the
    answer), make our queue agree, and name the requester when it was a request."""
    await poll_spotify(ctx)
    playing = await spotify.SpotifyProvider.of(ctx).now_playing(ctx.community_id)
    entry = await follow_spotify(ctx, playing)
    if playing is None:
        ctx.reply("Nothing is playing on Spotify. Request a song with !sr SONG.")
    elif entry is not None:
        ctx.reply(
            fit(f"Now playing {entry.label}, requested by {entry.requester_name}: {entry.url}")
        )
    else:
        track = playing.track
        label = f"“{track.title}” by {track.artist}" if track.artist else f"“{track.title}”"
        ctx.reply(fit(f"Now playing {label} on Spotify (not a request): {track.url}"))


@module.command("queue", usage="!queue", description="The next five requested songs.")
async def queue_list(ctx: Context) -> None:
    upcoming = await _queue(ctx).upcoming(ctx.community_id, LISTED)
    if not upcoming:
        ctx.reply("The queue is empty. Request a song with !sr SONG.")
        return
    parts = [f"{i}. {e.label} ({e.requester_name})" for i, e in enumerate(upcoming, 1)]
    ctx.reply(fit("Next: " + " | ".join(parts)))


@module.command("wrongsong", usage="!wrongsong", description="Take back your latest request.")
async def wrongsong(ctx: Context) -> None:
    entry = await _queue(ctx).remove_last(ctx.community_id, await ctx.user_id())
    if entry.provider == "spotify":
        ctx.reply(fit(f"Removed {entry.label} from the queue. {SPOTIFY_KEEPS}"))
        return
    ctx.reply(fit(f"Removed {entry.label} from the queue."))


async def _skip_to(ctx: Context, done: Entry | None, following: Entry | None) -> None:
    queue = _queue(ctx)
    row = await queue.settings(ctx.community_id)
    if done is not None and done.provider == row.provider:
        await provider_for(ctx, row).skip(ctx.community_id)
    await start(ctx, following, row.volume)


@module.command(
    "skip", usage="!skip", description="Skip the song playing now.", min_role=Role.moderator
)
async def skip(ctx: Context) -> None:
    row = await _queue(ctx).settings(ctx.community_id)
    if row.provider == "spotify":
        await _spotify_skip(ctx, row)
        return
    done, following = await _queue(ctx).advance(ctx.community_id, None, now=_now())
    if done is None:
        ctx.reply("Nothing is playing.")
        return
    await _skip_to(ctx, done, following)
    after = f" Now playing {following.label}." if following else " The queue is empty."
    ctx.reply(fit(f"Skipped {done.label}.{after}"))


async def _spotify_skip(ctx: Context, row: MusicSettings) -> None:
    """``!skip`` on Spotify: skip on the player first (a refusal — Premium, no device —
    changes nothing), then our queue follows what Spotify plays next."""
    queue = _queue(ctx)
    current = await queue.current(ctx.community_id)
    await provider_for(ctx, row).skip(ctx.community_id)
    if current is not None:
        await queue.advance(ctx.community_id, current.id, now=_now(), start=False)
    following = await _spotify_after_skip(ctx)
    done = current.label if current is not None else "the song playing on Spotify"
    ctx.reply(fit(f"Skipped {done}.{following}"))


async def _spotify_after_skip(ctx: Context) -> str:
    """What Spotify plays after a skip, for the reply (our queue follows it)."""
    await poll_spotify(ctx)
    try:
        playing = await spotify.SpotifyProvider.of(ctx).now_playing(ctx.community_id)
    except Refusal:  # the skip happened; what follows shows on the next poll
        return ""
    entry = await follow_spotify(ctx, playing)
    if entry is not None:
        return f" Now playing {entry.label}, requested by {entry.requester_name}."
    if playing is not None:
        return f" Now playing “{playing.track.title}” on Spotify."
    return " Nothing is playing on Spotify."


@module.command("voteskip", usage="!voteskip", description="Vote to skip the song playing now.")
async def voteskip(ctx: Context) -> None:
    chatters = len(await ctx.storage.keys(CHATTER, limit=10_000))
    queue = _queue(ctx)
    row = await queue.settings(ctx.community_id)
    on_spotify = row.provider == "spotify"
    vote = await queue.vote(
        ctx.community_id, await ctx.user_id(), chatters, now=_now(), start=not on_spotify
    )
    if vote.skipped is None:
        ctx.reply(f"Vote counted: {vote.votes}/{vote.needed} to skip.")
        return
    if on_spotify:
        # the vote passed and our queue let go of the song; Spotify's refusal (Premium, no
        # device) is the answer, and the poller puts our queue right on its next look
        await provider_for(ctx, row).skip(ctx.community_id)
        following = await _spotify_after_skip(ctx)
        ctx.reply(
            fit(
                f"Vote passed ({vote.votes}/{vote.needed}): skipped {vote.skipped.label}."
                f"{following}"
            )
        )
        return
    await _skip_to(ctx, vote.skipped, vote.next)
    after = f" Now playing {vote.next.label}." if vote.next else " The queue is empty."
    ctx.reply(
        fit(f"Vote passed ({vote.votes}/{vote.needed}): skipped {vote.skipped.label}.{after}")
    )


@module.command(
    "volume", usage="!volume 0-100", description="Set the player's volume.", min_role=Role.moderator
)
async def volume(ctx: Context) -> None:
    queue = _queue(ctx)
    if not ctx.args:
        row = await queue.settings(ctx.community_id)
        ctx.reply(f"The volume is {row.volume}.")
        return
    try:
        level = int(ctx.args[0].rstrip("%"))
    except ValueError:
        raise CommandError(VOLUME_USAGE) from None
    if not 0 <= level <= 100 or len(ctx.args) > 1:
        raise CommandError(VOLUME_USAGE)
    await queue.update_settings(ctx.community_id, {"volume": level})
    # the whole instruction again (the page keeps playing the same entry): a page opened
    # later is replayed this card, so it must still name the track
    ctx.overlay("player", player_content(await queue.current(ctx.community_id), level))
    ctx.reply(f"Volume set to {level}.")


async def counting_chatters(host: Host) -> list[str]:
    """Where :func:`chatter` listens: communities with a ``!voteskip`` percentage. Elsewhere
    a chat line costs music nothing (no call, no storage read); chatters count from the moment
    the percentage is switched on (the settings API reloads the router's table then)."""
    database = host.database()
    if database is None:
        raise RuntimeError("the music module needs the installation's database")
    return await MusicQueue(database).counting_chatters()


@module.on_event(EventType.message, where=counting_chatters)
async def chatter(ctx: Context) -> None:
    """Remember who chatted lately (``!voteskip`` percentages count them)."""
    user = ctx.request.user
    if user is None:
        return
    key = f"{CHATTER}{ctx.platform.value}:{user.id}"
    if await ctx.storage.get(key) is None:  # a cached read; one write per chatter per window
        await ctx.storage.set(key, 1, ttl=RECENT_CHATTERS)
