"""Re-planning a solved week: apply events, keep every appointment that can stay, say who moved.

The past (appointments starting before ``now``) is frozen and confirmed ``fixed`` appointments are
kept exactly (rule 7): both become the new scenario's ``fixed`` list. Every other appointment of
the previous schedule is known to its patient. The solver works in lexicographic stages, each
holding what the earlier ones reached, hinted with the previous schedule: (1) rebook as many of
the touched patients' sessions as possible (an appointment is touched when an event names it, its
staff, room, patient or protocol at its time, or it no longer keeps the rules); (2) keep every
untouched appointment at its minute: one moves only when that is needed for (1), never to fit a
new or waiting patient in; (3) place as many priority-weighted sessions as possible in what is
free (freed slots, new patients); (4) change as few known appointments as possible: patients
whose time moves, then room or staff swaps. Moved appointments keep their ids, so calendar feeds
move the event instead of duplicating it. A first answer, with every untouched appointment
pinned (a few in the way freed only when that rebooks a touched patient's session), comes within
about a second; the whole week's stages then improve on it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from scheduler.check import Violation, check
from scheduler.compile import SlotClock, to_problem
from scheduler.documents import (
    Appointment,
    Change,
    ChangeList,
    Kpis,
    Schedule,
    assign_ids,
    placed_of,
    schedule_from_solution,
)
from scheduler.edits import (
    AddPatient,
    AddSessions,
    Cancel,
    ChangeProtocol,
    ClinicClosed,
    EditContext,
    PatientUnavailable,
    RoomClosed,
    StaffAbsent,
    apply_edits,
    scenario_data,
)
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.usecases.inputs import known_appointments
from scheduler.usecases.plan import ProgressFn
from scheduler.validate import validate_scenario
from solver import FIRST_SECONDS, Options, Placement, Problem, Solution, first_answer, solve

log = logging.getLogger(__name__)

FILLED = "filled a freed slot"


@dataclass(frozen=True, slots=True)
class Replanned:
    scenario: Scenario
    """The scenario with the events applied and the past frozen as ``fixed``."""
    schedule: Schedule
    changes: ChangeList
    violations: list[Violation]


def _frozen_scenario(scenario: Scenario, previous: Schedule, events: Sequence[Any],
                     now: datetime) -> tuple[Scenario, list[Appointment]]:
    """The scenario after ``events``, with confirmed and past appointments as ``fixed``; and
    the known future appointments that may be re-planned."""
    ctx = EditContext(scenario, known_appointments(previous), now)
    data = scenario_data(scenario)
    issues = apply_edits(data, [(f"events[{i}]", e) for i, e in enumerate(events)], ctx)
    if issues:
        raise InvalidInput(issues)
    tz = SlotClock(scenario).tz
    confirmed = [f for f in data["fixed"] if f["id"] not in ctx.cancelled]
    kept_ids = {f.id for f in scenario.fixed}
    past = [a for a in previous.appointments
            if a.start < now and a.id not in ctx.cancelled and a.id not in kept_ids]
    rebook = {e.appointment for e in events if isinstance(e, Cancel) and not e.drop}
    future = [a for a in previous.appointments if a.start >= now and (
        a.id in rebook or (a.id not in kept_ids and a.id not in ctx.cancelled))]
    mains = {p["id"]: p.get("protocol") for p in data.get("patients", [])}
    data["fixed"] = confirmed + [
        {"id": a.id, "patient": a.patient,
         "start": a.start.astimezone(tz).isoformat(),  # with its offset: 01:30 twice
         **({"room": a.room} if a.room is not None else {}), "staff": dict(a.staff),
         **({"protocol": a.protocol} if a.protocol != mains.get(a.patient) else {})}
        for a in past]
    why = [f"{f['id']} (fixed: confirmed, kept exactly; cancel it with an event to rebook it)"
           for f in confirmed] + [f"{a.id} (started before --now, frozen)" for a in past]
    try:
        return validate_scenario(data), future
    except InvalidInput as exc:
        raise InvalidInput([_frozen(issue, why) for issue in exc.issues]) from exc


def _frozen(issue: Issue, why: list[str]) -> Issue:
    if issue.path.startswith("fixed["):
        i = int(issue.path[6:issue.path.index("]")])
        return Issue(why[i], issue.message)
    return issue


def _match_ids(appointments: list[Placement], known: list[Placement],
               taken: set[str]) -> list[Placement]:
    """Carry ids over: a patient's session on the same day first, then in date order."""
    by_patient: dict[tuple[str, str | None], list[Placement]] = defaultdict(list)
    for k in sorted(known, key=lambda a: a.start):  # a session's id never goes to a follow-up
        by_patient[k.patient, k.protocol].append(k)
    out: list[Placement] = []
    pending: list[Placement] = []
    for a in sorted(appointments, key=lambda a: a.start):
        if a.id is not None:
            out.append(a)
            continue
        mine = by_patient[a.patient, a.protocol]
        same_day = next((k for k in mine if k.day == a.day), None)
        if same_day is not None:
            mine.remove(same_day)
            out.append(replace(a, id=same_day.id))
        else:
            pending.append(a)
    for a in pending:
        rest = by_patient[a.patient, a.protocol]
        if rest:
            out.append(replace(a, id=rest.pop(0).id))
        else:
            out.append(a)
    return assign_ids(out, taken)


def _affects(event: Any, a: Appointment, clock: SlotClock) -> bool:
    start, end = a.start.astimezone(clock.tz), a.end.astimezone(clock.tz)

    def overlaps(e: Any) -> bool:
        if e.date != start.date():
            return False
        lo, hi = clock.wall(e.date, e.from_ or "00:00"), clock.wall(e.date, e.to or "24:00")
        return lo < end and start < hi

    if isinstance(event, Cancel):
        return event.appointment == a.id
    if isinstance(event, StaffAbsent):
        return event.staff in a.staff.values() and overlaps(event)
    if isinstance(event, RoomClosed):
        return event.room == a.room and overlaps(event)
    if isinstance(event, PatientUnavailable):
        return event.patient == a.patient and overlaps(event)
    if isinstance(event, ClinicClosed):
        return start.date() == event.date
    if isinstance(event, ChangeProtocol):
        return event.protocol == a.protocol and start.date() >= event.from_
    return False


def _essence(a: Appointment) -> tuple[Any, ...]:
    # in UTC: Python never calls a time in a fall-back night's repeated hour equal to the
    # same instant written in another zone (PEP 495)
    return (a.patient, a.start.astimezone(UTC), a.end.astimezone(UTC), a.room,
            sorted(a.staff.items()))


def changes(previous: Schedule, schedule: Schedule, events: Sequence[Any],
            scenario: Scenario) -> ChangeList:
    """Every appointment that differs from ``previous``, before -> after, with the reason."""
    clock = SlotClock(scenario)
    before = {a.id: a for a in previous.appointments}
    after = {a.id: a for a in schedule.appointments}
    added = {e.patient.id: e for e in events if isinstance(e, AddPatient)}
    why = {u.patient: u.reason for u in schedule.unplaced}
    more = {e.patient: e for e in events if isinstance(e, AddSessions)}
    out = []
    for aid in sorted(before.keys() | after.keys()):
        b, a = before.get(aid), after.get(aid)
        if b is not None and a is not None and _essence(b) == _essence(a):
            continue
        if b is None:
            assert a is not None
            cause = added.get(a.patient) or more.get(a.patient)
            reason = cause.describe() if cause is not None else FILLED
        else:
            forced = [e for e in events if _affects(e, b, clock)]
            if forced:
                reason = "; ".join(e.describe() for e in forced)
                if a is None and b.patient in why:
                    reason += f"; not rebooked: {why[b.patient]}"
            elif a is None:
                reason = "no longer fits after the changes"
            else:
                reason = "moved to make room: " + "; ".join(e.describe() for e in events)
        either = a or b
        assert either is not None
        out.append(Change(id=aid, patient=either.patient, before=b, after=a, reason=reason))
    return out


def split_affected(scenario: Scenario, previous: Schedule, future: list[Appointment],
                   events: Sequence[Any]) -> tuple[list[Appointment], list[Appointment]]:
    """Future appointments no event touches (kept exactly) and those it does (re-planned).

    An appointment is touched when an event names its time, staff, room, patient or protocol,
    or when, with the events applied, it no longer keeps every hard rule beside the others.
    """
    clock = SlotClock(scenario)
    by_id = {a.id: a.model_dump(mode="json") for a in previous.appointments}
    wanted = {p.id for p in scenario.patients}
    affected = {a.id for a in future
                if a.patient not in wanted or any(_affects(e, a, clock) for e in events)}
    fixed_ids = {f.id for f in scenario.fixed}
    while True:
        kept = [by_id[a.id] for a in future if a.id not in affected]
        frozen = [by_id[f.id] for f in scenario.fixed if f.id in by_id]
        broken = {v.appointment for v in check(scenario, {"appointments": [*frozen, *kept]})
                  if v.rule != "fixed"} - fixed_ids
        if not broken:
            break
        affected |= broken
    return ([a for a in future if a.id not in affected],
            [a for a in future if a.id in affected])


FIRST_SHARE = 0.5
"""At most this share of a re-plan's time limit goes to its first answer (a short limit, as in
tests, still leaves the full model its half)."""


def replan(scenario: Scenario, previous: Schedule, events: Sequence[Any], now: datetime,
           options: Options, on_progress: ProgressFn | None = None, *,
           on_first: Callable[[Replanned], None] | None = None,
           two_step: bool = True) -> Replanned:
    """Apply ``events`` to a solved week and re-solve, changing as little as possible.

    In two steps (``two_step``): first only what the events touched is rebooked, everything
    else pinned but for a few neighbours that may move to rebook a touched patient's session
    (``solver.repair.first_answer``, about a second), handed to ``on_first`` when
    it passes the checker; then the whole week's model, hinted with that answer and never worse
    than it, within what is left of ``options.time_limit``. ``two_step=False`` runs the whole
    model alone, from the greedy first fit (the re-plan before first answers).
    """
    updated, future = _frozen_scenario(scenario, previous, events, now)
    untouched, affected = split_affected(updated, previous, future, events)
    clock = SlotClock(updated)

    def known(a: Appointment) -> Placement:
        return placed_of(a, clock)

    problem = to_problem(updated, not_before=now,
                         previous=tuple(map(known, [*untouched, *affected])))
    problem = replace(problem, touched=frozenset(a.id for a in affected))
    log.info("re-planning: %d appointment(s) touched by the events, %d untouched",
             len(affected), len(untouched))
    t0 = time.perf_counter()
    start: Solution | None = None
    if two_step:
        limit = min(FIRST_SECONDS, options.time_limit * FIRST_SHARE)
        start = first_answer(problem, replace(options, time_limit=limit), on_progress)
        first = _replanned(updated, previous, events, now, problem, start)
        if first.violations:  # never offered, nor the floor of the final answer
            start = None
        elif on_first is not None:
            on_first(first)
        log.info("first answer in %.1f s: weighted %d", time.perf_counter() - t0,
                 first.schedule.kpis.weighted if first.schedule.kpis else 0)
    spent = (time.perf_counter() - t0 if not options.deterministic
             else min(FIRST_SECONDS, options.time_limit * FIRST_SHARE) if two_step else 0.0)
    rest = replace(options, time_limit=max(options.time_limit - spent, 0.5))
    return _replanned(updated, previous, events, now, problem,
                      solve(problem, rest, on_progress, start=start))


def _replanned(updated: Scenario, previous: Schedule, events: Sequence[Any], now: datetime,
               problem: Problem, solution: Solution) -> Replanned:
    """The re-planned schedule of ``solution``: ids carried over, changes listed, checked."""
    taken = {a.id for a in previous.appointments} | {f.id for f in updated.fixed}
    fixed_ids = {f.id for f in problem.fixed}
    new = [a for a in solution.appointments if a.id not in fixed_ids]
    renamed = [a for a in solution.appointments if a.id in fixed_ids]
    renamed += _match_ids([replace(a, id=None) for a in new],
                          list(problem.previous), taken)
    solved = Solution(solution.status, solution.seconds, solution.objective, solution.bound,
                      renamed, solution.unplaced, solution.penalties,
                      solution.greedy_objective)
    schedule = schedule_from_solution(updated, problem, solved, now)
    schedule = schedule.model_copy(update={"replanned_from": previous.to_json().get(
        "generated_at")})
    listed = changes(previous, schedule, events, updated)
    moved = sum(1 for c in listed if c.before is not None)
    assert schedule.kpis is not None
    schedule = schedule.model_copy(update={"kpis": Kpis(**{
        **schedule.kpis.model_dump(), "changed_appointments": moved})})
    violations = check(updated, schedule.to_json())
    for v in violations:
        log.error("re-plan produced a schedule that breaks a hard rule: %s", v)
    return Replanned(updated, schedule, listed, violations)
