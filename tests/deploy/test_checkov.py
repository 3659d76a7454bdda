"""checkov on the image and every rendered overlay: no finding beyond the accepted ones in
deploy/checkov-baseline.yaml, and no accepted one that no longer occurs."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from tests.deploy.support import DEPLOY, installed, run, tool
from tests.deploy.test_k8s import OVERLAYS, render

BASELINE = DEPLOY / "checkov-baseline.yaml"
# Not in the [dev] extra: checkov pins packaging<24 and an old boto3, which clash with pytest
# and aiobotocore there. uv runs it in an environment of its own (cached after the first run).
CHECKOV = "checkov==3.3.30"


def checkov() -> list[str]:
    """An installed checkov, else the pinned one through ``uv tool run``."""
    found = installed("checkov")
    return [found] if found else [tool("uv"), "tool", "run", "--from", CHECKOV, "checkov"]


def findings(directory: Path) -> set[tuple[str, str]]:
    """(check id, resource) of every failed checkov check, in one checkov run (its start-up
    alone takes seconds)."""
    command = [*checkov(), "--quiet", "--compact", "--skip-download", "-o", "json"]
    command += [
        "--framework",
        "dockerfile",
        "kubernetes",
        "-f",
        "deploy/Dockerfile",
    ]  # relative: the resource id
    for overlay in OVERLAYS:
        command += ["-f", str(render(overlay, directory)[0])]
    reports = json.loads(run(*command, timeout=300, accept=(0, 1)).stdout)
    failed: set[tuple[str, str]] = set()
    for report in reports if isinstance(reports, list) else [reports]:
        assert report["summary"]["parsing_errors"] == 0, report["check_type"]
        for check in report["results"]["failed_checks"]:
            failed.add((check["check_id"], check["resource"]))
    return failed


def test_checkov_finds_nothing_beyond_the_baseline(tmp_path: Path) -> None:
    accepted = yaml.safe_load(BASELINE.read_text())["accepted"]
    assert all(entry["reason"].strip() for entry in accepted)
    failed = findings(tmp_path)

    def covers(entry: dict[str, object], finding: tuple[str, str]) -> bool:
        patterns = entry["resources"]
        assert isinstance(patterns, list)
        return entry["check"] == finding[0] and any(
            fnmatchcase(finding[1], str(pattern)) for pattern in patterns
        )

    new = sorted(item for item in failed if not any(covers(entry, item) for entry in accepted))
    assert new == [], "fix these or accept them with a reason in deploy/checkov-baseline.yaml"
    stale = [entry["check"] for entry in accepted if not any(covers(entry, f) for f in failed)]
    assert stale == [], "no longer found: remove from deploy/checkov-baseline.yaml"
