"""Reports over a clinic's published weeks: utilization by weekday and hour (chairs, nurses,
prescribers) and unmet demand by protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from scheduler.model import Scenario
from scheduler.storage import repo
from scheduler.storage.tables import ScheduleRow
from scheduler.usecases.whatif.figures import LOADS, WEEKDAY_NAMES, Grid, Load, week_load

__all__ = ["LOADS", "WEEKDAY_NAMES", "Grid", "Load", "Utilization", "Week", "published_weeks",
           "unmet_by_protocol", "utilization"]


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
