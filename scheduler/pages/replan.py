"""Re-planning a schedule after events (the form's one event and a YAML box of more), queued as
a job, and the changes a re-plan made."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.pages.appointments import schedule_context
from scheduler.pages.forms import EVENT_TYPES, resolve
from scheduler.pages.web import (
    Csrf,
    FormFields,
    PageSession,
    PageUser,
    page,
    redirect,
    settings_of,
)
from scheduler.service import drafts, jobs, notices
from scheduler.service.jobs import JobParams

router = APIRouter(include_in_schema=False)


@router.get("/schedules/{schedule_id}/replan", response_class=HTMLResponse)
def replan_page(request: Request, schedule_id: int, user: PageUser,
                session: PageSession) -> HTMLResponse:
    return page(request, "replan.html", {**schedule_context(session, schedule_id),
                                         "form": {"type": "staff_absent"},
                                         "types": EVENT_TYPES})


def _events(form: dict[str, str], scenario: Scenario) -> list[Any]:
    """The form's one event and the YAML box's events, as the events file would say them;
    a person, room or patient chosen (or typed) by name becomes its id."""
    events: list[Any] = []
    kind = form.get("type", "")
    if kind in EVENT_TYPES:
        event: dict[str, Any] = {"type": kind}
        for name in EVENT_TYPES[kind][1]:
            if form.get(name, "").strip():
                event[name] = resolve(scenario, name, form[name])
        events.append(event)
    text = form.get("yaml", "").strip()
    if text:
        try:
            more = jobs.events_text(text)
        except ValueError as exc:
            raise InvalidInput([Issue("yaml", f"is not YAML: {exc}".splitlines()[0])]) from exc
        if isinstance(more, dict) and "events" in more:
            more = more["events"]
        if not isinstance(more, list):
            raise InvalidInput([Issue("yaml", "give a list of events (- {type: …, …})")])
        events += more
    if not events:
        raise InvalidInput([Issue("type", "pick what happened, or write events below")])
    return events


def _event_paths(issues: list[Issue], form: dict[str, str]) -> list[Issue]:
    """``events[0].date`` is the form's ``date``; the YAML box's events keep their numbers."""
    has_form = form.get("type", "") in EVENT_TYPES
    out = []
    for i in issues:
        if has_form and (i.path == "events[0]" or i.path.startswith("events[0].")):
            out.append(Issue(i.path.removeprefix("events[0]").lstrip(".") or "type", i.message))
        elif i.path.startswith("events["):
            out.append(Issue("yaml", f"{i.path}: {i.message}"))
        else:
            out.append(i)
    return out


@router.post("/schedules/{schedule_id}/replan", response_class=HTMLResponse,
             dependencies=[Csrf])
def replan(request: Request, schedule_id: int, user: PageUser, session: PageSession,
           form: FormFields) -> Response:
    settings = settings_of(request)
    ctx = schedule_context(session, schedule_id)
    params = JobParams(workers=settings.workers, time_limit=settings.time_limit,
                       seed=settings.seed)
    try:
        job = jobs.queue_replan(session, schedule_id, _events(form, ctx["scenario"]),
                                settings.now(),
                                params, user, cap=settings.max_queued_per_user)
    except InvalidInput as exc:
        return page(request, "replan.html", {**ctx, "form": form, "types": EVENT_TYPES},
                    status_code=422, errors=_event_paths(exc.issues, form))
    return redirect(f"/jobs/{job.id}")


@router.get("/schedules/{schedule_id}/changes", response_class=HTMLResponse)
def changes_page(request: Request, schedule_id: int, user: PageUser,
                 session: PageSession) -> HTMLResponse:
    ctx = schedule_context(session, schedule_id)
    tell = notices.whom_to_tell(session, ctx["row"].id)
    return page(request, "changes.html", {**ctx, "changes": drafts.changes(ctx["row"]),
                                          "tell": tell, "no_contact": notices.NO_CONTACT})
