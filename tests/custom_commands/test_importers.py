"""Each importer against a realistic export file (tests/custom_commands/fixtures): what is
translated and how, what is skipped and why; files that are not exports are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from waddlebot.custom_commands.importers import (
    Imported,
    Translation,
    UnreadableExport,
    read_export,
)
from waddlebot.kernel.contracts import Role

FIXTURES = Path(__file__).parent / "fixtures"


def by_name(translation: Translation) -> dict[str, Imported]:
    return {command.name: command for command in translation.imported}


def skipped(translation: Translation) -> dict[str, str]:
    return {entry.name: entry.reason for entry in translation.skipped}


def test_nightbot() -> None:
    result = read_export("nightbot", FIXTURES / "nightbot_commands.json")
    found = by_name(result)
    assert sorted(found) == ["discord", "hug", "modsonly", "time"]
    assert found["discord"].response == (
        "Join the Discord, {user}: https://discord.gg/waddle {{not a variable}}"
    )
    assert found["discord"].cooldown == 30
    hug = found["hug"]
    assert hug.response == "{user} hugs {touser}! That's hug number {count}. Reason: {args}"
    assert (hug.count, hug.role) == (41, Role.everyone)
    assert found["time"].response == "It is {time Europe/Berlin} for {channel}, live for {uptime}."
    assert (found["time"].role, found["time"].notes) == (
        Role.vip,
        ["Nightbot's 'regular' level became vip"],
    )
    assert (found["modsonly"].response, found["modsonly"].role) == (
        "Only mods see this, {1}.",
        Role.moderator,
    )
    assert skipped(result) == {
        "!followage": "uses $(urlfetch https://decapi.me/twitch/followage/$(channel)/$(user)), "
        "which WaddleBot has no equivalent for",
        "!8ball": "uses $(eval a=['Yes','No','Maybe'];a[Math.floor(Math.random()*a.length)]), "
        "which WaddleBot has no equivalent for",
    }


def test_streamelements() -> None:
    result = read_export("streamelements", FIXTURES / "streamelements_commands.json")
    found = by_name(result)
    assert sorted(found) == ["death", "dice", "hello"]
    dice = found["dice"]
    assert dice.response == "{user} rolled a d20 and got {random 1-20}! {pick nice|ouch|meh}"
    assert (dice.cooldown, dice.notes) == (15, ["its 15s per-user cooldown became a 15s cooldown"])
    death = found["death"]
    assert death.response == "{channel} has died {count} times. {args}"
    assert (death.role, death.cooldown) == (Role.moderator, 10)
    assert death.notes == ["the named counter 'deaths' became this command's count"]
    hello = found["hello"]
    assert (
        hello.response
        == "Hello {touser}, it is {time Europe/London} here and we are live for {uptime}"
    )
    assert (hello.role, hello.enabled) == (Role.vip, False)
    assert skipped(result) == {
        "!points2": "uses ${user.points}, which WaddleBot has no equivalent for",
        "!secret": "its type is 'whisper' (only say/reply)",
    }


def test_streamlabs_csv() -> None:
    result = read_export("streamlabs", FIXTURES / "streamlabs_commands.csv")
    found = by_name(result)
    assert sorted(found) == ["lurk", "roll", "vipcheck"]
    lurk = found["lurk"]
    assert lurk.response == "{user} is now lurking. Enjoy {{the}} stream!"
    assert (lurk.cooldown, lurk.count) == (30, 12)
    assert found["roll"].response == '{user} rolls {random 1-6} ({1} {args}), "good luck"'
    vip = found["vipcheck"]
    assert vip.response == "You are trusted {user}. Channel: {channel}. Count: {count}"
    assert (vip.role, vip.enabled, vip.count) == (Role.vip, False, 7)
    assert vip.notes == ["Streamlabs' Regular permission became vip"]
    assert skipped(result) == {
        "!slap": "uses $randnum(1;100), which WaddleBot has no equivalent for",
        "!so": "uses $game, which WaddleBot has no equivalent for",
        "!gamble": "it costs points, which WaddleBot does not have",
        "!special": "permission 'Min_Points' has no equivalent",
        "!broken": "its row has more cells than the header (an unquoted comma?)",
    }


def test_streamlabs_workbook_is_refused_with_advice(tmp_path: Path) -> None:
    workbook = tmp_path / "commands.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(UnreadableExport, match="Excel workbook: open it and save it as CSV"):
        read_export("streamlabs", workbook)


def phantombot_db(tmp_path: Path) -> Path:
    path = tmp_path / "phantombot.db"
    with sqlite3.connect(path) as connection:
        connection.executescript((FIXTURES / "phantombot.sql").read_text())
    return path


def test_phantombot_database(tmp_path: Path) -> None:
    result = read_export("phantombot", phantombot_db(tmp_path))
    found = by_name(result)
    assert sorted(found) == ["discord", "hug", "modcmd", "roll"]
    assert found["discord"].response == "Join us {user}: https://discord.gg/waddle (see you there)"
    assert found["discord"].cooldown == 15
    hug = found["hug"]
    assert hug.response == "{user} hugs {touser} for the {count} time! {args}"
    assert (hug.cooldown, hug.count, hug.role) == (20, 9, Role.everyone)
    assert (
        found["roll"].response == "@{user} rolled {random 1-6} and {random 1-100}. First word: {1}"
    )
    assert found["modcmd"].role == Role.moderator
    assert found["modcmd"].response == "Moderators only in {channel}, up {uptime}"
    assert skipped(result) == {
        "!points": "uses (points), which WaddleBot has no equivalent for",
        "!donors": "permission group 4 has no equivalent",
    }


def test_firebot_setup() -> None:
    result = read_export("firebot", FIXTURES / "firebot_setup.firebotsetup")
    found = by_name(result)
    assert sorted(found) == ["modroll", "socials"]
    socials = found["socials"]
    assert socials.response == (
        "Follow {channel} everywhere, {user}! Asked {count} times. {touser}: {1} / {args}"
    )
    assert (socials.cooldown, socials.count) == (10, 17)
    modroll = found["modroll"]
    assert (modroll.response, modroll.role, modroll.cooldown) == (
        "{user} rolled {random 1-100}",
        Role.moderator,
        30,
    )
    assert skipped(result) == {
        "!alert": "its effects are not one chat message (firebot:chat, firebot:playsound)",
        "!game": "uses $game[$streamer], which WaddleBot has no equivalent for",
    }


@pytest.mark.parametrize(
    ("tool", "content", "message"),
    [
        ("nightbot", b"not json", "is not JSON"),
        ("nightbot", b'{"status": 200}', "is not a Nightbot commands export"),
        ("streamelements", b'{"x": 1}', "is not a StreamElements commands export"),
        ("streamlabs", b"a,b\n1,2\n", "is not a Streamlabs Chatbot commands CSV"),
        ("phantombot", b"[]", "is not PhantomBot's database"),
        ("firebot", b"[1]", "a command without 'trigger'"),
    ],
)
def test_files_that_are_not_exports(
    tmp_path: Path, tool: str, content: bytes, message: str
) -> None:
    path = tmp_path / "export"
    path.write_bytes(content)
    with pytest.raises(UnreadableExport, match=message):
        read_export(tool, path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableExport, match="cannot read"):
        read_export("nightbot", tmp_path / "nope.json")
