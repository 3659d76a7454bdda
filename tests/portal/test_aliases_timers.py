"""Aliases and timers on the Commands page: an alias made in the portal answers in the
playground; timers are switched off and removed (their scheduled job cancelled)."""

from __future__ import annotations

from sqlalchemy import select

from tests.portal.conftest import MEMBER, csrf_of, logged_in, portal_bot
from waddlebot.kernel.scheduler.models import ScheduledJobRow
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity, PlatformIdentity
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


async def test_timers_created_in_the_portal(stack_settings: Settings) -> None:
    """The form makes the row and schedules its first slot; refusals sit next to the field;
    a !command timer needs the user's account on the channel's platform (it runs as it)."""
    async with portal_bot(stack_settings) as bot:
        async with bot.runtime.db.read_session() as session:
            entity = await session.scalar(
                select(Entity).where(Entity.community_id == bot.community_id)
            )
        assert entity is not None
        url = f"/portal/c/{bot.community_id}/commands"
        form = {
            "timer_name": "Hydrate",
            "timer_channel": entity.id,
            "timer_interval": "10m",
            "timer_lines": "3",
            "timer_content": "Drink water!",
        }
        async with logged_in(bot) as owner:
            page = await owner.get(url)
            assert 'for="timer_interval"' in page.text and f'value="{entity.id}"' in page.text
            token = csrf_of(page.text)
            made = await owner.post(url + "/timers", data={**form, "csrf_token": token})
            assert made.status_code == 303 and "timer-added" in made.headers["location"]
            async with bot.runtime.db.read_session() as session:
                timer = await session.scalar(select(Timer).where(Timer.name == "hydrate"))
                assert timer is not None and timer.job_id
                job = await session.get(ScheduledJobRow, timer.job_id)
            assert (timer.interval_seconds, timer.min_lines, timer.created_by) == (
                600.0,
                3,
                bot.owner_id,
            )
            assert job is not None and (job.module, job.handler, job.status) == (
                "timers",
                "fire",
                "pending",
            )
            assert job.origin_entity_id == entity.id
            twice = await owner.post(url + "/timers", data={**form, "csrf_token": token})
            assert (
                twice.status_code == 422 and "There is a timer hydrate here already." in twice.text
            )
            assert 'id="timer_name-error"' in twice.text
            slow = {**form, "timer_name": "x", "timer_interval": "soon", "csrf_token": token}
            bad = await owner.post(url + "/timers", data=slow)
            assert bad.status_code == 422 and 'id="timer_interval-error"' in bad.text
            assert "soon is not an interval" in bad.text and 'value="soon"' in bad.text
            command = {**form, "timer_name": "so", "timer_content": "!help", "csrf_token": token}
            unlinked = await owner.post(url + "/timers", data=command)
            assert unlinked.status_code == 422 and 'id="timer_content-error"' in unlinked.text
            assert "runs as your playground account" in unlinked.text
            elsewhere = {**form, "timer_name": "y", "timer_channel": "nope", "csrf_token": token}
            assert (await owner.post(url + "/timers", data=elsewhere)).status_code == 422
            async with bot.runtime.db.session() as session:
                session.add(
                    PlatformIdentity(
                        user_id=bot.owner_id,
                        platform=entity.platform,
                        platform_user_id="ada-1",
                        username="ada",
                    )
                )
            linked = await owner.post(url + "/timers", data=command)
            assert linked.status_code == 303
            async with bot.runtime.db.read_session() as session:
                so = await session.scalar(select(Timer).where(Timer.name == "so"))
            assert so is not None and so.creator["id"] == "ada-1"
            assert (await owner.post(url + "/timers", data=form)).status_code == 403  # no CSRF
            # edit: the form comes back filled in; saving starts a new chain, the old job goes
            editing = await owner.get(url + "/timers/hydrate")
            assert "Edit the timer hydrate" in editing.text and 'value="10m"' in editing.text
            assert 'name="timer_editing"' in editing.text and "Drink water!" in editing.text
            changed = {
                **form,
                "timer_name": "hydrate",
                "timer_interval": "5m",
                "timer_lines": "0",
                "timer_content": "Stretch!",
                "timer_editing": "1",
                "csrf_token": token,
            }
            saved = await owner.post(url + "/timers", data=changed)
            assert saved.status_code == 303 and "timer-edited" in saved.headers["location"]
            async with bot.runtime.db.read_session() as session:
                edited = await session.scalar(select(Timer).where(Timer.name == "hydrate"))
                assert edited is not None and edited.job_id and edited.job_id != timer.job_id
                old_job = await session.get(ScheduledJobRow, timer.job_id)
                new_job = await session.get(ScheduledJobRow, edited.job_id)
            assert (edited.interval_seconds, edited.content, edited.generation) == (
                300.0,
                "Stretch!",
                2,
            )
            assert old_job is not None and old_job.status == "cancelled"
            assert new_job is not None and new_job.payload["generation"] == 2
            unknown = await owner.post(url + "/timers", data={**changed, "timer_name": "nope"})
            assert unknown.status_code == 422 and "There is no timer nope here." in unknown.text
            assert (await owner.get(url + "/timers/nope")).status_code == 404
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(f"/portal/c/{bot.community_id}")
            posted = await member.post(
                url + "/timers", data={**form, "timer_name": "m", "csrf_token": csrf_of(page.text)}
            )
            assert posted.status_code == 403
