"""Pick the object store the settings name: S3 when a bucket is set, else the data dir."""

from __future__ import annotations

from waddlebot.kernel.objects.base import ObjectStore
from waddlebot.kernel.objects.directory import DirectoryStore
from waddlebot.kernel.objects.s3 import S3Store
from waddlebot.kernel.settings import Settings

OBJECTS_DIR = "objects"
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
    return DirectoryStore(
        settings.data_dir / OBJECTS_DIR,
        secret=settings.resolved_secret_key,
        url_base=settings.public_url.rstrip("/") + SIGNED_PATH,
    )
