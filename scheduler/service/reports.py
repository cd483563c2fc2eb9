"""Reports over a clinic's published weeks: utilization by weekday and hour (chairs, nurses,
prescribers) and unmet demand by protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.naming import Namer
from scheduler.storage import repo
from scheduler.storage.tables import ScheduleRow
from scheduler.usecases.whatif.figures import LOADS, WEEKDAY_NAMES, Grid, Load, week_load

__all__ = ["LOADS", "WEEKDAY_NAMES", "Grid", "Load", "Utilization", "Week", "count_week",
           "published_weeks", "unmet_by_protocol", "utilization"]


@dataclass(frozen=True, slots=True)
class Week:
    start: str
    days: int
    number: int
    schedule_id: int


def published_weeks(session: Session, clinic_id: int
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
        count_week(table, scenario, repo.to_schedule(row))
    return sorted(table.values(), key=lambda e: (-e["unplaced"], e["protocol"]))


def count_week(table: dict[str, dict[str, Any]], scenario: Scenario, doc: Schedule) -> None:
    """Adds one week to ``table``. Each session counts under its own protocol: a follow-up
    (KAP integration) under the follow-up's, a dose step's under the step's, so a row's
    wanted is its placed plus its not placed (follow-ups were counted as placed KAP dosings,
    never as wanted: "wanted 5, placed 9", and no integration row). The reasons are said in
    names ("Dana Fischer (N4)")."""
    names = {p.id: p.name for p in scenario.protocols}
    patients = {p.id: p for p in scenario.patients}
    say = Namer.of(scenario)  # the reasons in names, each week's own

    def entry(protocol: str) -> dict[str, Any]:
        return table.setdefault(protocol, {"protocol": protocol, "name": names.get(
            protocol, protocol), "wanted": 0, "placed": 0, "unplaced": 0, "reasons": {}})

    for a in doc.appointments:
        e = entry(a.protocol)
        e["placed"] += 1
        e["wanted"] += 1
    for u in doc.unplaced:
        p = patients.get(u.patient)
        protocol = p.protocol if p is not None else "?"
        if p is not None and p.follow_up is not None and \
                u.reason.startswith(f"{p.follow_up.protocol} follow-up"):
            protocol = p.follow_up.protocol
        e = entry(protocol)
        e["unplaced"] += u.sessions
        e["wanted"] += u.sessions
        reason = say(u.reason)
        e["reasons"][reason] = e["reasons"].get(reason, 0) + u.sessions


@dataclass(frozen=True, slots=True)
class Utilization:
    weeks: list[Week]
    total: Load | None
    """The minutes used and open over all the weeks (None when nothing is published)."""
    unmet: list[dict[str, Any]]


def utilization(session: Session, clinic_id: int) -> Utilization:
    """The clinic's use of chairs, nurses and prescribers over its published weeks."""
    weeks = published_weeks(session, repo.clinic(session, clinic_id).id)
    total: Load | None = None
    for _, row, scenario in weeks:
        week = week_load(scenario, repo.to_schedule(row))
        total = week if total is None else total + week
    return Utilization([w for w, _, _ in weeks], total, unmet_by_protocol(weeks))
