"""The benchmarks run with tiny counts, so they cannot rot; their numbers are not checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import (
    compare,
    goals,
    ingress_batch,
    overlay_fanout,
    playground_throughput,
    startup,
    twitch_eventsub,
)
from tests.conftest import DATABASE_URL, REDIS_URL, require_service


@pytest.mark.parametrize("transport", ["http", "socket"])
def test_the_playground_benchmark_runs_with_extra_commands(tmp_path: Path, transport: str) -> None:
    out = tmp_path / "bench.json"
    argv = ["--messages", "5", "--warmup", "1", "--concurrency", "2", "--commands", "3"]
    argv += ["--communities", "4", "--transport", transport, "--json", str(out)]
    assert playground_throughput.main(argv) == 0  # every reply checked
    (result,) = json.loads(out.read_text())["results"]
    assert result["commands"] == 3 and result["errors"] == 0 and result["messages"] == 5
    assert result["transport"] == transport and result["communities"] == 4


def test_the_comparison_pairs_each_scenario_with_the_peers_rows() -> None:
    ours = [
        {
            "commands": extra,
            "concurrency": c,
            "messages_per_second": rate,
            "cpu_seconds_per_message": 0.001,
        }
        for extra in (0, 100)
        for c, rate in ((1, 400.0), (10, 800.0))
    ]
    peers = [
        {
            "impl": "opsdroid-0.31.0-websocket",
            "config": "config_100skills.yaml",
            "mode": "serial",
            "conns": 1,
            "n": 2000,
            "msgs_per_s": 1000.0,
            "server_cpu_s": "1.5",
        },
        {
            "impl": "opsdroid-0.31.0-websocket",
            "config": "config.yaml",
            "mode": "pipelined",
            "conns": 1,
            "n": 2000,
            "msgs_per_s": 9999.0,
        },  # one connection: not our pairing
        {
            "impl": "errbot-6.2.1-testbackend",
            "mode": "serial",
            "bot_async": True,
            "extra_regex_cmds": 100,
            "msgs_per_s": 3200.0,
        },
        {
            "impl": "errbot-6.2.1-testbackend",
            "mode": "serial",
            "bot_async": False,
            "extra_regex_cmds": 100,
            "msgs_per_s": 1.0,
        },  # the synchronous variant: not paired
    ]
    rows = {(r.extra_commands, r.mode): r for r in compare.compare(ours, peers)}
    hundred = rows[(100, "serial")]
    assert (hundred.opsdroid, hundred.opsdroid_cpu_ms, hundred.errbot) == (1000.0, 0.75, 3200.0)
    assert rows[(0, "pipelined")].opsdroid is None
    table = compare.markdown(list(rows.values()))
    assert "| 100 | serial | 400 | 1000 | 0.40× | 3200 | 0.12× | 1.00 | 0.75 |" in table


def test_the_startup_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    assert startup.main(["--runs", "1", "--idle", "0", "--json", str(out)]) == 0
    first, restart = json.loads(out.read_text())
    assert (first["data_dir"], restart["data_dir"]) == ("empty", "existing")
    assert first["ready_seconds"] > 0 and restart["idle_rss_mb"] > 0


def test_the_ingress_benchmark_counts_every_event_processed(tmp_path: Path) -> None:
    out = tmp_path / "ingress.json"
    argv = ["--events", "10", "--batch", "5", "--concurrency", "2", "--json", str(out)]
    assert ingress_batch.main(argv) == 0  # every id checked, exactly 10 more processed
    result = json.loads(out.read_text())["result"]
    assert result["processed"] == 10 and result["errors"] == 0
    assert result["requests"] == 2 + result["retried_429"]


def test_the_ingress_benchmark_runs_distributed(tmp_path: Path) -> None:
    redis = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    database = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    out = tmp_path / "ingress.json"
    argv = ["--events", "10", "--batch", "5", "--redis", redis, "--database", database]
    assert ingress_batch.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())["result"]
    assert (result["backend"], result["processed"]) == ("distributed", 10)


def test_the_overlay_benchmark_checks_every_client(tmp_path: Path) -> None:
    out = tmp_path / "overlay.json"
    argv = ["--clients", "5", "--rounds", "2", "--gap", "0", "--json", str(out)]
    assert overlay_fanout.main(argv) == 0  # each client got exactly each line
    result = json.loads(out.read_text())["result"]
    assert (result["connected"], result["received"], result["errors"]) == (5, 10, 0)
    assert [r["received"] for r in result["rounds"]] == [5, 5]


def test_the_twitch_benchmark_checks_every_reply(tmp_path: Path) -> None:
    redis = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    database = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    out = tmp_path / "twitch.json"
    argv = ["--messages", "6", "--concurrency", "2", "--rate", "20", "--channels", "3"]
    argv += ["--routers", "2", "--redis", redis, "--database", database, "--json", str(out)]
    assert twitch_eventsub.main(argv) == 0  # every notification answered once, with pong
    results = json.loads(out.read_text())["results"]
    assert [(r["mode"], r["messages"], r["errors"]) for r in results] == [
        ("most in flight", 6, 0),
        ("fixed rate", 6, 0),
    ]
    assert set(results[0]["cpu_ms_per_message"]) == {"router-1", "router-2", "twitch"}


def test_every_goal_runs_quick(capsys: pytest.CaptureFixture[str]) -> None:
    redis = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    database = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    assert goals.main(["--quick", "--redis", redis, "--database", database]) == 0
    printed = capsys.readouterr().out
    headings = [line for line in printed.splitlines() if line.startswith("## Goal ")]
    assert [heading.split(":")[0] for heading in headings] == [
        "## Goal 1",
        "## Goal 2",
        "## Goal 2",
        "## Goal 2",
        "## Goal 3",
        "## Goal 4",
        "## Goal 5",
        "## Goal 6",
    ]
    assert printed.count("|---") >= len(headings)  # a table under every heading


def test_a_database_that_is_away_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    redis = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    away = "postgresql://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1
    argv = ["--events", "10", "--batch", "5", "--redis", redis, "--database", away]
    assert ingress_batch.main(argv) == 4
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [
        "ingress benchmark failed: database unreachable (ConnectionRefusedError: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1))"
    ]
