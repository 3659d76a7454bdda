"""Saved links end to end: chat through the real pipeline, the URL check (schemes,
credentials, control characters, hosts), the per-community domain allow-list, permissions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.communities.helpers import key_for
from tests.modules.memories.support import API, memories_bot
from tests.support import LiveServer, bearer, chatter, community_of, set_role
from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.settings import Settings
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
        assert await bot.reply("!url help") == "Usage: !url NAME | !url list"
        assert await bot.reply("!help url") == (
            "!url: Show a saved link by name, or list them; !url help lists the rest. "
            "Usage: !url NAME | !url list | !url help"
        )
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


async def _configure(bot: LiveServer, community: str, config: dict[str, Any]) -> None:
    """Set the community's memories config as an install through the marketplace would."""
    from waddlebot.marketplace.catalogue import Catalogue
    from waddlebot.marketplace.models import ModuleInstall

    runtime = bot.app.state.runtime
    await Catalogue(runtime.db, runtime.backend).sync_builtins([memories])
    async with runtime.db.session() as session:
        session.add(
            ModuleInstall(
                community_id=community,
                module_name="memories",
                version=memories.version,
                config=config,
            )
        )


async def test_rest_urls(stack_settings: Settings) -> None:
    async with memories_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}/urls"
        mod = await chatter(bot, "mo")
        await set_role(bot, community, mod, "moderator")
        member = await chatter(bot, "mem")
        await set_role(bot, community, member, "member")
        as_mod = bearer(await key_for(bot, mod))
        as_member = bearer(await key_for(bot, member))

        created = await bot.client.post(
            base,
            json={"name": "Discord", "url": "https://discord.gg/x", "description": "chat"},
            headers=as_mod,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["name"], body["url"], body["description"], body["added_by"]) == (
            "discord",
            "https://discord.gg/x",
            "chat",
            mod,
        )
        assert body["added_by_name"] == "mo"
        assert await bot.texts("!url discord") == ["discord: https://discord.gg/x — chat"]
        listed = await bot.client.get(base, headers=as_member)
        assert [u["name"] for u in listed.json()] == ["discord"]
        one = await bot.client.get(f"{base}/DISCORD", headers=as_member)
        assert one.status_code == 200 and one.json()["url"] == "https://discord.gg/x"

        for payload, status, detail in (
            ({"name": "x", "url": "javascript:alert(1)"}, 422, "Only http:// and https://"),
            ({"name": "x", "url": "https://u:p@example.com"}, 422, "user name or password"),
            ({"name": "x", "url": "https://ex ample.com"}, 422, "spaces"),
            ({"name": "x y", "url": "https://example.com"}, 422, "is not a link name"),
            ({"name": "discord", "url": "https://example.com"}, 409, "already a link"),
            ({"name": "x", "url": "https://example.com", "extra": 1}, 422, ""),
            ({"name": "x"}, 422, ""),
        ):
            refused = await bot.client.post(base, json=payload, headers=as_mod)
            assert refused.status_code == status, (payload, refused.text)
            assert detail in str(refused.json()["detail"]), refused.text

        refused = await bot.client.post(
            base, json={"name": "y", "url": "https://example.com"}, headers=as_member
        )
        assert refused.status_code == 403
        assert (await bot.client.delete(f"{base}/discord", headers=as_member)).status_code == 403
        assert (await bot.client.get(base)).status_code == 401

        await _configure(bot, community, {"url_domains": ["example.com"]})
        allowed = await bot.client.post(
            base, json={"name": "site", "url": "https://www.example.com/"}, headers=as_mod
        )
        assert allowed.status_code == 201, allowed.text
        outside = await bot.client.post(
            base, json={"name": "other", "url": "https://evil.io/"}, headers=as_mod
        )
        assert outside.status_code == 422
        assert outside.json()["detail"] == (
            "Links to evil.io are not allowed here (allowed: example.com)."
        )

        assert (await bot.client.delete(f"{base}/discord", headers=as_mod)).status_code == 204
        assert (await bot.client.delete(f"{base}/discord", headers=as_mod)).status_code == 404
        assert await bot.texts("!url discord") == [
            "There is no link called discord here. Try !url list."
        ]
        operator = bearer(await key_for(bot, None))
        gone = await bot.client.post(
            f"{API}/communities/nope/urls",
            json={"name": "x", "url": "https://example.com"},
            headers=operator,
        )
        assert gone.status_code == 404 and gone.json() == {
            "detail": "There is no community 'nope'."
        }
