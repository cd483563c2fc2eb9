"""Reading what callers hand in: scenarios (a file, or the embedded demo clinic), a patients
CSV, previous schedules, events and variants. Every problem at once, as InvalidInput."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from scheduler.documents import Schedule
from scheduler.edits import (
    EditContext,
    Variant,
    apply_edits,
    parse_events,
    parse_variants,
    scenario_data,
)
from scheduler.errors import InvalidInput, Issue
from scheduler.library import DEMO, data_text
from scheduler.model import Scenario
from scheduler.patients_csv import read_patients_csv, relabel
from scheduler.validate import parse_text, read_data, validate_scenario

MAX_WEEKS = 8
"""Longest horizon a ``weeks`` option plans (a course's induction and consolidation, 8 weeks)."""


def load_input(scenario: Path | None = None, patients: Path | None = None,
               weeks: int | None = None) -> Scenario:
    """A validated scenario from ``scenario`` (YAML or JSON; None: the embedded demo clinic),
    its patients replaced by the rows of a front-desk CSV when ``patients`` is given, over
    ``weeks`` calendar weeks from its horizon's start when given. Patients' courses come back
    expanded into plain sessions, gaps and per-week limits (``scheduler.courses``)."""
    data = parse_text(data_text(DEMO)) if scenario is None else read_data(scenario)
    if weeks is not None:
        data = with_weeks(data, weeks)
    if patients is None:
        return validate_scenario(data)
    return with_patients_csv(data, patients)


def with_patients_csv(data: Any, csv: Path | IO[bytes], name: str | None = None) -> Scenario:
    """Scenario data with its patients replaced by a front-desk CSV (a file or an upload called
    ``name``), validated: every problem at once, each naming the CSV's row."""
    clinic = data.get("clinic") if isinstance(data, dict) else None
    date_format = clinic.get("date_format") if isinstance(clinic, dict) else None
    rows, problems = read_patients_csv(csv, name, date_format if isinstance(date_format, str)
                                       else None)
    label = name or (csv.name if isinstance(csv, Path) else "patients.csv")
    if isinstance(data, dict):
        data = {**data, "patients": rows}
    try:
        loaded = validate_scenario(data)
    except InvalidInput as exc:
        raise InvalidInput(problems + relabel(exc.issues, label)) from exc
    if problems:
        raise InvalidInput(problems)
    return loaded


def with_weeks(data: Any, weeks: int) -> Any:
    """Scenario data whose horizon lasts ``weeks`` weeks (1 to 8) from the same first day."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput([Issue("weeks", f"{weeks} is not between 1 and {MAX_WEEKS}")])
    if not isinstance(data, dict) or not isinstance(data.get("horizon"), dict):
        return data  # validation names what is missing
    return {**data, "horizon": {**data["horizon"], "days": 7 * weeks}}


def plain_scenario(scenario: Scenario) -> dict[str, Any]:
    """The scenario as contract data (what ``chairtime expand`` writes): explicit sessions,
    gaps, priorities and per-week limits (defaults written out), no courses."""
    data = {"version": 1, **scenario_data(scenario)}
    for row, p in zip(data["patients"], scenario.patients, strict=True):
        row |= {"sessions": p.sessions, "min_gap_days": p.min_gap_days, "priority": p.priority}
    return data


def read_schedule_file(path: Path) -> Schedule:
    """A ``schedule.json`` file; an unreadable one names the file and the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput([Issue(str(path), f"cannot be read as a schedule: {exc}")]) from exc
    return Schedule.from_json(data, where=str(path))


def known_appointments(previous: Schedule) -> dict[str, tuple[str, datetime, datetime]]:
    return {a.id: (a.patient, a.start, a.end) for a in previous.appointments}


def read_events(data: Any, scenario: Scenario, previous: Schedule,
                now: datetime) -> list[tuple[str, Any]]:
    """An events document checked against a scenario and its schedule, each event with its
    path (``events[2]``): every problem of every event at once, else the events."""
    events, issues = parse_events(data)
    indexed = [(f"events[{i}]", e) for i, e in enumerate(events)]
    issues += apply_edits(scenario_data(scenario), [(p, e) for p, e in indexed if e is not None],
                          EditContext(scenario, known_appointments(previous), now))
    if issues:
        raise InvalidInput(sorted(issues, key=lambda i: _order(i.path)))
    return indexed


def read_variants(data: Any, scenario: Scenario) -> list[Variant]:
    """A variants document checked against the base scenario: every problem of every edit of
    every variant at once (each naming the variant and the edit), else the variants."""
    variants, issues = parse_variants(data)
    for variant in variants:
        issues += apply_edits(scenario_data(scenario), variant.located(), EditContext(scenario))
    if issues:
        raise InvalidInput(issues)
    return variants


def _order(path: str) -> tuple[int, str]:
    digits = path[len("events["):].split("]")[0]
    return (int(digits) if digits.isdigit() else -1, path)
