"""Small helpers the module pages share: a notice after a redirect, a module's pydantic
request model used as the form's validation (its messages shown next to each field), and
list fields typed one item per line.

A page that validates with the same model as the module's REST body refuses exactly what the
API refuses; only the wording of the field name changes (it is shown next to the field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from waddlebot.portal.web import redirect

Model = TypeVar("Model", bound=BaseModel)


def notice_of(request: Request, notices: Mapping[str, str]) -> str | None:
    """The message of a ``?notice=CODE&name=…`` redirect (only codes in ``notices``)."""
    template = notices.get(request.query_params.get("notice", ""))
    if template is None:
        return None
    return template.format(name=request.query_params.get("name", "")[:60])


def back(request: Request, path: str, notice: str, name: str = "") -> Response:
    """303 back to ``path`` with a notice of what was done (reloading never re-posts)."""
    return redirect(request, f"{path}?{urlencode({'notice': notice, 'name': name[:60]})}")


def checked(
    model: type[Model], data: dict[str, Any], prefix: str = ""
) -> tuple[Model | None, dict[str, str]]:
    """``data`` validated by ``model``: (the model, {}) or (None, {prefix+field: message})."""
    try:
        return model.model_validate(data), {}
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            where = str(problem["loc"][0]) if problem["loc"] else "form"
            message = str(problem["msg"]).removeprefix("Value error, ")
            errors.setdefault(prefix + where, message if message.endswith(".") else message + ".")
        return None, errors


def lines(text: str) -> list[str]:
    """A textarea of one item per line: the non-empty lines, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]
