"""Rolling weekly plans: the last published schedule folded into the course history, the weeks
already published kept as fixed, the next week planned.

A clinic plans a week at a time. A roll takes the scenario as the clinic keeps it (patients'
``course:`` states, not the expanded sessions) and the schedule last published for it, and:

- every published session before the new horizon's start is folded into its patient's course
  ``history`` (``done`` counts it too when the course keeps a count); a patient without a
  course gets it as ``last_session``. Sessions named as missed are not folded: the course
  simply continues from the sessions that took place (a missed induction session continues the
  series, it does not restart it);
- published sessions inside the new horizon stay as ``fixed`` appointments, with their ids;
- the horizon moves one week on (its length kept, or ``weeks`` calendar weeks);
- the new week is planned; new appointment ids are numbered after every id the previous
  schedule used, so ids stay unique across weeks (an id, once published, is never reused).

The rolled scenario keeps the clinic's own form (courses and their grown history, no expanded
fields), so next week's roll starts from it.

>>> data = raw_scenario(None)                                             # doctest: +SKIP
>>> rolled = roll_scenario(data, previous, RollOptions(missed=("A-0012",)))  # doctest: +SKIP
>>> rolled.data["horizon"]                                                # doctest: +SKIP
{'start': '2026-12-14', 'days': 7}
"""

from __future__ import annotations

import copy
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from scheduler.check import Violation
from scheduler.courses import derive, for_scenario, library
from scheduler.documents import Appointment, Schedule
from scheduler.errors import InvalidInput, Issue
from scheduler.library import DEMO, data_text
from scheduler.model import CourseSpec, CourseState, Scenario
from scheduler.usecases.inputs import MAX_WEEKS
from scheduler.usecases.plan import ProgressFn, plan_week
from scheduler.validate import parse_text, read_data, validate_scenario
from solver import Options

__all__ = [
    "CourseStatus",
    "RollOptions",
    "Rolled",
    "RolledPlan",
    "course_status",
    "keep_courses",
    "number_after",
    "numbers",
    "raw_scenario",
    "roll",
    "roll_scenario",
]

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^A-(\d+)$")


def raw_scenario(path: Path | None) -> dict[str, Any]:
    """The scenario as the clinic keeps it (courses not expanded): a file's, or the embedded
    demo clinic's when ``path`` is None."""
    data = parse_text(data_text(DEMO)) if path is None else read_data(path)
    if not isinstance(data, dict):
        validate_scenario(data)  # names what is wrong
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True, slots=True)
class RollOptions:
    """How a roll moves on."""

    weeks: int | None = None
    """The new horizon in calendar weeks (1-8); None keeps the previous horizon's length."""
    start: date | None = None
    """The new horizon's first day; None: one week after the previous one's."""
    now: datetime | None = None
    """When the roll is made (aware); sessions before the new horizon that start after it are
    expected, folded all the same. None: the new horizon's start. It may not lie after it."""
    missed: tuple[str, ...] = ()
    """Published appointments that did not take place (ids of the previous schedule)."""
    where: str = "previous"
    """The previous schedule's name in messages (its file name)."""


@dataclass(frozen=True, slots=True)
class Rolled:
    """A scenario rolled one step on, before planning."""

    data: dict[str, Any]
    """The new scenario as the clinic keeps it: grown history, new horizon, the kept
    appointments under ``fixed``."""
    scenario: Scenario
    """The same, validated and expanded (what is solved and checked)."""
    folded: dict[str, list[date]]
    """Dates folded into each patient's history (or last session)."""
    kept: list[str]
    """Ids of the published appointments kept as fixed."""
    missed: list[str]
    """Ids of the published appointments that did not take place."""
    first_id: int
    """New appointments are numbered from A-<first_id>."""
    now: datetime
    past: list[Appointment] = field(default_factory=list)
    """Published sessions before the new horizon that took place (for the feeds: they stay)."""


@dataclass(frozen=True, slots=True)
class RolledPlan:
    rolled: Rolled
    schedule: Schedule
    violations: list[Violation]


def _local_date(t: datetime, scenario: Scenario) -> date:
    return t.astimezone(scenario.tz).date()


def _courses(data: dict[str, Any]) -> dict[str, CourseSpec]:
    """The library's courses and the scenario's own (as given), by id."""
    own = TypeAdapter(list[CourseSpec]).validate_python(data.get("courses") or [])
    return {**library(), **{c.id: c for c in own}}


def numbers(ids: Sequence[str]) -> list[int]:
    """The numbers of ``A-NNNN`` ids."""
    return [int(m.group(1)) for i in ids if (m := _NUMBERED.match(i))]


def _previous_issues(previous: Schedule, old: Scenario, where: str) -> list[Issue]:
    """A previous schedule that is not this scenario's (another clinic, another horizon)."""
    issues: list[Issue] = []
    if previous.scenario and previous.scenario != old.clinic.name:
        issues.append(Issue(f"{where}.scenario", f"is '{previous.scenario}', not this "
                            f"scenario's clinic '{old.clinic.name}': roll the schedule that was "
                            "published for this clinic"))
    patients = {p.id for p in old.patients}
    rooms = {r.id for r in old.rooms}
    first, last = old.horizon.start, old.horizon.start + timedelta(days=old.horizon.days - 1)
    for i, a in enumerate(previous.appointments):
        if a.patient not in patients:
            issues.append(Issue(f"{where}.appointments[{i}].patient", f"unknown patient "
                                f"'{a.patient}' ({a.id}): not a patient of this scenario"))
        if a.room is not None and a.room not in rooms:  # None: a session without a room
            issues.append(Issue(f"{where}.appointments[{i}].room", f"unknown room '{a.room}' "
                                f"({a.id}): not a room of this scenario"))
        day = _local_date(a.start, old)
        if not first <= day <= last:
            issues.append(Issue(f"{where}.appointments[{i}].start", f"{day} ({a.id}) is "
                                f"outside the scenario's horizon ({first} to {last}): roll the "
                                "scenario that was solved into this schedule"))
    seen: set[str] = set()
    for i, a in enumerate(previous.appointments):
        if a.id in seen:
            issues.append(Issue(f"{where}.appointments[{i}].id", f"{a.id} is listed twice"))
        seen.add(a.id)
    return issues


def _new_horizon(old: Scenario, options: RollOptions) -> tuple[date, int, list[Issue]]:
    issues: list[Issue] = []
    start = options.start or old.horizon.start + timedelta(days=7)
    if start <= old.horizon.start:
        issues.append(Issue("start", f"{start} is not after the previous horizon's start "
                            f"({old.horizon.start}): a roll moves the horizon forward"))
    days = old.horizon.days
    if options.weeks is not None:
        if not 1 <= options.weeks <= MAX_WEEKS:
            issues.append(Issue("weeks", f"{options.weeks} is not between 1 and {MAX_WEEKS}"))
        else:
            days = 7 * options.weeks
    return start, days, issues


def _fold(patient: dict[str, Any], days: list[date], protocol: str | None,
          doses: dict[int, str]) -> None:
    """Sessions that took place, folded into a patient's course history (or last session)."""
    course = patient.get("course")
    if not isinstance(course, dict):
        last = [date.fromisoformat(str(patient["last_session"]))] if patient.get(
            "last_session") else []
        patient["last_session"] = max([*last, *days]).isoformat()
        return
    history = [date.fromisoformat(str(d)) for d in course.get("history") or []]
    new = [d for d in days if d not in history]
    course["history"] = [d.isoformat() for d in sorted({*history, *new})]
    if course.get("done") is not None:
        course["done"] = int(course["done"]) + len(new)
    if doses and course.get("dose") is None and protocol is not None:
        step = next((dose for dose, pid in doses.items() if pid == protocol), None)
        if step is not None:  # the dose received, kept until the clinician changes it
            course["dose"] = step


def roll_scenario(data: dict[str, Any], previous: Schedule,
                  options: RollOptions = RollOptions()) -> Rolled:
    """``data`` (a scenario as the clinic keeps it) rolled on past ``previous`` (its last
    published schedule): history folded, future sessions fixed, the horizon moved on.

    Raises :class:`InvalidInput` with every problem at once, each naming its field
    (``previous.scenario``, or an option: ``start``, ``now``, ``missed[j]``, ``weeks``)."""
    old = validate_scenario(copy.deepcopy(data))
    where = options.where
    issues = _previous_issues(previous, old, where)
    start, days, horizon_issues = _new_horizon(old, options)
    issues += horizon_issues
    tz = old.tz
    begins = datetime.combine(start, time(0), tz)
    now = options.now or begins
    if now.tzinfo is None:
        issues.append(Issue("now", f"'{now.isoformat()}' needs a UTC offset"))
    elif now > begins:
        issues.append(Issue("now", f"{now.isoformat()} is after the new horizon starts "
                            f"({begins.isoformat()}): roll before the week begins (re-plan a "
                            "week already under way with replan)"))
    end = start + timedelta(days=days - 1)
    by_id = {a.id: a for a in previous.appointments}
    for j, aid in enumerate(options.missed):
        a = by_id.get(aid)
        if a is None:
            issues.append(Issue(f"missed[{j}]", f"unknown appointment '{aid}': not in "
                                f"{where}"))
        elif _local_date(a.start, old) >= start:
            issues.append(Issue(f"missed[{j}]", f"{aid} is on {_local_date(a.start, old)}, "
                                f"inside the new horizon (from {start}): it cannot have been "
                                "missed yet (cancel it with replan)"))
    later = [a for a in previous.appointments if _local_date(a.start, old) > end]
    if later:
        issues.append(Issue("weeks", f"the new horizon ends on {end}, before published "
                            f"sessions ({', '.join(a.id for a in later[:5])}"
                            f"{', …' if len(later) > 5 else ''}): plan at least up to "
                            f"{max(_local_date(a.start, old) for a in later)}"))
    if issues:
        raise InvalidInput(issues)

    missed = set(options.missed)
    courses = _courses(data)
    out = copy.deepcopy(data)
    raw_patients = {str(p.get("id")): p for p in out.get("patients") or []
                    if isinstance(p, dict)}
    folded: dict[str, list[date]] = defaultdict(list)
    last_protocol: dict[str, str] = {}
    past: list[Appointment] = []
    fixed: list[dict[str, Any]] = []
    follow_ups = {p.id: p.follow_up.protocol for p in old.patients if p.follow_up is not None}
    for a in sorted(previous.appointments, key=lambda a: a.start):
        day = _local_date(a.start, old)
        follow_up = follow_ups.get(a.patient) == a.protocol  # KAP integration: not a dose
        if day >= start:
            wall = a.start.astimezone(tz)
            kept: dict[str, Any] = {"id": a.id, "patient": a.patient,
                                    "start": wall.strftime("%Y-%m-%dT%H:%M")}
            if a.room is not None:
                kept["room"] = a.room
            if follow_up:
                kept["protocol"] = a.protocol
            fixed.append({**kept, "staff": dict(a.staff)})
        elif a.id not in missed:
            past.append(a)
            if not follow_up:
                folded[a.patient].append(day)
                last_protocol[a.patient] = a.protocol
    for pid, dates in folded.items():
        raw = raw_patients[pid]
        course = raw.get("course")
        spec = courses.get(str(course.get("id"))) if isinstance(course, dict) else None
        _fold(raw, dates, last_protocol.get(pid), dict(spec.doses) if spec else {})
    for f in fixed:  # a kept follow-up (its session folded) names its protocol
        raw = raw_patients[f["patient"]]
        course = raw.get("course")
        spec = courses.get(str(course.get("id"))) if isinstance(course, dict) else None
        if "protocol" in f and spec is not None and spec.follow_up is not None \
                and not raw.get("follow_up"):
            # Validation reads fixed follow-ups against the patient as given, whose follow-up
            # only expansion derives from the course: say it (the same as the course's).
            raw["follow_up"] = spec.follow_up.model_dump(mode="json")
    out["horizon"] = {**(out.get("horizon") or {}), "start": start.isoformat(), "days": days}
    out["fixed"] = fixed
    try:
        scenario = validate_scenario(copy.deepcopy(out))
    except InvalidInput as exc:
        raise InvalidInput([Issue(f"rolled scenario: {i.path}", i.message)
                            for i in exc.issues]) from exc
    used = numbers([a.id for a in previous.appointments] + [f["id"] for f in fixed])
    expected = [a.id for a in past if a.start >= now]
    if expected:
        log.info("%d session(s) before the new horizon have not taken place yet at %s; "
                 "folded as expected (%s…)", len(expected), now.isoformat(),
                 ", ".join(expected[:3]))
    log.info("rolled to %s + %d days: %d session(s) folded into %d patients' history, %d kept "
             "as fixed, %d missed", start, days, sum(map(len, folded.values())), len(folded),
             len(fixed), len(missed))
    return Rolled(data=out, scenario=scenario, folded=dict(folded),
                  kept=[f["id"] for f in fixed], missed=sorted(missed),
                  first_id=max(used, default=0) + 1, now=now, past=past)


def number_after(schedule: Schedule, keep: set[str], first: int) -> Schedule:
    """``schedule`` with every appointment not in ``keep`` numbered ``A-<first>`` on, in order
    of start: ids the previous weeks published are never given to another session."""
    n = first
    appointments = []
    for a in sorted(schedule.appointments, key=lambda a: (a.start, a.patient)):
        if a.id not in keep:
            a = a.model_copy(update={"id": f"A-{n:04d}"})
            n += 1
        appointments.append(a)
    return schedule.model_copy(update={"appointments": appointments})


def roll(data: dict[str, Any], previous: Schedule, options: RollOptions, solve: Options,
         on_progress: ProgressFn | None = None, at: datetime | None = None) -> RolledPlan:
    """Roll ``data`` on past ``previous`` and plan the new horizon (checked independently);
    ``at`` is when the schedule is made (its ``generated_at``; default now)."""
    rolled = roll_scenario(data, previous, options)
    planned = plan_week(rolled.scenario, solve, on_progress, at or datetime.now(UTC))
    schedule = number_after(planned.schedule, set(rolled.kept), rolled.first_id)
    return RolledPlan(rolled, schedule, planned.violations)


_DERIVED = ("sessions", "min_gap_days", "per_week", "priority", "last_session", "protocol",
            "step", "follow_up")
"""A course patient's fields that expansion writes; as given, they are the course's to say."""


def keep_courses(given: dict[str, Any], edited: Scenario) -> dict[str, Any] | Scenario:
    """``edited`` (a scenario after re-planning events, expanded) in the form the clinic keeps
    (``given``'s): each course patient's derived fields replaced by the course they came from,
    the clinic's own courses back. Everything the events changed stays (absences, closures,
    new patients, the frozen past as fixed). When that form does not say the same (an event
    added sessions to a course patient, which only the plain form can say) ``edited`` comes
    back as it is, and the course is no longer kept."""
    coursed = {str(p.get("id")): p for p in given.get("patients") or []
               if isinstance(p, dict) and p.get("course")}
    if not coursed and not given.get("courses"):
        return edited
    data = edited.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for row in data.get("patients", []):
        raw = coursed.get(row["id"])
        if raw is None:
            continue
        for name in _DERIVED:
            row.pop(name, None)
            if name in raw:
                row[name] = copy.deepcopy(raw[name])
        row["course"] = copy.deepcopy(raw["course"])
    data["courses"] = copy.deepcopy(given.get("courses") or [])
    try:
        again = validate_scenario(copy.deepcopy(data))
    except InvalidInput as exc:
        log.warning("the re-planned scenario keeps no course state: %s", exc)
        return edited
    wanted = {p.id: (p.protocol, p.sessions, p.min_gap_days) for p in edited.patients}
    if {p.id: (p.protocol, p.sessions, p.min_gap_days) for p in again.patients} != wanted:
        log.warning("the re-planned scenario keeps no course state: its events changed what a "
                    "course patient wants")
        return edited
    return data


@dataclass(frozen=True, slots=True)
class CourseStatus:
    """Where a patient stands in their course, for the front desk (the patient page)."""

    id: str
    name: str
    stage: str
    """The stage the next session belongs to (``complete`` when the course is done)."""
    done: int
    """Sessions done in the whole course."""
    in_stage: int
    """Sessions done in the current stage."""
    stage_sessions: int | None
    """Sessions the current stage has (None: open-ended, maintenance)."""
    last: date | None
    next_due: date | None
    """The ideal day of the next session (previous + the stage's ideal gap); the horizon's
    first day for a patient yet to start; None when complete."""
    dose: int | None


def course_status(given: dict[str, Any], patient_id: str, start: date,
                  days: int = 7) -> CourseStatus | None:
    """``patient_id``'s course state in the scenario as given (None without a course), as of
    the horizon starting ``start``."""
    patient = next((p for p in given.get("patients") or []
                    if isinstance(p, dict) and str(p.get("id")) == patient_id), None)
    if patient is None or not patient.get("course"):
        return None
    state = CourseState.model_validate(patient["course"])
    course = _courses(given).get(state.id)
    if course is None:
        return None
    protocols = {str(p.get("id")) for p in given.get("protocols") or [] if isinstance(p, dict)}
    course = for_scenario(course, protocols)  # as the derivation sees it: no missing stages
    last_session = (date.fromisoformat(str(patient["last_session"]))
                    if patient.get("last_session") else None)
    derived = derive(course, state, start, days, last_session)
    done = state.done if state.done is not None else len(state.history)
    before, stage, in_stage, size = 0, "complete", 0, None
    for s in course.stages:
        if s.sessions is None or done < before + s.sessions:
            stage, in_stage, size = s.name, done - before, s.sessions
            break
        before += s.sessions
    last = derived.last_session
    due: date | None = None
    if stage != "complete":
        gap = derived.weeks[0].ideal_gap_days[0] if derived.weeks else 0
        due = start if last is None else last + timedelta(days=gap)  # may be overdue
    dose = state.dose
    if dose is None and derived.protocol is not None:
        dose = next((d for d, pid in course.doses.items() if pid == derived.protocol), None)
    return CourseStatus(id=course.id, name=course.name, stage=stage, done=done,
                        in_stage=in_stage, stage_sessions=size, last=last, next_due=due,
                        dose=dose)
