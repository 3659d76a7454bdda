"""Side by side in one run: WaddleBot's playground against opsdroid and errbot.

Numbers from different days or machines do not compare, so this runs the peers' benchmark
(``../shared/peer-bench``: opsdroid 0.31 over its websocket, errbot 6.2's test backend) and
ours in alternating rounds — the peers once, ours once, ``--reps`` times — and prints the
medians' ratios: a shared machine whose speed drifts over minutes slows both alike. The peers
are installed once into a scratch folder (two venvs, from the package index); later runs reuse
them::

    make bench-compare                       # N=2000 REPS=3 (about 8 minutes on 2 cores)
    .venv/bin/python benchmarks/compare.py --messages 500 --reps 1

Pairs compared: a bot with one command (opsdroid: one skill, errbot: no filler commands)
and with 100 more that never match (100 filler skills / commands / custom commands); one
message in flight (serial) and ten (pipelined: opsdroid over ten websockets, errbot's queue,
ours ten frames in flight on the playground WebSocket, or ten HTTP requests with
``--transport http``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is importable too

from benchmarks.cli import parser_for, write_json  # noqa: E402

PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_PEERS = ROOT.parent / "shared" / "peer-bench"
DEFAULT_SCRATCH = Path(tempfile.gettempdir()) / "waddlebot-peer-bench"
EXTRA_COMMANDS = (0, 100)
MODES = {1: "serial", 10: "pipelined"}


@dataclass(frozen=True)
class Row:
    """One scenario: each bot's median messages per second (None: not measured)."""

    extra_commands: int
    mode: str
    waddlebot: float
    waddlebot_cpu_ms: float
    opsdroid: float | None
    opsdroid_cpu_ms: float | None
    errbot: float | None


def step(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run one step; a failed one ends the comparison with one line, not a traceback."""
    if subprocess.run(command, env=env).returncode != 0:
        raise SystemExit(f"{what} failed (its output is above): {' '.join(command)}")


def run_peers(peers: Path, scratch: Path, messages: int, reps: int) -> list[dict[str, Any]]:
    """Install (once) and run the peers' benchmark; every JSON line it recorded."""
    setup = peers / "setup.sh"
    if not setup.exists():
        raise SystemExit(f"no peer benchmark at {peers} (setup.sh missing): pass --peers DIR")
    step(["bash", str(setup), str(scratch)], "installing the peers")
    env = {**os.environ, "N": str(messages), "REPS": str(reps)}
    step(["bash", str(scratch / "run_all.sh")], "the peers' benchmark", env)
    rows: list[dict[str, Any]] = []
    for path in sorted((scratch / "results").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def run_ours(messages: int, reps: int, transport: str, workdir: Path) -> list[dict[str, Any]]:
    """Our playground benchmark, ``reps`` times per number of extra commands."""
    results: list[dict[str, Any]] = []
    for extra in EXTRA_COMMANDS:
        for rep in range(reps):
            out = workdir / f"waddlebot-{extra}-{rep}.json"
            command = [str(PYTHON), str(ROOT / "benchmarks" / "playground_throughput.py")]
            command += ["--messages", str(messages), "--commands", str(extra)]
            command += ["--transport", transport, "--json", str(out)]
            step(command, "WaddleBot's benchmark (a wrong reply or a failed start)")
            results += json.loads(out.read_text())["results"]
    return results


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def opsdroid_rows(peers: list[dict[str, Any]], extra: int, mode: str) -> list[dict[str, Any]]:
    config = "config_100skills.yaml" if extra else "config.yaml"
    conns = 1 if mode == "serial" else 10
    return [
        row
        for row in peers
        if row.get("impl", "").startswith("opsdroid")
        and row.get("config") == config
        and row.get("mode") == mode
        and row.get("conns") == conns
    ]


def errbot_rows(peers: list[dict[str, Any]], extra: int, mode: str) -> list[dict[str, Any]]:
    return [
        row
        for row in peers
        if row.get("impl", "").startswith("errbot")
        and row.get("extra_regex_cmds") == extra
        and row.get("mode") == mode
        and str(row.get("bot_async")) in ("1", "True")
    ]


def compare(ours: list[dict[str, Any]], peers: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for extra in EXTRA_COMMANDS:
        for concurrency, mode in MODES.items():
            mine = [r for r in ours if r["commands"] == extra and r["concurrency"] == concurrency]
            ops = opsdroid_rows(peers, extra, mode)
            ops_cpu = [
                float(r["server_cpu_s"]) * 1000 / r["n"] for r in ops if r.get("server_cpu_s")
            ]
            rows.append(
                Row(
                    extra_commands=extra,
                    mode=mode,
                    waddlebot=median([r["messages_per_second"] for r in mine]) or 0.0,
                    waddlebot_cpu_ms=median([r["cpu_seconds_per_message"] * 1000 for r in mine])
                    or 0.0,
                    opsdroid=median([r["msgs_per_s"] for r in ops]),
                    opsdroid_cpu_ms=median(ops_cpu),
                    errbot=median([r["msgs_per_s"] for r in errbot_rows(peers, extra, mode)]),
                )
            )
    return rows


def ratio(ours: float, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}×" if theirs else "–"


def markdown(rows: list[Row]) -> str:
    lines = [
        "| extra commands | mode | WaddleBot msg/s | opsdroid msg/s | WaddleBot ÷ opsdroid "
        "| errbot msg/s | WaddleBot ÷ errbot | CPU ms/msg WaddleBot | CPU ms/msg opsdroid |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ops_cpu = f"{r.opsdroid_cpu_ms:.2f}" if r.opsdroid_cpu_ms is not None else "–"
        lines.append(
            f"| {r.extra_commands} | {r.mode} | {r.waddlebot:.0f} "
            f"| {r.opsdroid or 0:.0f} | {ratio(r.waddlebot, r.opsdroid)} "
            f"| {r.errbot or 0:.0f} | {ratio(r.waddlebot, r.errbot)} "
            f"| {r.waddlebot_cpu_ms:.2f} | {ops_cpu} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__, timeout=None)
    parser.add_argument("--messages", type=int, default=2000, help="measured messages per run")
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--peers", type=Path, default=DEFAULT_PEERS, help="the peer benchmark")
    parser.add_argument(
        "--scratch", type=Path, default=DEFAULT_SCRATCH, help="where the peers are installed"
    )
    parser.add_argument(
        "--transport",
        choices=["socket", "http"],
        default="socket",
        help="ours over the playground WebSocket (default: like opsdroid's websocket) or HTTP",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 100_000:
        parser.error("--messages must be between 1 and 100000")
    if not 1 <= args.reps <= 20:
        parser.error("--reps must be between 1 and 20")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("bash") is None or not PYTHON.exists():
        print("needs bash and the venv (make run or make test first)", file=sys.stderr)
        return 2
    peers: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="waddlebot-compare-") as tmp:
        for _ in range(args.reps):  # alternated: see the module docstring
            peers += run_peers(args.peers, args.scratch, args.messages, 1)
            ours += run_ours(args.messages, 1, args.transport, Path(tmp))
    rows = compare(ours, peers)
    print(markdown(rows))
    write_json(args.json, [asdict(row) for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
