"""Every change is a version: the clinic's data versions with who and when, what changed between
two and since the published week, the published sessions the current data breaks with a
re-plan one click away (the front desk's); the audit log (the manager's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.pages.web import (
    Csrf,
    ManagerUser,
    PageSession,
    PageUser,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.service import jobs, versions
from scheduler.service.jobs import JobParams
from scheduler.service.versions import AUDIT_KINDS, AuditLine, Published
from scheduler.storage.tables import now

router = APIRouter(include_in_schema=False)
Number = Annotated[int | None, Query(ge=1, le=2_147_483_647)]
PER_PAGE = 50


def banner(session: Session, clinic_id: int) -> Published | None:
    """The board's banner: the published week when the current data breaks it, else None."""
    state = versions.published_state(session, clinic_id)
    return state if state is not None and state.broken else None


@router.get("/versions", response_class=HTMLResponse)
def versions_page(request: Request, user: PageUser, session: PageSession,
                  old: Number = None, new: Number = None) -> HTMLResponse:
    clinic = current_clinic(request, session)
    listed = versions.versions(session, clinic.id)
    state = versions.published_state(session, clinic.id)
    compared = None
    errors: list[Issue] = []
    if old is not None or new is not None:
        latest = listed[0].number
        a, b = old or max(1, (new or latest) - 1), new or latest
        try:
            compared = (a, b, versions.diff(session, clinic.id, a, b))
        except NotFound:
            errors.append(Issue("old" if a not in {v.number for v in listed} else "new",
                                f"the clinic has versions 1 to {latest}"))
    return page(request, "versions.html", {
        "clinic": clinic, "versions": listed, "state": state, "compared": compared,
        "tz": versions.zone(session, clinic.id)},
        status_code=422 if errors else 200, errors=errors)


@router.post("/versions/replan", dependencies=[Csrf])
def replan_published(request: Request, user: PageUser, session: PageSession) -> Response:
    """Re-plan the published week under the current data: the sessions that break a rule
    move, everything else stays (the re-plan job, with no events)."""
    clinic = current_clinic(request, session)
    state = versions.published_state(session, clinic.id)
    if state is None:
        raise NotFound("published schedule of clinic", str(clinic.id))
    settings = settings_of(request)
    params = JobParams(workers=settings.workers, time_limit=settings.time_limit,
                       seed=settings.seed)
    job = jobs.queue_replan(session, state.schedule.id, [], now(), params, user,
                            cap=settings.max_queued_per_user)
    return redirect(f"/jobs/{job.id}")


# ----------------------------------------------------------------------------- the audit log
def describe(line: AuditLine) -> str:
    """An audit entry in a manager's words."""
    after, before = line.after or {}, line.before or {}
    if line.entity == "scenario":
        return f"Clinic data: version {after.get('version')} (was {before.get('version')})"
    if line.entity == "schedule":
        if line.action == "publish":
            return f"Published version {after.get('number')} (schedule #{line.entity_id})"
        if line.action == "create":
            return (f"Draft #{line.entity_id} made ({after.get('appointments', '?')} sessions)")
        if "number" in after:
            return f"{line.action.capitalize()}: published version {after['number']}"
        return f"{line.action.capitalize()} in draft #{line.entity_id}"
    if line.entity == "job":
        return f"{str(after.get('kind', 'job')).capitalize()} queued" if line.action == "queue" \
            else f"Job {line.action}"
    if line.entity == "feed_token":
        what = f"{after.get('kind', '')} feed link {after.get('subject', '')}".strip()
        return f"{line.action.capitalize()} {what}" if after.get("kind") else \
            f"Feed link: {line.action}"
    if line.entity == "user" and line.action == "membership":
        role = after.get("role") if after else None
        return f"Account #{line.entity_id}: " + (f"role {role}" if role else "membership ended")
    return f"{line.action.replace('_', ' ').capitalize()}: {line.entity} {line.entity_id}"


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: ManagerUser, session: PageSession,
               kind: str = "", since: str = "", until: str = "",
               page_: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1
               ) -> HTMLResponse:
    clinic = current_clinic(request, session)
    form = {"kind": kind, "since": since, "until": until}
    context: dict[str, Any] = {"clinic": clinic, "form": form, "kinds": AUDIT_KINDS,
                               "tz": versions.zone(session, clinic.id), "describe": describe}
    try:
        found = versions.audit_log(session, clinic.id, kind, since, until, page_, PER_PAGE)
    except InvalidInput as exc:
        return page(request, "audit.html", {**context, "log": None}, status_code=422,
                    errors=exc.issues)
    return page(request, "audit.html", {**context, "log": found})
