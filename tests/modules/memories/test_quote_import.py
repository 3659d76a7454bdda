"""``waddlebot quotes import``: the CSV reader (column names, separators, date forms, the
skip policy with line numbers) and the command itself (Typer, in a worker thread) against a
real SQLite data directory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from waddlebot.cli.main import app
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.modules.memories.quote_book import QuoteBook
from waddlebot.modules.memories.quote_import import (
    UnreadableExport,
    load_export,
    parse_date,
    read_quotes,
)

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("2026-11-30T18:05:00Z", datetime(2026, 11, 30, 18, 5, tzinfo=UTC)),
        ("2026-11-30 18:05", datetime(2026, 11, 30, 18, 5, tzinfo=BERLIN)),
        ("2026/11/30", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("11/30/2026", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("03/04/2026", datetime(2026, 3, 4, tzinfo=BERLIN)),  # US order when ambiguous
        ("30/11/2026", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("30.11.2026", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("04.03.2026", datetime(2026, 3, 4, tzinfo=BERLIN)),  # dotted dates are day first
        ("11/30/2026 6:05 PM", datetime(2026, 11, 30, 18, 5, tzinfo=BERLIN)),
        ("11/30/2026 12:10 am", datetime(2026, 11, 30, 0, 10, tzinfo=BERLIN)),
        ("Nov 30, 2026", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("November 30th 2026 18:05", datetime(2026, 11, 30, 18, 5, tzinfo=BERLIN)),
        ("30 Nov 2026", datetime(2026, 11, 30, tzinfo=BERLIN)),
        ("1780000000", datetime.fromtimestamp(1780000000, UTC)),
        ("1780000000123", datetime.fromtimestamp(1780000000.123, UTC)),
    ],
)
def test_dates(text: str, expected: datetime) -> None:
    assert parse_date(text, BERLIN) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-13-01", "31/31/2026", "Smarch 3, 2026", "1/2/26", "13:00 PM 1/2"]
)
def test_bad_dates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text, UTC_ZONE)


def write(tmp_path: Path, text: str, name: str = "quotes.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_nightbot_style_with_bad_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Quote,Author,Date,Game\n"
        '"I am the captain now",bob,2026-01-02,Celeste\n'
        ",nobody,2026-01-02,\n"
        '"a quote with, a comma\nand a line break",amy,yesterday,\n'
        "\n"
        '"plain",,,\n'
        '"plain",dup,,\n'
        '"ctrl \x01 char",x,,\n'
        '"future",x,2099-01-01,\n'
        '"x","y","2026-01-01","g","extra"\n',
        bom=True,
    )
    plan = read_quotes(load_export(path), UTC_ZONE, {"ALREADY HERE"}, now=NOW)
    assert [(row.line, row.draft.text) for row in plan.rows] == [
        (2, "I am the captain now"),
        (7, "plain"),
    ]
    first = plan.rows[0].draft
    assert (first.added_by_name, first.game, first.quoted_at) == (
        "bob",
        "Celeste",
        datetime(2026, 1, 2, tzinfo=UTC_ZONE),
    )
    assert plan.rows[1].draft.quoted_at == NOW  # no date: now
    assert plan.skipped == [
        (3, "A quote needs some text."),
        (4, "'yesterday' is not a date I can read (try 2026-11-30)"),
        (8, "the same quote is already there"),
        (9, "A quote cannot contain control characters."),
        (10, "the date '2099-01-01' is in the future"),
        (11, "5 fields but the header has 4"),
    ]


def test_other_bots_headers(tmp_path: Path) -> None:
    streamelements = write(
        tmp_path,
        "id;quote;user;category;createdAt\n1;hello there;obi;Star Wars;2026-05-04T10:00:00.000Z\n",
        "se.csv",
    )
    plan = read_quotes(load_export(streamelements), UTC_ZONE)
    assert plan.skipped == [] and plan.ignored_columns == []
    draft = plan.rows[0].draft
    assert (draft.text, draft.added_by_name, draft.game) == ("hello there", "obi", "Star Wars")
    assert draft.quoted_at == datetime(2026, 5, 4, 10, tzinfo=UTC)

    phantombot = write(
        tmp_path, "ID\tUser\tQuote Text\tDate\tGame\tViews\n7\tpb\tgg\t11/30/2026\tTetris\t3\n"
    )
    plan = read_quotes(load_export(phantombot), UTC_ZONE)
    assert [r.draft.text for r in plan.rows] == ["gg"]
    assert plan.ignored_columns == ["Views"]

    streamlabs = write(tmp_path, "Text,Added By,Game Name,Date Added\nhi,Sam,Just Chatting,\n")
    draft = read_quotes(load_export(streamlabs), UTC_ZONE).rows[0].draft
    assert (draft.text, draft.added_by_name, draft.game) == ("hi", "Sam", "Just Chatting")

    for body, message in (
        ("author,date\nx,y\n", "no text column"),
        ("", "the file is empty"),
    ):
        with pytest.raises(UnreadableExport, match=message):
            read_quotes(load_export(write(tmp_path, body, "bad.csv")), UTC_ZONE)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(UnreadableExport, match="not UTF-8"):
        read_quotes(load_export(latin), UTC_ZONE)


async def waddlebot(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_the_import_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "WADDLEBOT_DATA_DIR": str(tmp_path / "data"),
        "WADDLEBOT_SECRET_KEY": "cli-secret",
        "WADDLEBOT_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("WADDLEBOT_DATABASE_URL", "WADDLEBOT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    db = Database(settings.resolved_database_url)
    await db.migrate()
    try:
        async with db.session() as session:
            community = Community(name="Penguins", timezone="America/New_York")
            session.add(community)
        book = QuoteBook(db)
        await book.add_many(community.id, [])  # nothing: no transaction, no counter
        path = write(
            tmp_path,
            "text,author,date,game\n"
            "first one,bob,2026-01-02 20:00,Celeste\n"
            "second one,amy,,\n"
            "bad one,amy,not a date,\n",
        )

        dry = await waddlebot("quotes", "import", str(path), "--community", "penguins", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "Dry run: nothing was stored." in dry.output
        assert "line 4: 'not a date' is not a date I can read" in dry.output
        assert await book.count(community.id) == 0

        done = await waddlebot("quotes", "import", str(path), "--community", "Penguins")
        assert done.exit_code == 0, done.output
        assert done.stdout.splitlines() == [
            f"Imported 2 quote(s) into {community.id} as #1–#2.",
            "Skipped 1 row(s):",
            "  line 4: 'not a date' is not a date I can read (try 2026-11-30)",
        ]
        first = await book.get(community.id, 1)
        assert (first.text, first.added_by, first.added_by_name, first.game) == (
            "first one",
            None,
            "bob",
            "Celeste",
        )
        # a naive date is read in the community's time zone (20:00 New York = 01:00 UTC)
        assert first.quoted_at.astimezone(UTC) == datetime(2026, 1, 3, 1, tzinfo=UTC)

        again = await waddlebot("quotes", "import", str(path), "--community", community.id)
        assert again.exit_code == 1  # nothing new: every row skipped
        assert "line 2: the same quote is already there" in again.output
        assert await book.count(community.id) == 2

        for args, message in (
            (["--community", "nobody"], "no community with id or name 'nobody'"),
            (["--community", "penguins", "--dry-run"], "no text column"),
        ):
            bad = write(tmp_path, "who,when\nx,y\n", "bad.csv")
            failed = await waddlebot("quotes", "import", str(bad), *args)
            assert failed.exit_code == 1 and message in failed.output, failed.output
        missing = await waddlebot(
            "quotes", "import", str(tmp_path / "nope.csv"), "--community", "penguins"
        )
        assert missing.exit_code == 1 and "is not a file" in missing.output
        added = await book.add_many(community.id, [])
        assert added == []
        later = await waddlebot(
            "quotes",
            "import",
            str(write(tmp_path, "quote\nthird\n", "more.csv")),
            "--community",
            "penguins",
        )
        assert later.exit_code == 0 and "as #3." in later.stdout
    finally:
        await db.close()
