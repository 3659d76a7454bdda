"""Load and check a manifest file: ``waddlebot module validate manifest.json``.

Beyond the :class:`~waddlebot.kernel.contracts.Manifest` model (names, versions, runtimes,
triggers), the config schema must itself be a valid JSON Schema and its defaults must satisfy it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from waddlebot.kernel.contracts import Manifest

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


def _draft() -> type[Validator]:
    """The JSON Schema (2020-12) validator class. jsonschema (~10 MiB with its dependencies) is
    imported on the first config schema checked: a start whose modules declare none, or whose
    catalogue is already stored, never needs it."""
    from jsonschema import Draft202012Validator

    draft: type[Validator] = Draft202012Validator
    return draft


class ManifestInvalid(Exception):
    """The manifest is not valid; ``problems`` says every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_manifest(data: Any) -> Manifest:
    """A validated manifest from parsed JSON, or :class:`ManifestInvalid`."""
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as error:
        raise ManifestInvalid(
            [
                f"{'.'.join(str(part) for part in item['loc']) or 'manifest'}: {item['msg']}"
                for item in error.errors(include_url=False)
            ]
        ) from None
    problems = config_schema_problems(manifest.config_schema)
    if problems:
        raise ManifestInvalid(problems)
    return manifest


def config_schema_problems(schema: dict[str, Any]) -> list[str]:
    if not schema:
        return []
    draft = _draft()
    from jsonschema.exceptions import SchemaError  # loaded by _draft() already

    try:
        draft.check_schema(schema)
    except SchemaError as error:
        return [f"config_schema: not a valid JSON Schema: {error.message}"]
    if schema.get("type", "object") != "object":
        return ["config_schema: the configuration must be an object (type: object)"]
    problems = []
    for key, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and "default" in prop:
            for problem in draft(prop).iter_errors(prop["default"]):
                problems.append(f"config_schema.properties.{key}.default: {problem.message}")
    return problems


def config_errors(schema: dict[str, Any], config: dict[str, Any]) -> list[dict[str, str]]:
    """Every way ``config`` breaks ``schema``: ``[{"path": "/sides", "message": …}]``."""
    if not schema:
        return []
    validator = _draft()(schema)
    return [
        {
            "path": "/" + "/".join(str(part) for part in error.absolute_path),
            "message": error.message,
        }
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest JSON file."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise ManifestInvalid([f"cannot read {path}: {error.strerror}"]) from None
    except ValueError as error:
        raise ManifestInvalid([f"{path} is not JSON: {error}"]) from None
    return check_manifest(data)
