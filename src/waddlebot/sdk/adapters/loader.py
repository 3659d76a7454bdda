"""``package.module:attribute`` → the SDK module it names."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from waddlebot.sdk.module import Module


def load_module(reference: str) -> Module:
    """Import ``reference`` (``mymodule:module``; the attribute defaults to ``module``).

    The current directory is importable, as with ``uvicorn app:app``.
    """
    path, _, attribute = reference.partition(":")
    if not path:
        raise ValueError(f"expected package.module:attribute, got {reference!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    name = attribute or "module"
    loaded = getattr(importlib.import_module(path), name, None)
    if loaded is None:
        raise ValueError(f"{path!r} has no {name!r} (expected package.module:attribute)")
    if not isinstance(loaded, Module):
        raise ValueError(f"{path}:{name} is a {type(loaded).__name__}, not a waddlebot.sdk.Module")
    return loaded
