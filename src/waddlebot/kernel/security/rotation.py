"""Re-encrypt every secret at rest under the newest encryption key.

Secrets sealed with :class:`SecretBox` live in columns named ``*_sealed`` (platform tokens,
workspace tokens, overlay tokens, …). Rotating a key means prepending a new one to
``WADDLEBOT_ENCRYPTION_KEYS`` (old ones still decrypt), running ``waddlebot admin
rotate-secrets``, then dropping the old key. The columns are found by reflecting the database,
so a feature that adds a sealed column is covered without registering it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, column, inspect, select, table

from waddlebot.kernel.security.secrets_box import SecretBox
from waddlebot.kernel.storage import Database

SEALED_SUFFIX = "_sealed"


@dataclass(frozen=True, slots=True)
class SealedTable:
    name: str
    primary_key: tuple[str, ...]
    sealed: tuple[str, ...]


def sealed_tables(connection: Connection) -> list[SealedTable]:
    """Tables with ``*_sealed`` columns, and their primary keys."""
    inspector = inspect(connection)
    found: list[SealedTable] = []
    for name in sorted(inspector.get_table_names()):
        columns = [info["name"] for info in inspector.get_columns(name)]
        sealed = tuple(c for c in columns if c.endswith(SEALED_SUFFIX))
        if sealed:
            primary_key = tuple(inspector.get_pk_constraint(name)["constrained_columns"])
            found.append(SealedTable(name, primary_key, sealed))
    return found


async def rotate_secrets(db: Database, box: SecretBox) -> dict[str, int]:
    """Re-encrypt every sealed value under the newest key, in one transaction.

    Returns rows rewritten per table. A value no configured key can read aborts the whole
    rotation (:class:`SecretUnreadable`) and changes nothing.
    """
    rewritten: dict[str, int] = {}
    async with db.engine.begin() as connection:
        for spec in await connection.run_sync(sealed_tables):
            target = table(spec.name, *(column(c) for c in (*spec.primary_key, *spec.sealed)))
            rows = (await connection.execute(select(target))).mappings().all()
            for row in rows:
                values = {c: box.rotate(row[c]) for c in spec.sealed if row[c]}
                if not values:
                    continue
                match = and_(*(target.c[k] == row[k] for k in spec.primary_key))
                await connection.execute(target.update().where(match).values(**values))
            rewritten[spec.name] = len(rows)
    return rewritten
