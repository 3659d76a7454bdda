"""Labels on channels, modules and items (the Labels page; people are in ``pages.py``).

The labels core puts a label on four kinds of target (``labels/manager.py``): users,
entities (the community's channels), modules and module items. This form covers the other
three with the same ``LabelManager.apply`` as the REST API (its checks: the label exists,
the channel is this community's), an optional number of days, refusals shown next to their
field, and an AUDIT line; removing goes through the page's existing remove button (any kind).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from waddlebot.custom_commands.manager import MODULE as CUSTOM_MODULE
from waddlebot.kernel.errors import Invalid, Refusal
from waddlebot.labels.manager import LabelManager, expiry, validate_target
from waddlebot.portal.web import (
    Here,
    Who,
    audit,
    community_manager,
    enter_community,
    one,
    read_form,
    runtime_of,
)

# kind in the URL and form → (the core's target type, what the page calls it)
KINDS: dict[str, tuple[str, str]] = {
    "channel": ("entity", "Channel"),
    "module": ("module", "Module"),
    "item": ("item", "Item id"),
}
LabelsPage = Callable[..., Awaitable[Response]]
Done = Callable[[Request, str, str, str], Response]


def label_manager(request: Request) -> LabelManager:
    runtime = runtime_of(request)
    return LabelManager(runtime.db, runtime.backend.kv, runtime.settings)


def days_until(days: str) -> datetime | None:
    """The end of an assignment ``days`` days from now ('' → none); Invalid with the
    sentence the form shows next to the field."""
    if not days:
        return None
    try:
        return expiry(None, float(days) * 86_400)
    except ValueError:
        raise Invalid("Days is a number, e.g. 7, or empty for no end.") from None
    except Invalid:
        raise Invalid("Days is more than 0 and at most 3650, or empty for no end.") from None


async def target_choices(request: Request, here: Here) -> dict[str, list[tuple[str, str]]]:
    """What each kind may be given: the community's channels and modules (items are typed)."""
    modules = sorted(
        {c.module for c in await community_manager(request).commands(here.community.id)}
        - {CUSTOM_MODULE}
    )
    return {
        "channel": [
            (e.id, f"{e.platform} · {e.name or e.channel_id}") for e in here.community.entities
        ],
        "module": [(name, name) for name in modules],
        "item": [],
    }


def empty_target_form() -> dict[str, str]:
    return {"kind": "", "label": "", "target": "", "days": ""}


def add_label_target_routes(api: APIRouter, page: LabelsPage, done: Done) -> None:
    """``page(request, community_id, target_form=..., errors=..., status_code=...)`` renders
    the Labels page; ``done`` redirects back with a notice."""

    @api.post("/c/{community_id}/labels/apply/{kind}")
    async def apply_to(community_id: str, kind: str, request: Request, viewer: Who) -> Response:
        here = await enter_community(request, viewer, community_id, "labels.manage")
        if kind not in KINDS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such kind of label target.")
        fields = await read_form(request)
        form = {
            "kind": kind,
            "label": one(fields, f"{kind}_label", 60),
            "target": one(fields, f"{kind}_target", 200).strip(),
            "days": one(fields, f"{kind}_days", 6).strip(),
        }
        errors: dict[str, str] = {}
        choices = (await target_choices(request, here))[kind]
        target_type = KINDS[kind][0]
        if not form["target"]:
            errors[f"{kind}_target"] = f"Choose the {KINDS[kind][1].lower()}."
        elif choices and form["target"] not in dict(choices):
            errors[f"{kind}_target"] = f"{form['target']} is not one of this community's."
        until: datetime | None = None
        try:
            until = days_until(form["days"])
        except Invalid as bad:
            errors[f"{kind}_days"] = bad.message
        if not errors:
            try:
                await label_manager(request).apply(
                    community_id,
                    form["label"],
                    [validate_target(target_type, form["target"])],
                    expires_at=until,
                    who=viewer.user_id,
                    via="portal",
                )
            except Refusal as refused:
                errors[f"{kind}_label"] = refused.message
        if errors:
            return await page(
                request,
                community_id,
                target_form=form,
                errors=errors,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(
            request,
            "label_apply",
            community=community_id,
            label=form["label"],
            target_type=target_type,
            target=form["target"],
        )
        shown = dict(choices).get(form["target"], form["target"])
        return done(
            request, f"/c/{community_id}/labels", "label-applied", f"{form['label']} → {shown}"
        )


def target_context(form: dict[str, Any] | None) -> dict[str, Any]:
    """The template's values for the three forms (the refused one keeps what was typed)."""
    return {"kinds": KINDS, "target_form": form or empty_target_form()}
