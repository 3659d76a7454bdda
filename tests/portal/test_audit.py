"""The audit page and its REST twin: decisions made through the portal show up (written in a
batch off the request path), filterable; members without members.manage see neither."""

from __future__ import annotations

import asyncio

import httpx

from tests.portal.conftest import MEMBER, csrf_of, logged_in, portal_bot
from waddlebot.kernel.settings import Settings


async def _records(client: httpx.AsyncClient, url: str, **params: str) -> list[dict[str, object]]:
    answer = await client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    records: list[dict[str, object]] = answer.json()["records"]
    return records


async def test_the_audit_page_and_endpoint_show_filtered_decisions(
    stack_settings: Settings,
) -> None:
    async with portal_bot(stack_settings) as bot:
        api = f"/api/communities/v1/communities/{bot.community_id}/audit"
        page_url = f"/portal/c/{bot.community_id}/audit"
        async with logged_in(bot) as owner:
            page = await owner.get(f"/portal/c/{bot.community_id}/members")
            changed = await owner.post(
                f"/portal/c/{bot.community_id}/roles/moderator",
                data={"permissions": "overlays.manage", "csrf_token": csrf_of(page.text)},
            )
            assert changed.status_code == 303
            async with asyncio.timeout(30):  # the writer gathers ~1 s before a batch; CI is busy
                while not await _records(owner, api, category="AUDIT", action="role_grant"):
                    await asyncio.sleep(0.1)
            audited = await _records(owner, api, category="AUDIT", action="role_grant")
            assert audited[0]["user_id"] == bot.owner_id and audited[0]["via"] == "portal"
            assert all(
                r["category"] == "AUTHZ" for r in await _records(owner, api, category="AUTHZ")
            )
            assert await _records(owner, api, user="nobody") == []
            assert await _records(owner, api, since="2999-01-01T00:00:00Z") == []
            bad = await owner.get(api, params={"category": "SYSTEM"})
            assert bad.status_code == 422 and "category" in bad.json()["detail"]

            shown = await owner.get(page_url, params={"category": "AUDIT"})
            assert shown.status_code == 200 and "role_grant" in shown.text
            assert 'href="/portal/c/' + bot.community_id + '/audit"' in shown.text
            nothing = await owner.get(page_url, params={"since": "2999-01-01"})
            assert "No records match." in nothing.text
            wrong = await owner.get(page_url, params={"until": "yesterday"})
            assert wrong.status_code == 422 and "Give a date like" in wrong.text
        async with logged_in(bot, MEMBER) as member:
            home = await member.get(f"/portal/c/{bot.community_id}")
            assert '/audit"' not in home.text
            assert (await member.get(page_url)).status_code == 403
            assert (await member.get(api)).status_code == 403
