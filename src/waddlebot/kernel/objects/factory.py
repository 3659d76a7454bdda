"""Pick the object store the settings name: S3 when a bucket is set, else the data dir."""

from __future__ import annotations

from waddlebot.kernel.objects.base import ObjectStore
from waddlebot.kernel.objects.directory import DirectoryStore
from waddlebot.kernel.objects.s3 import S3Store
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.settings import Settings

OBJECTS_DIR = "objects"
logger = get_logger(__name__)

SIGNED_PATH = "/overlay/objects"
"""Where the app serves the directory store's signed URLs (the overlays service's route)."""


def open_object_store(settings: Settings) -> ObjectStore:
    """The configured store. Opening costs nothing: connections are made on first use."""
    if settings.s3_bucket:
        return S3Store(
            settings.s3_bucket,
            region=settings.s3_region or settings.aws_region,
            endpoint_url=settings.s3_endpoint_url,
        )
    if settings.redis_url:  # processes share Redis, but a data-dir directory is per machine
        log_event(
            logger,
            Category.SYSTEM,
            "object_store",
            "per_machine",
            level="warning",
            detail="files go to this machine's data dir; set WADDLEBOT_S3_BUCKET so every "
            "process sees the same uploads and backups",
        )
    return DirectoryStore(
        settings.data_dir / OBJECTS_DIR,
        secret=settings.resolved_secret_key,
        url_base=settings.public_url.rstrip("/") + SIGNED_PATH,
    )
