"""Relational storage: SQLAlchemy 2 async models, engines with read replicas, Alembic migrations."""

from waddlebot.kernel.storage.database import Database

__all__ = ["Database"]
