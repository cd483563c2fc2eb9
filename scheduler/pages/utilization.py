"""The manager's utilization page: chairs, nurses and prescribers by weekday and hour, and
unmet demand by protocol, over the published weeks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from scheduler.pages.heat import heat_rows, hours_open
from scheduler.pages.web import ManagerUser, PageSession, current_clinic, page
from scheduler.service import reports, weeks
from scheduler.service.reports import LOADS, Load

router = APIRouter(include_in_schema=False)

LOAD_TITLES = {"chairs": "Chairs", "nurses": "Nurses", "prescribers": "Prescribers"}
LOAD_HINTS = {
    "chairs": "chair-minutes seated (session and turnover) of the chair-minutes open",
    "nurses": "patient-minutes attended or monitored of what the nurses on shift may take "
              "(max patients × minutes)",
    "prescribers": "minutes some session needs a prescriber on site of the minutes one is on "
                   "site",
}


@router.get("/utilization", response_class=HTMLResponse)
def utilization(request: Request, user: ManagerUser, session: PageSession) -> HTMLResponse:
    clinic = current_clinic(request, session)
    report = reports.utilization(session, clinic.id)
    total = report.total
    maps = []
    if total is not None:
        grids = {k: total.grid(k) for k in LOADS}
        hours = hours_open(list(grids.values()))
        maps = [{"kind": k, "title": LOAD_TITLES[k], "hint": LOAD_HINTS[k],
                 "rows": heat_rows(grids[k], hours,
                                   grids["chairs"] if k == "prescribers" else None),
                 "hours": hours,
                 "overall": _overall(total, k)} for k in LOADS]
    return page(request, "utilization.html", {
        "clinic": clinic, "weeks": report.weeks, "maps": maps, "unmet": report.unmet,
        "attendance": weeks.week_counts(session, clinic.id,
                                        [w.schedule_id for w in report.weeks])})


def _overall(total: Load, kind: str) -> int | None:
    capacity = sum(total.capacity[kind])
    return round(100 * sum(total.used[kind]) / capacity) if capacity else None
