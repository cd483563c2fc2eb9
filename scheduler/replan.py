"""Re-planning a solved week: apply events, keep every appointment that can stay, say who moved.

The past (appointments starting before ``now``) is frozen: it becomes the new scenario's ``fixed``
list. Every other appointment of the previous schedule is known to its patient. The solver works
in lexicographic stages, each holding what the earlier ones reached, hinted with the previous
schedule: (1) rebook as many of the touched patients' sessions as possible (an appointment is
touched when an event names it, its staff, room, patient or protocol at its time, or it no longer
keeps the rules); (2) keep every untouched appointment at its minute: one moves only when that is
needed for (1), never to fit a new or waiting patient in; (3) place as many priority-weighted
sessions as possible in what is free (freed slots, new patients); (4) change as few known
appointments as possible: patients whose time moves, then room or staff swaps. Moved appointments
keep their ids, so calendar feeds move the event instead of duplicating it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scheduler.check import Booked, Violation, check, read_schedule
from scheduler.compile import Clock, to_problem
from scheduler.errors import InvalidScenario, Issue
from scheduler.events import (
    AddPatient,
    AddSessions,
    Cancel,
    ChangeProtocol,
    PatientUnavailable,
    RoomClosed,
    StaffAbsent,
    read_events,
)
from scheduler.scenario import PhaseSpec, Scenario, rems_problem, validate_scenario
from scheduler.schedule import assign_ids, schedule_document
from solver import Appointment, Options, Solution, solve

log = logging.getLogger(__name__)

FILLED = "filled a freed slot"


@dataclass(frozen=True, slots=True)
class Replanned:
    scenario: Scenario
    """The scenario with the events applied and the past frozen as ``fixed``."""
    document: dict[str, Any]
    changes: list[dict[str, Any]]
    violations: list[Violation]


def validate_events(data: Any, scenario: Scenario, previous: dict[str, Any],
                    now: datetime) -> list[Any]:
    """Parse an events document against a scenario and schedule: every problem at once."""
    indexed, issues = read_events(data)
    issues += _index(indexed, scenario, read_schedule(previous), now)
    if issues:
        raise InvalidScenario(sorted(issues, key=lambda i: _order(i.path)))
    return [e for _, e in indexed]


def _order(path: str) -> tuple[int, str]:
    digits = path[len("events["):].split("]")[0]
    return (int(digits) if digits.isdigit() else -1, path)


def _index(events: list[tuple[int, Any]], scenario: Scenario, previous: list[Booked],
           now: datetime) -> list[Issue]:
    """Events must name things that exist, and must not rewrite the frozen past."""
    issues: list[Issue] = []
    known = {a.id: a for a in previous}
    staff = {s.id for s in scenario.staff}
    rooms = {r.id for r in scenario.rooms}
    patients = {p.id for p in scenario.patients}
    protocols = {p.id: p for p in scenario.protocols}
    for i, e in events:
        where = f"events[{i}]"
        if isinstance(e, Cancel):
            if e.appointment not in known:
                issues.append(Issue(f"{where}.appointment", f"no appointment '{e.appointment}' "
                                                            "in the previous schedule"))
            elif known[e.appointment].start < now:
                issues.append(Issue(f"{where}.appointment", f"{e.appointment} started before "
                                                            "--now and cannot change"))
        elif isinstance(e, StaffAbsent) and e.staff not in staff:
            issues.append(Issue(f"{where}.staff", f"unknown staff '{e.staff}'"))
        elif isinstance(e, RoomClosed) and e.room not in rooms:
            issues.append(Issue(f"{where}.room", f"unknown room '{e.room}'"))
        elif isinstance(e, PatientUnavailable | AddSessions) and e.patient not in patients:
            issues.append(Issue(f"{where}.patient", f"unknown patient '{e.patient}'"))
        elif isinstance(e, AddPatient):
            if e.patient.id in patients:
                issues.append(Issue(f"{where}.patient.id", f"patient '{e.patient.id}' exists "
                                                           "already; use add_sessions"))
            patients.add(e.patient.id)
        elif isinstance(e, ChangeProtocol):
            p = protocols.get(e.protocol)
            if p is None:
                issues.append(Issue(f"{where}.protocol", f"unknown protocol '{e.protocol}'"))
                continue
            names = [ph.name for ph in p.phases]
            for phase in e.minutes.keys() - set(names):
                issues.append(Issue(f"{where}.minutes.{phase}", f"'{phase}' is not a phase of "
                                                                f"{p.id} ({', '.join(names)})"))
            if p.requires_rems:
                problem = rems_problem(p, [PhaseSpec(name=ph.name, minutes=e.minutes.get(
                    ph.name, ph.minutes)) for ph in p.phases])
                if problem is not None:
                    issues.append(Issue(f"{where}.minutes", problem))
    return issues


def _hhmm(t: datetime) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def apply_events(scenario: Scenario, previous: list[Booked], events: list[Any],
                 now: datetime) -> tuple[Scenario, list[Booked]]:
    """The scenario after ``events``, with the past frozen; and the known future appointments."""
    issues = _index(list(enumerate(events)), scenario, previous, now)
    if issues:
        raise InvalidScenario(issues)
    data = scenario.model_dump(mode="json", by_alias=True)
    patients = {p["id"]: p for p in data["patients"]}
    staff = {s["id"]: s for s in data["staff"]}
    rooms = {r["id"]: r for r in data["rooms"]}
    protocols = {p["id"]: p for p in data["protocols"]}
    cancelled = set()
    tz = scenario.tz
    for e in events:
        if isinstance(e, Cancel):
            cancelled.add(e.appointment)
            a = next(b for b in previous if b.id == e.appointment)
            p = patients[a.patient]
            if e.drop:
                p["sessions"] = max(0, p["sessions"] - 1)
            else:  # still wanted, but not at that time
                start, end = a.start.astimezone(tz), a.end.astimezone(tz)
                p.setdefault("unavailable", []).append(
                    {"date": str(start.date()), "from": _hhmm(start),
                     "to": _hhmm(end) if end.date() == start.date() else "24:00"})
        elif isinstance(e, StaffAbsent):
            if e.from_ is None and e.to is None:
                staff[e.staff].setdefault("time_off", []).append(str(e.date))
            else:
                staff[e.staff].setdefault("absences", []).append(
                    e.outage().model_dump(mode="json", by_alias=True))
        elif isinstance(e, RoomClosed):
            rooms[e.room].setdefault("closures", []).append(
                e.outage().model_dump(mode="json", by_alias=True))
        elif isinstance(e, PatientUnavailable):
            patients[e.patient].setdefault("unavailable", []).append(
                e.outage().model_dump(mode="json", by_alias=True))
        elif isinstance(e, AddPatient):
            new = e.patient.model_dump(mode="json", by_alias=True)
            data["patients"].append(new)
            patients[new["id"]] = new
        elif isinstance(e, AddSessions):
            patients[e.patient]["sessions"] += e.sessions
        elif isinstance(e, ChangeProtocol):
            p = protocols[e.protocol]
            phases = [{**ph, "minutes": e.minutes.get(ph["name"], ph["minutes"])}
                      for ph in p["phases"]]
            p.setdefault("revisions", []).append(
                {"from": str(e.from_), "phases": phases,
                 "turnover_minutes": e.turnover_minutes})
    # Rule 7: confirmed (fixed) appointments stay exactly as they are, past or future, unless
    # an event cancels them; the rest of the past is frozen beside them.
    confirmed = [f for f in data["fixed"] if f["id"] not in cancelled]
    kept_ids = {f.id for f in scenario.fixed}
    past = [a for a in previous if a.start < now and a.id not in cancelled
            and a.id not in kept_ids]
    rebook = {e.appointment for e in events if isinstance(e, Cancel) and not e.drop}
    future = [a for a in previous if a.start >= now and a.id not in kept_ids
              and (a.id not in cancelled or a.id in rebook)]
    data["fixed"] = confirmed + [
        {"id": a.id, "patient": a.patient,
         "start": a.start.astimezone(tz).replace(tzinfo=None).isoformat(),
         "room": a.room, "staff": a.staff} for a in past]
    why = [f"{f['id']} (fixed: confirmed, kept exactly; cancel it with an event to rebook it)"
           for f in confirmed] + [f"{a.id} (started before --now, frozen)" for a in past]
    try:
        updated = validate_scenario(data)
    except InvalidScenario as exc:
        raise InvalidScenario([_frozen(issue, why) for issue in exc.issues]) from exc
    return updated, future


def _frozen(issue: Issue, why: list[str]) -> Issue:
    if issue.path.startswith("fixed["):
        i = int(issue.path[6:issue.path.index("]")])
        return Issue(why[i], issue.message)
    return issue


def _match_ids(appointments: list[Appointment], known: list[Appointment],
               taken: set[str]) -> list[Appointment]:
    """Carry ids over: a patient's session on the same day first, then in date order."""
    by_patient: dict[str, list[Appointment]] = defaultdict(list)
    for k in sorted(known, key=lambda a: a.start):
        by_patient[k.patient].append(k)
    out: list[Appointment] = []
    pending: list[Appointment] = []
    for a in sorted(appointments, key=lambda a: a.start):
        if a.id is not None:
            out.append(a)
            continue
        same_day = next((k for k in by_patient[a.patient] if k.day == a.day), None)
        if same_day is not None:
            by_patient[a.patient].remove(same_day)
            out.append(Appointment(a.patient, a.day, a.start, a.room, a.staff, same_day.id))
        else:
            pending.append(a)
    for a in pending:
        rest = by_patient[a.patient]
        if rest:
            out.append(Appointment(a.patient, a.day, a.start, a.room, a.staff, rest.pop(0).id))
        else:
            out.append(a)
    return assign_ids(out, taken)


def _affects(event: Any, a: dict[str, Any], scenario: Scenario) -> bool:
    start = datetime.fromisoformat(a["start"]).astimezone(scenario.tz)
    end = datetime.fromisoformat(a["end"]).astimezone(scenario.tz)

    def overlaps(e: Any) -> bool:
        if e.date != start.date():
            return False
        lo = scenario.local(e.date, e.from_ or "00:00")
        hi = scenario.local(e.date, e.to or "24:00")
        return lo < end and start < hi

    if isinstance(event, Cancel):
        return bool(event.appointment == a["id"])
    if isinstance(event, StaffAbsent):
        return event.staff in a["staff"].values() and overlaps(event)
    if isinstance(event, RoomClosed):
        return bool(event.room == a["room"]) and overlaps(event)
    if isinstance(event, PatientUnavailable):
        return bool(event.patient == a["patient"]) and overlaps(event)
    if isinstance(event, ChangeProtocol):
        return bool(event.protocol == a["protocol"]) and start.date() >= event.from_
    return False


def _essence(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a["patient"], a["start"], a["end"], a["room"], sorted(a["staff"].items()))


def changes(previous: dict[str, Any], document: dict[str, Any], events: list[Any],
            scenario: Scenario) -> list[dict[str, Any]]:
    """Every appointment that differs from ``previous``, before -> after, with the reason."""
    before = {a["id"]: a for a in previous["appointments"]}
    after = {a["id"]: a for a in document["appointments"]}
    added = {e.patient.id: e for e in events if isinstance(e, AddPatient)}
    why = {u["patient"]: u["reason"] for u in document["unplaced"]}
    more = {e.patient: e for e in events if isinstance(e, AddSessions)}
    out = []
    for aid in sorted(before.keys() | after.keys()):
        b, a = before.get(aid), after.get(aid)
        if b is not None and a is not None and _essence(b) == _essence(a):
            continue
        if b is None:
            assert a is not None
            cause = added.get(a["patient"]) or more.get(a["patient"])
            reason = cause.describe() if cause is not None else FILLED
        else:
            forced = [e for e in events if _affects(e, b, scenario)]
            if forced:
                reason = "; ".join(e.describe() for e in forced)
                if a is None and b["patient"] in why:
                    reason += f"; not rebooked: {why[b['patient']]}"
            elif a is None:
                reason = "no longer fits after the changes"
            else:
                reason = "moved to make room: " + "; ".join(e.describe() for e in events)
        out.append({"id": aid, "patient": (a or b or {}).get("patient"), "before": b,
                    "after": a, "reason": reason})
    return out


def split_affected(scenario: Scenario, previous: dict[str, Any], future: list[Booked],
                   events: list[Any]) -> tuple[list[Booked], list[Booked]]:
    """Future appointments no event touches (kept exactly) and those it does (re-planned).

    An appointment is touched when an event names its time, staff, room, patient or protocol,
    or when, with the events applied, it no longer keeps every hard rule beside the others.
    """
    by_id = {a["id"]: a for a in previous["appointments"]}
    wanted = {p.id for p in scenario.patients}
    affected = {a.id for a in future
                if a.patient not in wanted or any(_affects(e, by_id[a.id], scenario)
                                                  for e in events)}
    while True:
        kept = [by_id[a.id] for a in future if a.id not in affected]
        frozen = [by_id[f.id] for f in scenario.fixed if f.id in by_id]
        broken = {v.appointment for v in check(scenario, {"appointments": [*frozen, *kept]})
                  if v.rule != "fixed"} - {f.id for f in scenario.fixed}
        if not broken:
            break
        affected |= broken
    return ([a for a in future if a.id not in affected],
            [a for a in future if a.id in affected])


def replan(scenario: Scenario, previous: dict[str, Any], events: list[Any], now: datetime,
           options: Options, on_progress: Any = None) -> Replanned:
    """Apply ``events`` to a solved week and re-solve, changing as little as possible."""
    booked = read_schedule(previous)
    updated, future = apply_events(scenario, booked, events, now)
    untouched, affected = split_affected(updated, previous, future, events)
    clock = Clock(updated)

    def known(a: Booked) -> Appointment:
        return Appointment(a.patient, clock.day_index(a.start.astimezone(clock.tz).date()),
                           clock.minute(a.start), a.room, dict(a.staff), a.id)

    problem = to_problem(updated, not_before=now,
                         previous=tuple(map(known, [*untouched, *affected])))
    problem = replace(problem, touched=frozenset(a.id for a in affected))
    log.info("re-planning: %d appointment(s) touched by the events, %d untouched",
             len(affected), len(untouched))
    solution = solve(problem, options, on_progress)
    taken = {a.id for a in booked}
    fixed_ids = {f.id for f in problem.fixed}
    new = [a for a in solution.appointments if a.id not in fixed_ids]
    renamed = [a for a in solution.appointments if a.id in fixed_ids]
    renamed += _match_ids([Appointment(a.patient, a.day, a.start, a.room, a.staff)
                           for a in new], list(problem.previous), taken)
    solved = Solution(solution.status, solution.seconds, solution.objective, solution.bound,
                      renamed, solution.unplaced, solution.penalties,
                      solution.greedy_objective)
    document = schedule_document(updated, problem, solved, now)
    document["replanned_from"] = previous.get("generated_at")
    listed = changes(previous, document, events, updated)
    moved = sum(1 for c in listed if c["before"] is not None)
    document["kpis"]["changed_appointments"] = moved
    violations = check(updated, document)
    for v in violations:
        log.error("re-plan produced a schedule that breaks a hard rule: %s", v)
    return Replanned(updated, document, listed, violations)

