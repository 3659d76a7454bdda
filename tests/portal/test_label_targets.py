"""Labels on channels, modules and items from the Labels page: applied with expiry through
the labels core, refusals next to their field, removed with the page's remove button."""

from __future__ import annotations

from sqlalchemy import select

from tests.portal.conftest import MEMBER, csrf_of, logged_in, portal_bot
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity, LabelAssignment


async def test_labels_on_channels_modules_and_items(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        base = f"/portal/c/{bot.community_id}/labels"
        token = csrf_of((await browser.get(base)).text)
        made = await browser.post(
            base, data={"name": "Featured", "colour": "#123456", "csrf_token": token}
        )
        assert made.status_code == 303
        page = (await browser.get(base)).text
        assert 'for="channel_target"' in page and 'for="module_days"' in page
        assert 'for="item_target"' in page and '<option value="core">core</option>' in page
        async with bot.runtime.db.read_session() as session:
            entity = await session.scalar(
                select(Entity).where(Entity.community_id == bot.community_id)
            )
        assert entity is not None
        for kind, target, days in [
            ("channel", entity.id, "2"),
            ("module", "core", ""),
            ("item", "item:sword", "1.5"),
        ]:
            applied = await browser.post(
                f"{base}/apply/{kind}",
                data={
                    f"{kind}_label": "Featured",
                    f"{kind}_target": target,
                    f"{kind}_days": days,
                    "csrf_token": token,
                },
            )
            assert applied.status_code == 303, applied.text
            assert "label-applied" in applied.headers["location"]
        async with bot.runtime.db.read_session() as session:
            rows = {row.target_type: row for row in await session.scalars(select(LabelAssignment))}
        assert set(rows) == {"entity", "module", "item"}
        assert rows["entity"].expires_at is not None and rows["module"].expires_at is None
        listed = (await browser.get(base)).text
        assert f"channel playground · {entity.name}" in listed
        assert "module core" in listed and "item item:sword" in listed
        refusals = {
            "channel": ({"channel_target": "elsewhere"}, "channel_target"),
            "module": ({"module_target": "core", "module_days": "0"}, "module_days"),
            "item": ({"item_target": ""}, "item_target"),
        }
        for kind, (fields, field) in refusals.items():
            refused = await browser.post(
                f"{base}/apply/{kind}",
                data={f"{kind}_label": "Featured", **fields, "csrf_token": token},
            )
            assert refused.status_code == 422 and f'id="{field}-error"' in refused.text
        unknown = await browser.post(
            f"{base}/apply/item",
            data={"item_label": "Nope", "item_target": "x", "csrf_token": token},
        )
        assert unknown.status_code == 422 and 'id="item_label-error"' in unknown.text
        assert (await browser.post(f"{base}/apply/planet", data={})).status_code == 404
        removed = await browser.post(
            f"{base}/Featured/remove",
            data={"target_type": "entity", "target_id": entity.id, "csrf_token": token},
        )
        assert removed.status_code == 303
        assert "channel playground" not in (await browser.get(base)).text
        unsigned = await browser.post(
            f"{base}/apply/module", data={"module_label": "Featured", "module_target": "core"}
        )
        assert unsigned.status_code == 403
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(f"/portal/c/{bot.community_id}")
            posted = await member.post(
                f"{base}/apply/module",
                data={
                    "module_label": "x",
                    "module_target": "core",
                    "csrf_token": csrf_of(page.text),
                },
            )
            assert posted.status_code == 403
