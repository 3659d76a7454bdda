"""Aliases and timers on the Commands page: an alias made in the portal answers in the
playground; timers are switched off and removed (their scheduled job cancelled)."""

from __future__ import annotations

from sqlalchemy import select

from tests.portal.conftest import MEMBER, csrf_of, logged_in, portal_bot
from waddlebot.kernel.scheduler.models import ScheduledJobRow
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity
from waddlebot.modules.timers import module as timers
from waddlebot.portal.aliases_timers import start_chain
from waddlebot.sdk.testing import ModuleHarness
from waddlebot.timers.manager import TimerManager
from waddlebot.timers.models import Timer


async def test_aliases_created_used_and_removed(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot:
        url = f"/portal/c/{bot.community_id}/commands"
        async with logged_in(bot) as owner:
            page = await owner.get(url)
            assert 'id="alias_name"' in page.text and 'for="alias_target"' in page.text
            token = csrf_of(page.text)
            saved = await owner.post(
                url + "/aliases",
                data={"alias_name": "h", "alias_target": "!help", "csrf_token": token},
            )
            assert saved.status_code == 303 and "alias-saved" in saved.headers["location"]
            answers = await bot.server.texts("!h", user="bob")
            assert answers and "!" in answers[0]
            bad = await owner.post(
                url + "/aliases",
                data={"alias_name": "x", "alias_target": "!nosuch", "csrf_token": token},
            )
            assert bad.status_code == 422 and "is not a command here" in bad.text
            assert 'aria-invalid="true"' in bad.text
            gone = await owner.post(url + "/aliases/h/delete", data={"csrf_token": token})
            assert gone.status_code == 303
            assert "!h" not in (await owner.get(url)).text.split('id="aliases-title"')[1]
            missing = await owner.post(url + "/aliases/h/delete", data={"csrf_token": token})
            assert missing.status_code == 404 and "There is no alias !h here." in missing.text
            refused = await owner.post(url + "/aliases", data={"alias_name": "y"})
            assert refused.status_code == 403  # no CSRF token
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(f"/portal/c/{bot.community_id}")
            posted = await member.post(
                url + "/aliases",
                data={"alias_name": "z", "alias_target": "!help", "csrf_token": csrf_of(page.text)},
            )
            assert posted.status_code == 403


async def test_timers_switched_off_and_removed(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot:
        async with bot.runtime.db.session() as session:
            entity = await session.scalar(
                select(Entity.id).where(Entity.community_id == bot.community_id)
            )
            assert entity is not None
            session.add(
                Timer(
                    community_id=bot.community_id,
                    entity_id=entity,
                    name="hydrate",
                    interval_seconds=600.0,
                    content="Drink water!",
                    enabled=True,
                    generation=1,
                    last_slot=0,
                    creator={"id": "bob", "name": "bob"},
                    created_by=bot.owner_id,
                    job_id="no-such-job",
                )
            )
        url = f"/portal/c/{bot.community_id}/commands"
        async with logged_in(bot) as owner:
            page = await owner.get(url)
            assert "Drink water!" in page.text and "/timers/hydrate/off" in page.text
            token = csrf_of(page.text)
            off = await owner.post(url + "/timers/hydrate/off", data={"csrf_token": token})
            assert off.status_code == 303 and "timer-off" in off.headers["location"]
            again = await owner.post(url + "/timers/hydrate/off", data={"csrf_token": token})
            assert again.status_code == 409 and "off already" in again.text
            on = await owner.post(url + "/timers/hydrate/on", data={"csrf_token": token})
            assert on.status_code == 303 and "timer-on" in on.headers["location"]
            async with bot.runtime.db.read_session() as session:
                timer = await session.scalar(select(Timer))
                assert timer is not None and timer.enabled and timer.generation == 2
                job = await session.get(ScheduledJobRow, timer.job_id)
            # the first slot of the chain, as `!timer on` schedules it, in the timer's channel
            assert job is not None and (job.module, job.handler) == ("timers", "fire")
            assert job.payload == {"timer": timer.id, "generation": 2, "slot": 1, "lines": 0}
            assert job.origin_entity_id == entity and job.status == "pending"
            odd = await owner.post(url + "/timers/hydrate/sideways", data={"csrf_token": token})
            assert odd.status_code == 404
            removed = await owner.post(url + "/timers/hydrate/delete", data={"csrf_token": token})
            assert removed.status_code == 303
        async with bot.runtime.db.read_session() as session:
            assert await session.scalar(select(Timer.id)) is None
            cancelled = await session.get(ScheduledJobRow, job.id)
            assert cancelled is not None and cancelled.status == "cancelled"


async def test_a_timer_switched_on_from_the_portal_fires_in_its_channel() -> None:
    """The chain the portal starts is the one ``!timer on`` starts: it speaks each interval."""
    owner = {"user": "streamer", "role": "broadcaster"}
    async with ModuleHarness(timers) as bot:
        await bot.reply("!timer add hi 1m Hi chat", **owner)
        await bot.reply("!timer off hi", **owner)
        assert await bot.run_due(advance=120) == []
        runtime = bot.runtime
        manager = TimerManager(
            runtime.db,
            runtime.backend,
            min_interval=runtime.settings.timer_min_interval,
            queue_max=runtime.settings.router_queue_max,
        )
        community = await bot.community_id()
        info, entity = await manager.switch_on_by(community, None, "hi")
        assert bot.router.jobs is not None
        await start_chain(bot.router.jobs, manager, community, info, entity)
        assert await bot.run_due(advance=59) == []
        assert await bot.run_due(advance=1) == ["Hi chat"]
        assert await bot.run_due(advance=60) == ["Hi chat"]
