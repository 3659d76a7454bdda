from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.processes import clean_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)
