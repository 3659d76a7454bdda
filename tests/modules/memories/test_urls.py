"""Saved links end to end: chat through the real pipeline, the URL check (schemes,
credentials, control characters, hosts), the per-community domain allow-list, permissions."""

from __future__ import annotations

import pytest

from waddlebot.kernel.errors import Invalid
from waddlebot.modules.memories import module as memories
from waddlebot.modules.memories.url_book import check_url, clean_domains, clean_name
from waddlebot.sdk.testing import ModuleHarness

MOD = {"user": "mo", "role": "moderator"}


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.gg/abc",
        "http://example.com",
        "HTTPS://Example.COM/path?q=1#frag",
        "https://sub.example.co.uk:8443/a/b",
        "https://bücher.example/",
        "http://127.0.0.1:8080/x",
        "https://[2001:db8::1]/",
    ],
)
def test_good_urls(url: str) -> None:
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("javascript:alert(1)", "Only http:// and https://"),
        ("JaVaScRiPt://example.com/%0aalert(1)", "Only http:// and https://"),
        ("data:text/html;base64,PHNjcmlwdD4=", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("ftp://example.com/", "Only http:// and https://"),
        ("example.com", "Only http:// and https://"),
        ("//example.com/x", "Only http:// and https://"),
        ("https://user:pass@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https://good.com\\@evil.com/", "backslashes"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\x00", "control characters"),
        ("https://example.com/\nx", "control characters"),
        ("https://example.com/\x7f", "control characters"),
        ("https://exa\u200bmple.com/", "control characters"),
        ("https://example.com/\u202egnp.exe", "control characters"),
        ("https://example.com/a\u3000b", "spaces"),
        ("https:example.com", "not a valid URL"),
        ("https:///path", "no host"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://exa_mple.com/", "not a valid host name"),
        ("https://-bad-.com/", "not a valid host name"),
        ("https://" + "a" * 2000 + ".com", "at most 2000"),
        ("", "needs a URL"),
    ],
)
def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(Invalid, match=why):
        check_url(url)


def test_domain_allow_list() -> None:
    allowed = clean_domains(["Example.com", "*.twitch.tv", " ", 5, "discord.gg."])
    assert allowed == ["example.com", "twitch.tv", "discord.gg"]
    assert check_url("https://example.com/x", allowed)
    assert check_url("https://www.EXAMPLE.com/x", allowed)
    assert check_url("https://clips.twitch.tv/x", allowed)
    for bad in ("https://notexample.com/", "https://example.com.evil.io/", "https://gg/"):
        with pytest.raises(Invalid, match="are not allowed here"):
            check_url(bad, allowed)
    assert clean_domains(None) == []


def test_names() -> None:
    assert clean_name(" Discord ") == "discord"
    for bad, why in (("add", "uses itself"), ("a b", "not a link name"), ("-x", "not a link")):
        with pytest.raises(Invalid, match=why):
            clean_name(bad)


async def test_urls_in_chat() -> None:
    async with ModuleHarness(memories) as bot:
        assert await bot.reply("!url list") == "No links saved here yet."
        assert await bot.reply("!url add discord https://discord.gg/abc") == (
            "@alice !url add needs the memories.manage permission here."
        )
        assert await bot.reply(
            "!url add Discord https://discord.gg/abc  Our   Discord server", **MOD
        ) == ("Saved discord: https://discord.gg/abc")
        assert await bot.reply("!url add merch https://shop.example.com", **MOD) == (
            "Saved merch: https://shop.example.com"
        )
        assert await bot.reply("!url discord") == (
            "discord: https://discord.gg/abc — Our Discord server"
        )
        assert await bot.reply("!url MERCH") == "merch: https://shop.example.com"
        assert await bot.reply("!url list") == "Links: discord, merch. Type !url NAME."
        assert await bot.reply("!url add discord https://x.example", **MOD) == (
            "There is already a link called discord; remove it first."
        )
        assert await bot.reply("!url add evil javascript:alert(1)", **MOD) == (
            "Only http:// and https:// links can be saved."
        )
        assert await bot.reply("!url add evil https://a:b@example.com", **MOD) == (
            "Links with a user name or password in them cannot be saved."
        )
        assert await bot.reply("!url add x", **MOD) == "Usage: !url add NAME URL [description]"
        assert await bot.reply("!url nope") == "There is no link called nope here. Try !url list."
        assert await bot.reply("!url") == "Usage: !url NAME | !url list"
        assert await bot.reply("!url", **MOD) == (
            "Usage: !url NAME | !url list | !url add NAME URL [description] | !url remove NAME"
        )
        assert await bot.reply("!url remove merch") == (
            "@alice !url remove needs the memories.manage permission here."
        )
        assert await bot.reply("!url remove merch", **MOD) == "Link merch removed."
        assert await bot.reply("!url remove merch", **MOD) == "There is no link called merch here."
        assert await bot.reply("!url list") == "Links: discord. Type !url NAME."


async def test_domain_allow_list_from_module_config() -> None:
    async with ModuleHarness(memories, config={"url_domains": ["example.com"]}) as bot:
        assert await bot.reply("!url add a https://www.example.com/a", **MOD) == (
            "Saved a: https://www.example.com/a"
        )
        assert await bot.reply("!url add b https://evil.io/b", **MOD) == (
            "Links to evil.io are not allowed here (allowed: example.com)."
        )
