"""A small reader for deploy/Dockerfile: instructions with their arguments, per stage."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD; shell form is refused."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = re.sub(r"^(--\S+\s+)*CMD\s+", "", text)
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} must use the exec form"
        return [str(part) for part in value]

    def env(self) -> dict[str, str]:
        """The variables an ENV instruction sets (``KEY=value`` pairs, shell-quoted)."""
        pairs = shlex.split(self.arguments)
        return dict(pair.split("=", 1) for pair in pairs)


def read(path: Path) -> list[Instruction]:
    """Every instruction in order, continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions: list[Instruction] = []
    stage = ""
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = arguments.split(" AS ")[-1].strip() if " AS " in arguments else arguments
        instructions.append(Instruction(stage, keyword, arguments.strip()))
    return instructions
