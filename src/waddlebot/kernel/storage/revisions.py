"""Is the schema already at the shipped heads? Answered without importing Alembic.

Every start runs ``Database.migrate()``, and on a restart there is almost never anything to
apply; Alembic (with Mako) costs ~10 MiB and ~0.2 s to import just to find that out. The
migration files name their ``revision`` and ``down_revision`` as literals, so the heads (the
revisions no other file revises) are read from the files with :mod:`ast`; when the database's
``alembic_version`` rows are exactly those heads there is nothing to do, and in every other
case (a fresh database, a new file, a different revision asked for) Alembic runs as before.
A mistake here can only make Alembic run when it did not need to: a new file is a new head,
which no database has yet.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

VERSION_TABLE = "alembic_version"


@functools.cache
def shipped_heads(versions: Path) -> frozenset[str]:
    """The head revisions of the migration files in ``versions``."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        names = _literals(path)
        revision = names.get("revision")
        if not isinstance(revision, str):
            raise ValueError(f"{path.name}: no literal revision")
        revisions.add(revision)
        down = names.get("down_revision")
        if isinstance(down, str):
            revised.add(down)
        elif isinstance(down, tuple | list):
            revised.update(str(item) for item in down)
    return frozenset(revisions - revised)


def _literals(path: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


def applied(connection: Connection) -> frozenset[str]:
    """The revisions recorded in the database (empty when it was never migrated)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
    return frozenset(str(row[0]) for row in rows)
