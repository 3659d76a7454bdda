"""Custom commands from chat through the real pipeline (playground, in memory): managing
them, refusals, the router's role and cooldown checks, counters, listings, uptime."""

from __future__ import annotations

from waddlebot.kernel.contracts import EventType
from waddlebot.modules.custom_commands import module as custom_commands
from waddlebot.sdk.testing import ModuleHarness

BOSS = {"user": "boss", "role": "broadcaster"}


async def test_add_use_edit_show_remove() -> None:
    async with ModuleHarness(custom_commands) as bot:
        assert await bot.reply(
            "!command add discord Join us: https://discord.gg/x  {user}!", **BOSS
        ) == ("!discord added.")
        assert await bot.reply("!discord") == "Join us: https://discord.gg/x  alice!"
        assert await bot.reply("!DISCORD", user="bob") == "Join us: https://discord.gg/x  bob!"
        assert await bot.reply(
            "!command edit discord --cooldown=30 --role=vip Now {touser}, {count}", **BOSS
        ) == ("!discord updated (vips and above, cooldown 30s).")
        assert await bot.reply("!command show discord", **BOSS) == (
            "!discord (vips and above, cooldown 30s), used 0 times: Now {touser}, {count}"
        )
        assert await bot.reply("!command edit discord --role=everyone", **BOSS) == (
            "!discord updated (cooldown 30s)."
        )
        assert await bot.reply("!command remove !discord", **BOSS) == "!discord removed."
        assert (await bot.say("!discord"))["status"] == "ignored"
        assert await bot.reply("!command remove discord", **BOSS) == (
            "There is no custom command !discord here."
        )


async def test_variables() -> None:
    async with ModuleHarness(custom_commands) as bot:
        await bot.reply(
            "!command add hug {user} hugs {touser} ({args}|{1}|{2}|{9}) in {channel}", **BOSS
        )
        assert await bot.reply("!hug @carol tightly") == (
            "alice hugs carol (@carol tightly|@carol|tightly|) in lobby"
        )
        assert await bot.reply("!hug") == "alice hugs alice (|||) in lobby"
        await bot.reply(
            "!command add d20 {random 1-20} {pick heads|tails} {time Europe/Berlin}", **BOSS
        )
        number, side, clock, zone = (await bot.reply("!d20")).split(" ")
        assert 1 <= int(number) <= 20 and side in ("heads", "tails")
        assert len(clock) == 5 and zone in ("CET", "CEST")
        await bot.reply("!command add braces {{literal}} {count}", **BOSS)
        assert await bot.reply("!braces") == "{literal} 1"
        assert await bot.reply("!braces") == "{literal} 2"


async def test_refusals() -> None:
    async with ModuleHarness(custom_commands) as bot:
        assert await bot.reply("!command add x hi") == (
            "@alice !command needs the commands.manage permission here."
        )
        assert await bot.reply("!command add ping hi", **BOSS) == (
            "!ping is already a command of the core module; pick another name."
        )
        assert await bot.reply("!command add command hi", **BOSS) == (
            "!command is already a command of the custom-commands module; pick another name."
        )
        assert await bot.reply("!command add bad {nope} x", **BOSS) == (
            "The response is not a valid template: unknown variable {nope} (at character 1)."
        )
        assert await bot.reply("!command add bad hello {random 9-1}", **BOSS) == (
            "The response is not a valid template: {random 9-1} needs LOW-HIGH with LOW ≤ HIGH "
            "within ±1000000000 (at character 7)."
        )
        assert await bot.reply("!command add bad hello {user", **BOSS) == (
            "The response is not a valid template: a '{' that is never closed (write '{{' for a "
            "brace) (at character 7)."
        )
        bad_name = await bot.reply("!command add ba.d hi", **BOSS)
        assert bad_name.startswith("'ba.d' is not a command")
        assert await bot.reply("!command add x --role=king hi", **BOSS) == (
            "Unknown role 'king'; expected one of: everyone, subscriber, vip, moderator, "
            "broadcaster."
        )
        assert await bot.reply("!command add x --cooldown=soon hi", **BOSS) == (
            "--cooldown needs seconds, not 'soon'."
        )
        assert await bot.reply("!command add x --colour=red hi", **BOSS) == (
            "Unknown option '--colour=red'; use --cooldown= or --role= (or -- before a response "
            "that starts with --)."
        )
        assert await bot.reply("!command add dashes --role=vip -- --- rules ---", **BOSS) == (
            "!dashes added (vips and above)."
        )
        assert await bot.reply("!dashes", user="v", role="vip") == "--- rules ---"
        assert (await bot.reply("!command add x", **BOSS)).startswith("Usage: !command add")
        await bot.reply("!command add x hi", **BOSS)
        assert await bot.reply("!command add X again", **BOSS) == (
            "!x already exists here; change it with !command edit x."
        )
        assert await bot.reply("!command edit nope hi", **BOSS) == (
            "There is no custom command !nope here."
        )


async def test_role_cooldown_disable_and_listings() -> None:
    async with ModuleHarness(custom_commands) as bot:
        await bot.reply("!command add vipsonly --role=vip for vips", **BOSS)
        await bot.reply("!command add slow --cooldown=600 once", **BOSS)
        assert await bot.reply("!vipsonly") == "@alice !vipsonly is for vips and above."
        assert await bot.reply("!vipsonly", user="v", role="vip") == "for vips"
        assert await bot.reply("!slow") == "once"
        limited = await bot.say("!slow", user="bob")
        assert limited["status"] == "refused"
        assert limited["replies"][0]["text"].startswith("@bob !slow is on cooldown")
        # listings show what the caller may run
        assert "!slow" in await bot.reply("!commands")
        assert "!vipsonly" not in await bot.reply("!commands")
        assert "!vipsonly" in await bot.reply("!help", user="v", role="vip")
        assert await bot.reply("!help slow") == "!slow: Custom command. Usage: !slow"
        # enable/disable work on custom commands like on any command
        assert await bot.reply("!command disable slow", **BOSS) == "!slow is now disabled here."
        assert (
            await bot.reply("!slow", user="carol") == "@carol !slow is disabled in this community."
        )
        assert await bot.reply("!command show slow", **BOSS) == (
            "!slow (cooldown 600s), disabled, used 0 times: once"
        )
        assert await bot.reply("!command enable slow", **BOSS) == "!slow is now enabled here."


async def test_channels_are_separate_communities() -> None:
    async with ModuleHarness(custom_commands) as bot:
        await bot.reply("!command add here only here", **BOSS)
        assert await bot.reply("!here") == "only here"
        assert (await bot.say("!here", channel="elsewhere"))["status"] == "ignored"


async def test_uptime_follows_stream_events() -> None:
    async with ModuleHarness(custom_commands) as bot:
        await bot.reply("!command add uptime live for {uptime}", **BOSS)
        assert await bot.reply("!uptime") == "live for offline"
        await bot.event(EventType.stream_online, data={"started_at": "2020-01-01T00:00:00Z"})
        assert (await bot.reply("!uptime")).endswith("m")
        await bot.event(EventType.stream_offline)
        assert await bot.reply("!uptime") == "live for offline"


async def test_long_output_is_cut_to_the_platform_limit() -> None:
    async with ModuleHarness(custom_commands) as bot:
        await bot.reply("!command add echo {args} {args} {args} {args}", **BOSS)
        long = "x" * 200
        answer = await bot.reply(f"!echo {long}")
        assert len(answer) == 500 and answer.endswith("…")


async def test_the_readme_transcript() -> None:
    async with ModuleHarness(custom_commands) as bot:
        me = {"user": "alice", "role": "broadcaster"}
        for said, answer in (
            (
                "!command add discord Join us on Discord, {user}: https://discord.gg/waddle",
                "!discord added.",
            ),
            (
                "!command add hug --cooldown=10 {user} hugs {touser}! Hug #{count} today.",
                "!hug added (cooldown 10s).",
            ),
            ("!hug @bob", "alice hugs bob! Hug #1 today."),
            (
                "!command edit discord --role=subscriber Subscribers' Discord: "
                "https://discord.gg/waddle",
                "!discord updated (subscribers and above).",
            ),
            (
                "!command show hug",
                "!hug (cooldown 10s), used once: {user} hugs {touser}! Hug #{count} today.",
            ),
            (
                "!command add ping hello",
                "!ping is already a command of the core module; pick another name.",
            ),
            (
                "!command add roll {random 1-6",
                "The response is not a valid template: a '{' that is never closed (write '{{' for "
                "a brace) (at character 1).",
            ),
            ("!command remove hug", "!hug removed."),
        ):
            assert await bot.reply(said, **me) == answer, said
