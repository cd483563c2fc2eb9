"""The manager's what-if analyses: the clinic's preset variants, variants typed in a form,
checked against the clinic before anything is queued; the job that runs them; its report."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from scheduler.errors import InvalidInput, Issue, NotFound
from scheduler.library import DEMO_VARIANTS, data_text
from scheduler.model import Scenario
from scheduler.service import jobs
from scheduler.service.jobs import JobParams
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.storage.tables import Job, User, now
from scheduler.usecases.whatif import BASE, COMBINED, RESOURCES, check_applies, read_plan
from scheduler.usecases.whatif.figures import WEEKDAY_NAMES
from scheduler.usecases.whatif.results import headroom_note
from scheduler.validate import parse_text

__all__ = [
    "BASE",
    "COMBINED",
    "FIRST",
    "MOST_SECONDS",
    "RESOURCES",
    "THREADS",
    "TIME_LIMIT",
    "WEEKDAY_NAMES",
    "Preset",
    "first_answers",
    "headroom_note",
    "past_runs",
    "presets",
    "queue",
    "read_form",
    "report",
    "report_dir",
    "run_analysis",
    "whatif_job",
]

log = logging.getLogger(__name__)

TIME_LIMIT = 10.0
"""The form's default seconds per solve, as the command line's: shorter solves found no
headroom anywhere (bench/README.md, 'What-if')."""
MOST_SECONDS = 600
THREADS = 2
"""Solves of a what-if job at once: threads of its worker process (a daemonic process starts
no processes of its own), each one CP-SAT worker; the demo's base and two presets with
headroom and bottleneck: about 90 s of solving at 5 s a solve, over two cores instead of one
(bench/README.md, 'Round three: what-if answers in a minute')."""
FIRST = "first answer (LP estimate)"
"""The progress keys of the LP's first answers (``FIRST, variant``), shown while the solves
run."""


def report_dir(data_dir: Path, job_id: str) -> Path:
    """Where a what-if job writes its report (the job's params name the same folder)."""
    return data_dir / "whatif" / job_id


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
            check_applies(plan, scenario)
            (variant,) = plan.variants
            out.append(Preset(i, variant.name, raw, tuple(e.describe() for e in variant.edits)))
        except InvalidInput as exc:
            out.append(Preset(i, str(raw.get("name", f"preset {i + 1}")), raw, (),
                              exc.issues[0].message if exc.issues else "does not apply"))
    return out


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
        check_applies(read_plan(data, scenario), scenario)
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


def queue(session: Session, clinic_id: int, form: dict[str, Any], data_dir: Path, seed: int,
          by: User, *, cap: int | None = None) -> Job:
    """The form's analysis of the clinic's latest scenario, checked (InvalidInput naming the
    form's fields) and queued."""
    version = repo.scenario_version(session, repo.clinic(session, clinic_id).id)
    scenario = repo.scenario_of(version)
    doc, options = read_form(form, scenario, presets(scenario))
    job_id = jobs.new_id()
    params = JobParams(seed=seed, scenario_version=version.number, variants=doc, **options,
                       out=str(report_dir(data_dir, job_id)), preset=form["preset"],
                       variants_text=form["variants"],
                       names=[str(v.get("name")) for v in doc["variants"]])
    return jobs.queue(session, clinic_id, "whatif", params, by, job_id, cap=cap)


def whatif_job(session: Session, job_id: str, clinic_id: int | None = None) -> Job:
    found = jobs.job(session, job_id, clinic_id)
    if found.kind != "whatif":
        raise NotFound("what-if run", job_id)
    return found


def past_runs(session: Session, clinic_id: int) -> list[Job]:
    return [j for j in jobs.jobs_of(session, clinic_id) if j.kind == "whatif"]


def first_answers(found: Job) -> list[tuple[str, str]]:
    """A running job's LP first answers so far: (variant, sentence), in the order they
    came."""
    prefix = f"{FIRST}, "
    return [(k.removeprefix(prefix), str(v)) for k, v in (found.progress or {}).items()
            if k.startswith(prefix)]


def report(data_dir: Path, found: Job) -> tuple[Path, dict[str, Any] | None]:
    """A finished run's report folder and its ``comparison.json`` (None when there is none)."""
    out = report_dir(data_dir, found.id)
    path = out / "comparison.json"
    if found.status != "done" or not path.is_file():
        return out, None
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return out, doc


def run_analysis(factory: sessionmaker[Session], job_id: str, clinic_id: int,
                 params: JobParams) -> None:
    """A what-if analysis of the clinic's scenario version: the plan read again (the page
    checked it before queueing), :data:`THREADS` solves at once in this process, each with one
    CP-SAT worker, progress as solves finish (the LP's first answers among it, as soon as they
    come), and the report written into ``params.out``."""
    from scheduler.usecases.whatif import (  # pandas, matplotlib: imported here only
        WhatIfOptions,
        WhatIfProgress,
        run_whatif,
        thread_pool,
    )
    from scheduler.usecases.whatif.report import write_report

    write = jobs.report_progress(factory, job_id)
    solves = [0]
    seen = [0]  # first answers written: a new one is written at once

    def progress(p: WhatIfProgress) -> None:
        solves[0] = p.done
        first = {f"{FIRST}, {name}": f.sentence() for name, f in p.first.items()}
        write({"stage": "what-if", "done": p.done, "total": p.total, "last": p.last,
               "best so far": p.best, **first}, p.done >= p.total or len(first) > seen[0])
        seen[0] = len(first)

    with session_scope(factory) as session:
        version = repo.scenario_version(session, clinic_id, params.scenario_version)
        scenario = repo.scenario_of(version)
    plan = read_plan(params.variants, scenario)
    options = WhatIfOptions(time_limit=params.time_limit, seed=params.seed,
                            headroom=params.headroom, bottleneck=params.bottleneck)
    chatter = logging.getLogger("solver")  # hundreds of solves' progress lines
    level = chatter.level
    chatter.setLevel(logging.WARNING)
    try:
        result = run_whatif(scenario, plan, options, thread_pool(THREADS), progress, now())
    finally:
        chatter.setLevel(level)
    if params.out is None:
        raise InvalidInput([Issue("out", "a what-if job names the folder of its report")])
    write_report(result, Path(params.out))
    with session_scope(factory) as session:
        found = repo.job(session, job_id)
        if found.status == "running":
            found.status, found.finished_at = "done", now()
            found.progress = {**(found.progress or {}), "done": solves[0],
                              "total": solves[0], "seconds": result.seconds}
