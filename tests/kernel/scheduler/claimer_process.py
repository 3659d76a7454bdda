"""One scheduler process for the two-process test: claims due jobs from the database named on
the command line and appends each job id it runs to its output file, until none is left."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from waddlebot.kernel.contracts import Action, ChatAction
from waddlebot.kernel.scheduler import Job, JobStore, Scheduler
from waddlebot.kernel.storage import Database


async def main(database_url: str, out: Path, owner: str) -> None:
    db = Database(database_url)
    ran = out.open("a", encoding="utf-8")

    async def record(job: Job) -> list[Action]:
        await asyncio.sleep(0.002)  # a module call takes a moment: let the other process claim
        ran.write(job.id + "\n")
        ran.flush()
        return [ChatAction(text=job.id)]

    store = JobStore(db, lease=30, max_attempts=3, retry_delay=1)
    scheduler = Scheduler(store, record, pubsub=None, poll_interval=0.1, batch=5, owner=owner)
    idle = 0
    try:
        while idle < 10:  # ~1 s with nothing claimed: every job is done
            results, settled = await scheduler.tick()
            idle = 0 if results or settled else idle + 1
            if not results:
                await asyncio.sleep(0.1)
    finally:
        ran.close()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
