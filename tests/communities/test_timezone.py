"""A community's time zone: `!timezone` in chat and PATCH over REST, the installation default,
refusals for unknown zones and for people without commands.manage."""

from __future__ import annotations

import pytest

from tests.communities.helpers import (
    API,
    bearer,
    chatter,
    community_bot,
    community_of,
    key_for,
    person,
    set_role,
)
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.settings_check import SettingInvalid


async def test_chat_shows_and_sets_the_zone(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        [shown] = await bot.texts("!timezone", user="viewer")
        assert shown.startswith("This community's time zone is UTC (it is ")

        assert await bot.texts("!timezone Europe/Berlin", user="viewer") == [
            "Setting the time zone needs the commands.manage permission."
        ]
        admin = await chatter(bot, "ada")
        await set_role(bot, community, admin, "admin")
        [changed] = await bot.texts("!timezone europe/berlin", user="ada")
        assert changed.startswith("Time zone set to Europe/Berlin (it is ")
        [unknown] = await bot.texts("!timezone Mars/Olympus", user="ada")
        assert "unknown time zone 'Mars/Olympus'" in unknown
        [shown] = await bot.texts("!timezone", user="viewer")
        assert "Europe/Berlin" in shown


async def test_rest_changes_the_zone_with_commands_manage(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        owner = await person(bot, "owner")
        await set_role(bot, community, owner, "owner")
        member = await person(bot, "member")
        await set_role(bot, community, member, "member")
        url = f"{API}/communities/{community}"

        answer = await bot.client.patch(
            url, json={"timezone": "America/New_York"}, headers=bearer(await key_for(bot, owner))
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["timezone"] == "America/New_York"

        refused = await bot.client.patch(
            url, json={"timezone": "UTC"}, headers=bearer(await key_for(bot, member))
        )
        assert refused.status_code == 403

        bad = await bot.client.patch(
            url, json={"timezone": "Nowhere/Land"}, headers=bearer(await key_for(bot, owner))
        )
        assert bad.status_code == 422
        assert "unknown time zone" in bad.json()["detail"]

        reset = await bot.client.patch(
            url, json={"timezone": None}, headers=bearer(await key_for(bot, owner))
        )
        assert reset.json()["timezone"] is None
        [shown] = await bot.texts("!timezone", user="viewer")
        assert "is UTC" in shown


def test_the_default_zone_setting_is_checked() -> None:
    assert Settings(default_timezone="europe/berlin").default_timezone == "Europe/Berlin"
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(default_timezone="Atlantis/Capital")
    assert SettingInvalid is not None
