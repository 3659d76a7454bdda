"""Scheduled jobs through the router's module path: a remote (HTTP) module receives the run
with ``ctx.job`` and its replies land on the origin platform's outbound queue as unsolicited
messages; Lambda and OpenWhisk handlers dispatch scheduled requests the same way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx

from tests.module_support import module_request
from tests.support import serve_asgi
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import (
    ChatAction,
    EventType,
    ModuleResponse,
    OutboundMessage,
    ScheduledJob,
)
from waddlebot.kernel.contracts.names import OUTBOUND_GROUP, outbound_queue
from waddlebot.kernel.scheduler import JobStore, Scheduler
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.router.dispatch import ActionDispatcher
from waddlebot.router.executors import HttpExecutor
from waddlebot.router.registry import CommandTable
from waddlebot.router.scheduled import ScheduledRuns
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.adapters import http_app, lambda_handler, openwhisk_action
from waddlebot.sdk.scheduling import JobOrigin, JobSpec

SECRET = "wbm_scheduled-secret"
remote = Module("remote", version="1.0.0")


@remote.on_schedule("nudge")
async def nudge(ctx: Context) -> None:
    assert ctx.job is not None and ctx.event.type is EventType.scheduled
    ctx.reply(f"nudge #{ctx.job.payload['n']} in {ctx.event.channel_id}")


@remote.command("later")
async def later(ctx: Context) -> None:
    try:
        await ctx.schedule("nudge", after=1)
    except CommandError as refusal:
        ctx.reply(refusal.message)


async def test_an_http_module_receives_a_scheduled_run(
    database: Database, backend: Backend
) -> None:
    async with database.session() as session:
        session.add(Community(id="c1", name="Penguins"))
    jobs = JobStore(database, lease=30, max_attempts=2, retry_delay=1)
    async with serve_asgi(http_app(remote, SECRET)) as url, httpx.AsyncClient() as client:
        runs = ScheduledRuns(
            executors={"remote": HttpExecutor("remote", f"{url}/", SECRET, client)},
            table=CommandTable(),
            dispatcher=ActionDispatcher(backend, outbound_max=100),
            kv=backend.kv,
            module_timeout=5,
        )
        await jobs.schedule(
            JobSpec(
                module="remote",
                community_id="c1",
                handler="nudge",
                due_at=datetime.now(UTC),
                payload={"n": 7},
                origin=JobOrigin(platform="twitch", server_id="123", channel_id="123"),
            )
        )
        [result] = await Scheduler(jobs, runs, pubsub=None, poll_interval=5).run_due()
    assert result.status == "done"
    [delivery] = await backend.queues.take(outbound_queue("twitch"), OUTBOUND_GROUP, "t", block=1)
    message = OutboundMessage.model_validate_json(delivery.payload)
    assert (message.kind, message.channel_id, message.text) == ("chat", "123", "nudge #7 in 123")
    assert message.reply_to is None and message.user_id is None


def scheduled_request() -> dict[str, object]:
    request = module_request(None)
    job = ScheduledJob(id="j1", handler="nudge", payload={"n": 3}, due_at=datetime.now(UTC))
    event = request.event.model_copy(update={"type": EventType.scheduled, "user": None})
    scheduled = request.model_copy(update={"job": job, "event": event, "user": None})
    return json.loads(scheduled.model_dump_json())  # type: ignore[no-any-return]


def test_lambda_and_openwhisk_modules_run_scheduled_handlers() -> None:
    expected = [ChatAction(text="nudge #3 in ch")]
    answer = ModuleResponse.model_validate(lambda_handler(remote)(scheduled_request(), None))
    assert answer.actions == expected
    result = openwhisk_action(remote)({**scheduled_request(), "__ow_method": "post"})
    assert ModuleResponse.model_validate(result).actions == expected


def test_a_remote_module_cannot_schedule_yet() -> None:
    event = json.loads(module_request("later").model_dump_json())
    answer = ModuleResponse.model_validate(lambda_handler(remote)(event, None))
    assert answer.actions == [
        ChatAction(text="Scheduling is not available where this module runs.")
    ]
