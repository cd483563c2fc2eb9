"""The manager's pages: what-if analysis (pick or write variants, run them as a job, read the
comparison, the headroom, the bottleneck and the heat maps) and utilization (chairs, nurses and
prescribers by weekday and hour, and unmet demand by protocol, over the published weeks).

Managers and admins only: a front-desk account gets the 403 page. A what-if form is checked
before anything is queued, and a bad one comes back with every message beside the box it
belongs to and everything typed kept (HTTP 422).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from scheduler.compile import SlotClock, to_problem
from scheduler.edits import edit_scenario
from scheduler.errors import InvalidInput, Issue
from scheduler.library import DEMO_VARIANTS, data_text
from scheduler.model import Scenario
from scheduler.pages.web import (
    Csrf,
    ManagerUser,
    PageSession,
    current_clinic,
    page,
    redirect,
    settings_of,
)
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.tables import Job
from scheduler.storage.tables import Schedule as ScheduleRow
from scheduler.usecases.whatif import BASE, COMBINED, RESOURCES, read_plan
from scheduler.usecases.whatif.figures import LOADS, WEEKDAY_NAMES, Grid, Load, booked, load
from scheduler.validate import parse_text

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

TIME_LIMIT = 10.0
"""The form's default seconds per solve, as the command line's: the demo's base and two presets
with headroom and bottleneck (28 solves) took 146 s from "Run" to the result page on one core,
all nine presets (90 solves) 457 s (2026-11-28, a shared machine); at 5 s the first took 81 s
but found no headroom anywhere (bench/README.md: give an M-sized week 10-12 s a solve)."""
MOST_SECONDS = 600
CHART = re.compile(r"[a-z0-9][a-z0-9-]{0,100}")
"""A chart's file name (without ``.png``) as the report writes them."""
JOB_ID = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
LOAD_TITLES = {"chairs": "Chairs", "nurses": "Nurses", "prescribers": "Prescribers"}
LOAD_HINTS = {
    "chairs": "chair-minutes seated (session and turnover) of the chair-minutes open",
    "nurses": "patient-minutes attended or monitored of what the nurses on shift may take "
              "(max patients × minutes)",
    "prescribers": "minutes some session needs a prescriber on site of the minutes one is on "
                   "site",
}


def report_dir(settings: Settings, job_id: str) -> Path:
    """Where a what-if job writes its report (the job's params name the same folder)."""
    return settings.data_dir / "whatif" / job_id


# ============================================================================ what-if: the form
@dataclass(frozen=True, slots=True)
class Preset:
    """One of the clinic's preset variants: usable here, or why not."""

    index: int
    name: str
    raw: dict[str, Any]
    edits: tuple[str, ...]
    problem: str = ""


def presets(scenario: Scenario) -> list[Preset]:
    """The demo's preset variants (the package's variants file), each tried on ``scenario``:
    a preset naming a room or a nurse this clinic does not have is shown, not offered."""
    doc = parse_text(data_text(DEMO_VARIANTS))
    out = []
    for i, raw in enumerate(doc.get("variants") or []):
        try:
            plan = read_plan({"variants": [raw]}, scenario)
            (variant,) = plan.variants
            edit_scenario(scenario, variant.located())
            out.append(Preset(i, variant.name, raw, tuple(e.describe() for e in variant.edits)))
        except InvalidInput as exc:
            out.append(Preset(i, str(raw.get("name", f"preset {i + 1}")), raw, (),
                              exc.issues[0].message if exc.issues else "does not apply"))
    return out


def _default_form() -> dict[str, Any]:
    return {"preset": [], "variants": "", "time_limit": f"{TIME_LIMIT:g}", "headroom": True,
            "bottleneck": True}


SOURCE = 'in "<unicode string>", '
"""How PyYAML names where text from a string went wrong."""


def _yaml_message(exc: ValueError) -> str:
    """PyYAML's message on one line: what is wrong and where (without its echo of the text):
    ``is not YAML: expected ',' or '}', but got '<stream end>' (line 4, column 1); while
    parsing a flow mapping (line 3, column 13)``."""
    lines, parts, what, i = str(exc).splitlines(), [], "", 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith(SOURCE):
            where = line.removeprefix(SOURCE).rstrip(":")
            parts.append(f"{what} ({where})".strip())
            what, i = "", i + 3  # PyYAML echoes the line and a caret under the column
            continue
        what = line or what
        i += 1
    if what:
        parts.append(what)
    return "is not YAML: " + "; ".join(reversed([p for p in parts if p])) if parts else (
        "is not YAML")


def _custom(text: str, scenario: Scenario) -> dict[str, Any] | None:
    """The variants typed in the box, read and tried on ``scenario``; the box's own paths
    (``variants[0] (name).edits[1]...``) on every message."""
    if not text.strip():
        return None
    try:
        data = parse_text(text)
    except ValueError as exc:
        raise InvalidInput([Issue("variants", _yaml_message(exc))]) from exc
    if data is None:
        return None
    if isinstance(data, list):
        data = {"variants": data}
    if not isinstance(data, dict):
        raise InvalidInput([Issue("variants", "give variants as in a variants file: "
                                              "variants: [{name: …, edits: [{…}]}]")])
    data = {**data, "variants": data.get("variants") or []}
    try:
        plan = read_plan(data, scenario)
        issues: list[Issue] = []
        for cell_or_variant in [*plan.variants, *(v for _, v in plan.cells)]:
            try:
                edit_scenario(scenario, cell_or_variant.located())
            except InvalidInput as exc:
                issues += exc.issues
        if issues:
            raise InvalidInput(issues)
    except InvalidInput as exc:
        raise InvalidInput([Issue("variants", f"{i.path}: {i.message}" if i.path else i.message)
                            for i in exc.issues]) from exc
    return data


def read_form(form: dict[str, Any], scenario: Scenario, offered: list[Preset]
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The variants document (ticked presets first, then the box's) and the options, or
    :class:`InvalidInput` with every problem on the form's own fields."""
    issues: list[Issue] = []
    by_index = {str(p.index): p for p in offered}
    ticked = []
    for value in form["preset"]:
        preset = by_index.get(value)
        if preset is None or preset.problem:
            issues.append(Issue("preset", f"{value!r} is not a preset this clinic can use"))
        else:
            ticked.append(preset)
    seconds = 0.0
    try:
        seconds = float(form["time_limit"])
        if not 1 <= seconds <= MOST_SECONDS:
            raise ValueError
    except ValueError:
        issues.append(Issue("time_limit", f"{form['time_limit']!r}: give seconds between 1 "
                                          f"and {MOST_SECONDS}"))
    custom: dict[str, Any] | None = None
    try:
        custom = _custom(form["variants"], scenario)
    except InvalidInput as exc:
        issues += exc.issues
    if custom is not None:
        names = {p.name for p in ticked}
        for k, raw in enumerate(custom["variants"]):
            name = raw.get("name") if isinstance(raw, dict) else None
            if name in names:
                issues.append(Issue("variants", f"variants[{k}] ({name}).name: is the name of "
                                                "a preset you ticked; give yours another"))
    if issues:
        raise InvalidInput(issues)
    doc: dict[str, Any] = {**(custom or {}),
                           "variants": [p.raw for p in ticked] + (custom or {}).get("variants",
                                                                                      [])}
    try:
        read_plan(doc, scenario)
    except InvalidInput as exc:  # presets and the box each pass; together they still must
        raise InvalidInput([Issue("variants", f"{i.path}: {i.message}")
                            for i in exc.issues]) from exc
    return doc, {"time_limit": seconds, "headroom": bool(form["headroom"]),
                 "bottleneck": bool(form["bottleneck"])}


def _past_runs(session: Any, clinic_id: int) -> list[Job]:
    return [j for j in repo.jobs_of(session, clinic_id) if j.kind == "whatif"]


def _whatif_page(request: Request, session: Any, form: dict[str, Any],
                 errors: list[Issue] | None = None, status_code: int = 200) -> HTMLResponse:
    clinic = current_clinic(request, session)
    version = repo.scenario_version(session, clinic.id)
    scenario = repo.scenario_of(version)
    return page(request, "whatif.html", {
        "clinic": clinic, "scenario": scenario, "version": version.number,
        "presets": presets(scenario), "form": form, "runs": _past_runs(session, clinic.id),
        "most_seconds": MOST_SECONDS}, status_code=status_code, errors=errors)


@router.get("/whatif", response_class=HTMLResponse)
def whatif_page(request: Request, user: ManagerUser, session: PageSession,
                again: str = "") -> HTMLResponse:
    """The form (``?again=JOB`` fills it with that run's choices) and the past runs."""
    form = _default_form()
    if re.fullmatch(r"[0-9a-f]{32}", again):
        job = repo.job(session, again)
        if job.kind == "whatif":
            form.update(preset=list(job.params.get("preset", [])),
                        variants=job.params.get("variants_text", ""))
            form.update(time_limit=f"{job.params.get('time_limit', TIME_LIMIT):g}",
                        headroom=job.params.get("headroom", True),
                        bottleneck=job.params.get("bottleneck", True))
    return _whatif_page(request, session, form)


@router.post("/whatif", response_class=HTMLResponse, dependencies=[Csrf])
async def whatif_run(request: Request, user: ManagerUser, session: PageSession) -> Response:
    raw = await request.form()
    form = {"preset": [str(v) for v in raw.getlist("preset")],
            "variants": str(raw.get("variants", "")),
            "time_limit": str(raw.get("time_limit", "")).strip(),
            "headroom": bool(raw.get("headroom")), "bottleneck": bool(raw.get("bottleneck"))}
    clinic = current_clinic(request, session)
    version = repo.scenario_version(session, clinic.id)
    scenario = repo.scenario_of(version)
    try:
        doc, options = read_form(form, scenario, presets(scenario))
    except InvalidInput as exc:
        return _whatif_page(request, session, form, exc.issues, 422)
    job_id = uuid.uuid4().hex
    settings = settings_of(request)
    params = {"seed": settings.seed, "scenario_version": version.number, "variants": doc,
              **options, "out": str(report_dir(settings, job_id)), "preset": form["preset"],
              "variants_text": form["variants"],
              "names": [str(v.get("name")) for v in doc["variants"]]}
    job = repo.add_job(session, job_id, clinic.id, "whatif", params, user)
    session.commit()
    return redirect(f"/jobs/{job.id}")


# ============================================================================ what-if: results
def _whatif_job(session: Any, job_id: str) -> Job:
    job = repo.job(session, job_id)
    if job.kind != "whatif":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Job {job_id} is not a what-if run.")
    return job


def headroom_text(v: dict[str, Any]) -> str:
    """The headroom as the report words it (``≥ 4``, ``+3``, ``0``, ``—``)."""
    n, state = v.get("headroom_patients", 0), v.get("headroom_status", "")
    if state == "SKIPPED":
        return "—"
    if state == "LIMIT":
        return f"≥ {n} (search limit)"
    if state == "OPTIMAL":
        return f"+{n}" if n else "0"
    return f"≥ {n}"


def _usage_chart(name: str) -> str:
    return "usage-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant")


def _heat_rows(grid: list[list[float | None]] | Grid, hours: range,
               opening: Grid | None = None) -> list[dict[str, Any]]:
    """A heat map's rows (open weekdays only), each cell a percentage and a shade 0..10;
    with ``opening`` (a grid that is None where the clinic is closed), an hour open but with
    nothing of this resource is a ``gap``, not ``closed``."""
    rows = []
    for d, values in enumerate(grid):
        cells = [values[h] for h in hours]
        is_open = [opening is not None and opening[d][h] is not None for h in hours]
        if all(v is None for v in cells) and not any(is_open):
            continue
        rows.append({"day": WEEKDAY_NAMES[d],
                     "cells": [(None, "gap" if here else "closed") if v is None else
                               (round(100 * v), f"h{min(10, int(v * 10 + 0.5))}")
                               for v, here in zip(cells, is_open, strict=True)]})
    return rows


def _hours(grids: list[Any]) -> range:
    """The hours any of ``grids`` is open, first to last."""
    open_hours = [h for g in grids for day in g for h, v in enumerate(day) if v is not None]
    return range(min(open_hours), max(open_hours) + 1) if open_hours else range(0)


@router.get("/whatif/{job_id}", response_class=HTMLResponse)
def whatif_result(request: Request, job_id: JOB_ID, user: ManagerUser,
                  session: PageSession) -> Response:
    job = _whatif_job(session, job_id)
    if job.status in ("queued", "running"):
        return RedirectResponse(f"/jobs/{job.id}", status_code=status.HTTP_303_SEE_OTHER)
    out = report_dir(settings_of(request), job.id)
    report = out / "comparison.json"
    if job.status != "done" or not report.is_file():
        why = (f"This run {job.status}" + (f": {job.error}" if job.error else ".")
               if job.status != "done" else "This run's report is no longer on the server.")
        return page(request, "whatif_result.html", {"job": job, "doc": None, "why": why},
                    status_code=200 if job.status != "done" else 404)
    doc = json.loads(report.read_text(encoding="utf-8"))
    compared = [v for v in doc["variants"] if "sweep_cell" not in v]
    charts = {p.stem for p in (out / "charts").glob("*.png")}
    grids = [v["usage"][k] for v in compared for k in ("rooms", "nurses")]
    hours = _hours(grids)
    busy = [{"name": v["variant"], "chart": _usage_chart(v["variant"]),
             "rooms": _heat_rows(v["usage"]["rooms"], hours),
             "nurses": _heat_rows(v["usage"]["nurses"], hours)} for v in compared]
    protocols = sorted({p for v in compared for p in v.get("by_protocol", {})})
    return page(request, "whatif_result.html", {
        "job": job, "doc": doc, "compared": compared, "charts": charts, "busy": busy,
        "hours": hours, "protocols": protocols, "resources": RESOURCES, "combined": COMBINED,
        "base": BASE, "headroom_text": headroom_text, "weekdays": WEEKDAY_NAMES})


@router.get("/whatif/{job_id}/charts/{name}.png")
def whatif_chart(request: Request, job_id: JOB_ID, name: str, user: ManagerUser,
                 session: PageSession) -> FileResponse:
    job = _whatif_job(session, job_id)
    path = report_dir(settings_of(request), job.id) / "charts" / f"{name}.png"
    if not CHART.fullmatch(name) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No chart {name} in this run.")
    return FileResponse(path, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


@router.get("/whatif/{job_id}/{name}")
def whatif_file(request: Request, job_id: JOB_ID, name: str, user: ManagerUser,
                session: PageSession) -> FileResponse:
    """The report's own files to keep: ``comparison.csv`` and the self-contained
    ``report.html`` (a download: it carries its own inline style)."""
    types = {"comparison.csv": "text/csv; charset=utf-8",
             "report.html": "text/html; charset=utf-8"}
    job = _whatif_job(session, job_id)
    path = report_dir(settings_of(request), job.id) / name
    if name not in types or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No file {name} in this run.")
    return FileResponse(path, media_type=types[name], filename=f"whatif-{job.id[:8]}-{name}",
                        content_disposition_type="attachment")


# ============================================================================ utilization
@dataclass(frozen=True, slots=True)
class Week:
    start: str
    days: int
    number: int
    schedule_id: int


def published_weeks(session: Any, clinic_id: int
                    ) -> list[tuple[Week, ScheduleRow, Scenario]]:
    """Each published week once: the latest published version of each horizon, with the
    scenario it was made from."""
    latest: dict[tuple[str, int], tuple[Week, ScheduleRow, Scenario]] = {}
    scenarios: dict[int, Scenario] = {}
    for row in repo.schedules(session, clinic_id):
        if row.status != "published":
            continue
        if row.scenario_version_id not in scenarios:
            scenarios[row.scenario_version_id] = repo.scenario_for(session, row)
        scenario = scenarios[row.scenario_version_id]
        key = (scenario.horizon.start.isoformat(), scenario.horizon.days)
        if key not in latest or (row.number or 0) > latest[key][0].number:
            latest[key] = (Week(key[0], key[1], row.number or 0, row.id), row, scenario)
    return [latest[k] for k in sorted(latest)]


def unmet_by_protocol(weeks: list[tuple[Week, ScheduleRow, Scenario]]
                      ) -> list[dict[str, Any]]:
    """Per protocol: sessions wanted, placed and not placed over the weeks, and why not."""
    table: dict[str, dict[str, Any]] = {}
    for _, row, scenario in weeks:
        doc = repo.to_schedule(row)
        names = {p.id: p.name for p in scenario.protocols}
        protocol_of = {p.id: p.protocol for p in scenario.patients}
        for p in scenario.patients:
            entry = table.setdefault(p.protocol, {"protocol": p.protocol, "name": names.get(
                p.protocol, p.protocol), "wanted": 0, "placed": 0, "unplaced": 0,
                "reasons": {}})
            entry["wanted"] += p.sessions
        for a in doc.appointments:
            table[protocol_of.get(a.patient, a.protocol)]["placed"] += 1
        for u in doc.unplaced:
            entry = table[protocol_of[u.patient]]
            entry["unplaced"] += u.sessions
            entry["reasons"][u.reason] = entry["reasons"].get(u.reason, 0) + u.sessions
    return sorted(table.values(), key=lambda e: (-e["unplaced"], e["protocol"]))


@router.get("/utilization", response_class=HTMLResponse)
def utilization(request: Request, user: ManagerUser, session: PageSession) -> HTMLResponse:
    clinic = current_clinic(request, session)
    weeks = published_weeks(session, clinic.id)
    total: Load | None = None
    for _, row, scenario in weeks:
        clock = SlotClock(scenario)
        week = load(to_problem(scenario), clock, booked(repo.to_schedule(row), clock))
        total = week if total is None else total + week
    maps = []
    if total is not None:
        grids = {k: total.grid(k) for k in LOADS}
        hours = _hours(list(grids.values()))
        maps = [{"kind": k, "title": LOAD_TITLES[k], "hint": LOAD_HINTS[k],
                 "rows": _heat_rows(grids[k], hours,
                                    grids["chairs"] if k == "prescribers" else None),
                 "hours": hours,
                 "overall": _overall(total, k)} for k in LOADS]
    return page(request, "utilization.html", {
        "clinic": clinic, "weeks": [w for w, _, _ in weeks], "maps": maps,
        "unmet": unmet_by_protocol(weeks)})


def _overall(total: Load, kind: str) -> int | None:
    capacity = sum(total.capacity[kind])
    return round(100 * sum(total.used[kind]) / capacity) if capacity else None
