"""``waddlebot stats COMMUNITY``: a community's usage statistics in the terminal (or JSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from waddlebot.kernel.commandline import for_community
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.stats.usage import Usage, checked_range, community_usage


def _day(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter("give a day as YYYY-MM-DD", param_hint=name) from None


def stats(
    community: Annotated[str, typer.Argument(help="Community id or (unique) name.")],
    start: Annotated[
        str | None, typer.Option("--from", help="First UTC day, YYYY-MM-DD (default: 30 days ago)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last UTC day (default: today)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The REST API's JSON answer")] = False,
) -> None:
    """Usage statistics: commands and chat per day, active chatters, top commands, modules."""
    first, last = _day(start, "--from"), _day(end, "--to")

    async def work(db: Database, _settings: Settings, community_id: str) -> Usage:
        days = checked_range(first.date() if first else None, last.date() if last else None)
        return await community_usage(db, community_id, *days)

    usage = for_community(community, work)
    if as_json:
        typer.echo(json.dumps(usage.as_dict(), indent=2))
        return
    typer.echo(render(usage))


def render(usage: Usage) -> str:
    """The terminal table: one line per day, then the top commands and the modules."""
    data = usage.as_dict()
    lines = [
        f"Usage {data['from']} .. {data['to']} (UTC): {usage.total} commands, "
        f"{usage.messages} chat messages",
        f"{'day':<10}  {'messages':>8}  {'chatters':>8}  {'commands':>8}  "
        f"{'ok':>6}  {'refused':>7}  {'failed':>6}",
    ]
    for day in data["days"]:
        outcomes = day["outcomes"]
        lines.append(
            f"{day['day']:<10}  {day['messages']:>8}  {day['chatters']:>8}  "
            f"{day['commands']:>8}  {outcomes['ok']:>6}  {outcomes['refused']:>7}  "
            f"{outcomes['failed']:>6}"
        )
    lines.append("Top commands:")
    lines += [
        f"  {row['command']:<24} {row['module'] or '-':<20} {row['runs']:>8}"
        for row in data["top_commands"]
    ] or ["  (none)"]
    lines.append("Modules:")
    lines += [f"  {row['module'] or '-':<24} {row['runs']:>8}" for row in data["modules"]] or [
        "  (none)"
    ]
    return "\n".join(lines)
