"""``GET /api/stats/v1/communities/{id}`` over real HTTP on both stacks: members with a role
read it, others get 403, bad ranges 422; the numbers come from commands run in the playground."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.communities.helpers import (
    bearer,
    chatter,
    community_bot,
    community_of,
    key_for,
    person,
    set_role,
)
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import utcnow

API = "/api/stats/v1/communities"


async def test_members_read_their_community_usage(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"message_count_interval": 0.05})
    async with community_bot(settings) as bot:
        community = await community_of(bot)
        ada = await chatter(bot, "ada")
        await bot.texts("!ping", user="ada")
        await bot.texts("!ping", user="bob")
        await bot.texts("!help", user="ada")
        await set_role(bot, community, ada, "member")
        member = bearer(await key_for(bot, ada, ["communities:read"]))
        stranger = bearer(await key_for(bot, await person(bot, "eve"), ["communities:read"]))

        for _ in range(100):  # chatters are written in batches with the message counts
            answer = await bot.client.get(f"{API}/{community}", headers=member)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            if body["days"][-1]["chatters"] == 3:
                break
            await asyncio.sleep(0.05)
        today = utcnow().date()
        assert body["to"] == today.isoformat()
        assert body["from"] == (today - timedelta(days=29)).isoformat()
        assert len(body["days"]) == 30 and body["totals"]["commands"] == 3
        last = body["days"][-1]
        # someone, ada and bob spoke; ada and bob ran commands
        assert last["chatters"] == 3 and last["command_users"] == 2
        assert last["outcomes"]["ok"] == 3
        assert {"command": "!ping", "platform": "playground", "runs": 2} in last["by_command"]
        assert body["top_commands"][0] == {"command": "!ping", "module": "core", "runs": 2}
        assert body["modules"] == [{"module": "core", "runs": 3}]
        assert body["platforms"] == [{"platform": "playground", "runs": 3}]

        operator = bearer(await key_for(bot, None, ["communities:read"]))
        one_day = {"from": today.isoformat(), "to": today.isoformat()}
        answer = await bot.client.get(f"{API}/{community}", params=one_day, headers=operator)
        assert answer.status_code == 200 and len(answer.json()["days"]) == 1

        refused = await bot.client.get(f"{API}/{community}", headers=stranger)
        assert refused.status_code == 403
        assert (await bot.client.get(f"{API}/{community}")).status_code == 401
        for params in (
            {"from": "2026-13-01"},
            {"from": "2026-11-30", "to": "2026-11-01"},
            {"from": "2025-01-01", "to": "2026-11-30"},
        ):
            bad = await bot.client.get(f"{API}/{community}", params=params, headers=member)
            assert bad.status_code == 422, params
            assert bad.json()["detail"]
