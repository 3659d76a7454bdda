"""One durable scheduler: jobs in the database, claimed with leases, run by every router
process through the normal module path (see ``router/scheduled.py``)."""

from waddlebot.kernel.scheduler.runner import JobFailed, JobResult, Scheduler
from waddlebot.kernel.scheduler.store import WAKE_CHANNEL, Job, JobState, JobStore

__all__ = ["WAKE_CHANNEL", "Job", "JobFailed", "JobResult", "JobState", "JobStore", "Scheduler"]
