"""Object storage: one interface (:class:`ObjectStore`), a directory and an S3 backend."""

from waddlebot.kernel.objects.base import (
    BadKey,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    check_key,
)
from waddlebot.kernel.objects.directory import DirectoryStore
from waddlebot.kernel.objects.factory import open_object_store
from waddlebot.kernel.objects.s3 import S3Store

__all__ = [
    "BadKey",
    "DirectoryStore",
    "ObjectInfo",
    "ObjectStore",
    "S3Store",
    "StoredObject",
    "check_key",
    "open_object_store",
]
