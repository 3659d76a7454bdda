"""``waddlebot module validate`` on good and bad manifests."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from waddlebot.cli.main import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "dice" / "manifest.json"
runner = CliRunner()


def test_validate_accepts_the_example_manifest() -> None:
    result = runner.invoke(app, ["module", "validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "ok — dice 1.0.0 (http), !roll, !flip, !dice" in result.output


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "name": "Bad Name",
                "version": "one",
                "runtime": "lambda",
                "commands": [{"trigger": "x", "min_role": "king"}],
            }
        )
    )
    result = runner.invoke(app, ["module", "validate", str(bad)])
    assert result.exit_code == 1
    assert "invalid manifest" in result.output
    assert "name: String should match pattern" in result.output
    assert "version: String should match pattern" in result.output
    assert "unknown role 'king'" in result.output


def test_validate_checks_the_config_schema_and_runtime(tmp_path: Path) -> None:
    manifest = json.loads(EXAMPLE.read_text())
    manifest["config_schema"] = {"type": "object", "properties": {"n": {"type": "nope"}}}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["module", "validate", str(path)])
    assert result.exit_code == 1 and "not a valid JSON Schema" in result.output

    manifest = json.loads(EXAMPLE.read_text())
    manifest["endpoint"] = None
    path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["module", "validate", str(path)])
    assert result.exit_code == 1 and "http modules need an endpoint" in result.output

    path.write_text("{not json")
    result = runner.invoke(app, ["module", "validate", str(path)])
    assert result.exit_code == 1 and "is not JSON" in result.output
