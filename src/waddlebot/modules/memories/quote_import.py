"""Reading another bot's quote export (CSV) into drafts for :meth:`QuoteBook.add_many`.

The header row names the columns, in any order, case and spacing ignored (``Added By`` =
``added_by`` = ``addedby``). Accepted names:

- text (required): ``text``, ``quote``, ``quote text``, ``message``, ``content``, ``response``
- author: ``author``, ``user``, ``username``, ``user name``, ``added by``, ``created by``,
  ``creator``, ``by``, ``name``, ``submitter``
- date: ``date``, ``created``, ``created at``, ``added``, ``added at``, ``date added``,
  ``timestamp``, ``time``, ``datetime``, ``quoted at``
- game: ``game``, ``category``, ``game name``, ``stream game``
- ignored on purpose: ``id``, ``#``, ``number``, ``index``, ``quote id``, ``quote number``
  (quotes get the community's next numbers, in file order)

Other columns are ignored and named in the report. Separators ``,`` ``;`` and tab are
recognised; UTF-8 with or without a byte-order mark (Excel's) is read.

Dates: ISO 8601 (``2026-11-30``, ``2026-11-30T18:05:00Z``, ``2026-11-30 18:05``),
``2026/11/30``, ``11/30/2026`` (US order; ``30/11/2026`` when the first number is over 12),
``30.11.2026``, ``Nov 30, 2026`` / ``November 30 2026`` / ``30 Nov 2026``, each optionally
followed by a time (``18:05``, ``6:05 PM``), and Unix timestamps in seconds or
milliseconds. A date without a zone is read in the community's time zone; an empty date
means "now".

Policy: a row that cannot be used (no text, text too long, control characters, a date we
cannot read, a name or game too long, more fields than the header, the exact text of a
quote the community already has or an earlier row) is skipped and reported with its line
number; every other row is stored in one transaction — all of them, or (on a database
error) none.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from waddlebot.kernel.errors import Refusal
from waddlebot.modules.memories.models_quotes import GAME_MAX, NAME_MAX
from waddlebot.modules.memories.quote_book import QuoteDraft, clean_short, clean_text

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000

COLUMNS: dict[str, tuple[str, ...]] = {
    "text": ("text", "quote", "quotetext", "message", "content", "response"),
    "author": (
        "author",
        "user",
        "username",
        "addedby",
        "createdby",
        "creator",
        "by",
        "name",
        "submitter",
    ),
    "date": (
        "date",
        "created",
        "createdat",
        "added",
        "addedat",
        "dateadded",
        "timestamp",
        "time",
        "datetime",
        "quotedat",
    ),
    "game": ("game", "category", "gamename", "streamgame"),
}
IGNORED = ("id", "#", "number", "index", "quoteid", "quotenumber", "no")
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
TIME = r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?"
NUMERIC = re.compile(r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})" + TIME + r"$", re.IGNORECASE)
MONTH_FIRST = re.compile(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + TIME + "$", re.I)
DAY_FIRST = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})" + TIME + "$", re.I)
EPOCH = re.compile(r"^\d{9,13}$")


class UnreadableExport(Exception):
    """The file cannot be read as a quote export at all (nothing is imported)."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    draft: QuoteDraft


@dataclass
class ImportPlan:
    """What a file holds: usable rows, skipped rows (line, reason), ignored columns."""

    rows: list[Row] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.strip().lower())


def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        key = _key(name)
        role = next((role for role, names in COLUMNS.items() if key in names), None)
        if role is not None and role not in found:
            found[role] = index
        elif key not in IGNORED and name.strip():
            ignored.append(name.strip())
    if "text" not in found:
        raise UnreadableExport(
            "the header row has no text column; name it one of: " + ", ".join(COLUMNS["text"])
        )
    return found, ignored


def _time(match: re.Match[str], first: int) -> tuple[int, int, int]:
    hour_text, minute, second, meridiem = match.group(first, first + 1, first + 2, first + 3)
    if hour_text is None:
        return 0, 0, 0
    hour = int(hour_text)
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError("hour")
        hour = hour % 12 + (12 if meridiem.lower().startswith("p") else 0)
    return hour, int(minute), int(second or 0)


def parse_date(text: str, zone: ZoneInfo) -> datetime:
    """A date in one of the documented forms, as an aware datetime; ValueError otherwise."""
    value = text.strip()
    if EPOCH.match(value):
        seconds = int(value) / (1000 if len(value) > 11 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    iso = value.replace("Z", "+00:00").replace("z", "+00:00")
    if re.match(r"^\d{4}-\d{2}-\d{2}", iso):
        try:
            parsed = datetime.fromisoformat(iso)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    numeric = NUMERIC.match(value)
    if numeric:
        a, b, c = (int(part) for part in numeric.group(1, 2, 3))
        if len(numeric.group(1)) == 4:
            year, month, day = a, b, c
        elif len(numeric.group(3)) == 4:
            year = c
            month, day = (b, a) if a > 12 or "." in value[:6] else (a, b)
        else:
            raise ValueError("year")
        return datetime(year, month, day, *_time(numeric, 4), tzinfo=zone)
    worded = MONTH_FIRST.match(value)
    if worded and worded.group(1).lower() in MONTHS:
        month = MONTHS[worded.group(1).lower()]
        return datetime(
            int(worded.group(3)), month, int(worded.group(2)), *_time(worded, 4), tzinfo=zone
        )
    worded = DAY_FIRST.match(value)
    if worded and worded.group(2).lower() in MONTHS:
        month = MONTHS[worded.group(2).lower()]
        return datetime(
            int(worded.group(3)), month, int(worded.group(1)), *_time(worded, 4), tzinfo=zone
        )
    raise ValueError(value)


def load_export(path: Path) -> str:
    """The export's text (read before any connection, so a bad file fails fast)."""
    if not path.is_file():
        raise UnreadableExport(f"{path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableExport(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise UnreadableExport(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableExport(
            f"{path} is not UTF-8 text (byte {error.start}); save it as UTF-8 CSV"
        ) from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def read_quotes(
    text: str, zone: ZoneInfo, existing: set[str] | None = None, now: datetime | None = None
) -> ImportPlan:
    """Read an export's text (see the module docstring); ``existing``: texts the community
    already has, skipped as duplicates."""
    if not text.strip():
        raise UnreadableExport("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = next(reader)
    except csv.Error as error:
        raise UnreadableExport(f"line 1: {error}") from None
    columns, ignored = _columns(header)
    plan = ImportPlan(ignored_columns=ignored)
    seen = {t.lower() for t in existing or set()}
    moment = now or datetime.now(UTC)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise UnreadableExport(f"line {start}: {error}") from None
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not rows
        if len(plan.rows) + len(plan.skipped) >= MAX_ROWS:
            raise UnreadableExport(f"more than {MAX_ROWS} rows; split the file")
        reason, row = _row(record, header, columns, zone, seen, moment)
        if row is None:
            plan.skipped.append((start, reason))
        else:
            seen.add(row.text.lower())
            plan.rows.append(Row(start, row))
    return plan


def _row(
    record: list[str],
    header: list[str],
    columns: dict[str, int],
    zone: ZoneInfo,
    seen: set[str],
    now: datetime,
) -> tuple[str, QuoteDraft | None]:
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
        return f"{len(record)} fields but the header has {len(header)}", None

    def cell(role: str) -> str:
        index = columns.get(role)
        return record[index].strip() if index is not None and index < len(record) else ""

    try:
        text = clean_text(cell("text"))
        author = clean_short(cell("author"), NAME_MAX, "author")
        game = clean_short(cell("game"), GAME_MAX, "game")
    except Refusal as refusal:
        return refusal.message, None
    date = cell("date")
    quoted_at = now
    if date:
        try:
            quoted_at = parse_date(date, zone)
        except (ValueError, OverflowError, OSError):
            return f"{date[:40]!r} is not a date I can read (try 2026-11-30)", None
        if quoted_at > now + timedelta(days=1):
            return f"the date {date[:40]!r} is in the future", None
    if text.lower() in seen:
        return "the same quote is already there", None
    return "", QuoteDraft(text=text, added_by_name=author, game=game, quoted_at=quoted_at)
