"""Treatment courses: each patient's wanted sessions derived from their course and history.

A clinic thinks "P017 is in week 3 of esketamine induction", not "P017 wants 2 sessions this
week". A patient's optional ``course:`` (``CourseState``) names a course of the library
(``scheduler/data/courses.yaml``, or the scenario's own ``courses:``) and the sessions done;
:func:`derive` turns it, for the horizon's calendar weeks, into contract v1's plain fields
(``sessions``, ``min_gap_days``, ``last_session``, ``priority``, ``protocol``) plus the
per-week extension (``per_week``: a hard cap per calendar week and a soft ideal spacing), and
:func:`expand` does it for every patient, so the solver and the checker only ever see a plain
scenario.

The rules, in the order :func:`derive` applies them (docs/courses.md has the reasons):

- stages are counted in sessions, not calendar weeks: a missed session is continued, never
  restarted, so the series simply runs a few days longer;
- each calendar week (Monday to Sunday) gets the stage's ``per_week`` sessions, less those the
  history already has in that week, and never more than the stage still needs (the next stage
  starts the week after);
- a stage with ``every_weeks: k`` (or the patient's own ``every_weeks``) gets one session in the
  week its due date (previous session + 7k days) falls in, or a later one;
- a maintenance patient flagged ``worsening`` returns to the previous stage's frequency;
- the first stage should end within ``deadline_days`` of the first session: behind the label's
  pace raises priority by one, unable to finish in time at that pace raises it to 5;
- the dose step picks the protocol (``doses``); a new patient starts on ``first_dose``;
- a stage may name its own protocol (KAP preparation, ``kap-prep``): its sessions use it, and a
  horizon that crosses into the next stage steps to the course's protocol there.

>>> from datetime import date
>>> course = library()["esk-trd"]
>>> state = CourseState(id="esk-trd", history=[date(2026, 11, 16), date(2026, 11, 19),
...     date(2026, 11, 23), date(2026, 11, 26), date(2026, 11, 30), date(2026, 12, 3)], dose=84)
>>> [w.sessions for w in derive(course, state, date(2026, 12, 7), 14).weeks]
[2, 1]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.resources import files
from typing import Any

import yaml
from pydantic import TypeAdapter

from scheduler.errors import Issue
from scheduler.model import (
    CourseSpec,
    CourseStage,
    CourseState,
    DoseStep,
    PatientSpec,
    Scenario,
    WeekLimit,
)

__all__ = ["COURSES", "Derived", "WeekPlan", "course_issues", "derive", "expand",
           "for_scenario", "library", "monday", "with_extensions"]

COURSES = "courses.yaml"
"""The course library's file in the package data."""


def library() -> dict[str, CourseSpec]:
    """The library's courses by id (package data, read each call: nothing global to go stale;
    parsed again only when its text changed)."""
    text = files("scheduler").joinpath("data", COURSES).read_text(encoding="utf-8")
    return dict(_parsed(text))


@functools.lru_cache(maxsize=1)
def _parsed(text: str) -> dict[str, CourseSpec]:
    """Parsing and validating the YAML took 26 ms, twice in every scenario validation (every
    write through the API, every solve): the small clinic of the tests validated in 22 ms, now
    in 0.8. The courses are frozen; callers get a dict of their own."""
    raw = yaml.safe_load(text)["courses"]
    courses = TypeAdapter(list[CourseSpec]).validate_python(raw)
    return {c.id: c for c in courses}


def monday(day: date) -> date:
    """The Monday that starts ``day``'s calendar week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class WeekPlan:
    """What one calendar week of the horizon holds for one patient."""

    week: date
    stage: str
    sessions: int
    ideal_gap_days: tuple[int, int]
    min_gap_days: int
    priority: int
    behind: bool


@dataclass(frozen=True, slots=True)
class Derived:
    """A course state turned into plain contract fields for one horizon."""

    protocol: str | None
    """The protocol the dose step picks, or None to keep the patient's own."""
    step: DoseStep | None
    """A new patient whose chosen dose is not the first: the first session at ``first_dose``,
    the rest at the chosen dose (``patients[].step``)."""
    sessions: int
    min_gap_days: int
    priority: int
    last_session: date | None
    weeks: list[WeekPlan]
    follows: bool = True
    """Whether the horizon's last protocol is the course's own (not a stage's, such as KAP
    preparation): only then does the course's ``follow_up`` apply."""

    def per_week(self) -> list[WeekLimit]:
        return [WeekLimit(week=w.week, max_sessions=w.sessions, ideal_gap_days=w.ideal_gap_days)
                for w in self.weeks]


def _locate(course: CourseSpec, count: int) -> tuple[int, int] | None:
    """(stage index, sessions already done in it) after ``count`` sessions; None when the
    course is complete."""
    before = 0
    for i, stage in enumerate(course.stages):
        if stage.sessions is None or count < before + stage.sessions:
            return i, count - before
        before += stage.sessions
    return None


def _cadence(course: CourseSpec, index: int, state: CourseState
             ) -> tuple[CourseStage, int, tuple[int, int], int]:
    """The stage whose frequency applies, its interval in weeks, ideal and minimum gap."""
    stage = course.stages[index]
    open_ended = stage.sessions is None
    if state.worsening and open_ended and index > 0:
        stage = course.stages[index - 1]
        return stage, stage.every_weeks, stage.ideal_gap_days, stage.min_gap_days
    every = state.every_weeks if open_ended and state.every_weeks else stage.every_weeks
    if every == stage.every_weeks:
        return stage, every, stage.ideal_gap_days, stage.min_gap_days
    return stage, every, (7 * every, 7 * every), 7 * every - 2  # weekly: 5 days at least


def derive(course: CourseSpec, state: CourseState, start: date, days: int,
           last_session: date | None = None) -> Derived:
    """The horizon's wanted sessions, week by week, for a patient at ``state`` in ``course``.

    ``start`` and ``days`` are the horizon's; ``last_session`` the patient's plain field (used
    when the history is not listed). Planned sessions are assumed to fall on their ideal day
    (previous session + the low end of the ideal gap, inside their week), which is what the
    next week's stage, due date and pace are reckoned from.
    """
    history = sorted(state.history)
    count = state.done if state.done is not None else len(history)
    last = max([d for d in (*history[-1:], last_session) if d is not None], default=None)
    started = state.started or (history[0] if history else None)
    end = start + timedelta(days=days - 1)
    weeks: list[WeekPlan] = []
    protocols: list[str | None] = []  # each planned session's stage protocol, in order
    week = monday(start)
    while week <= end:
        sunday = week + timedelta(days=6)
        where = _locate(course, count)
        if where is None:
            final = course.stages[-1]
            weeks.append(WeekPlan(week, "complete", 0, final.ideal_gap_days,
                                  final.min_gap_days, 1, False))
            week += timedelta(days=7)
            continue
        index, in_stage = where
        stage = course.stages[index]
        cadence, every, ideal, min_gap = _cadence(course, index, state)
        n = cadence.per_week - sum(1 for h in history if week <= h <= sunday)
        if stage.sessions is not None:
            n = min(n, stage.sessions - in_stage)
        if every > 1 and last is not None and last + timedelta(days=7 * every) > sunday:
            n = 0
        n = max(0, min(n, cadence.per_week))
        priority, behind = stage.priority, False
        if index == 0 and course.deadline_days is not None and stage.sessions is not None:
            first = started or max(week, start)
            elapsed = max(0, (week - monday(first)).days // 7)
            behind = count < min(stage.sessions, stage.per_week * elapsed)
            deadline = first + timedelta(days=course.deadline_days - 1)
            weeks_left = (deadline - week).days // 7 + 1 if deadline >= week else 0
            if stage.sessions - in_stage > stage.per_week * weeks_left:
                priority = 5
            elif behind:
                priority = min(5, priority + 1)
        protocols += [stage.protocol] * n
        for _ in range(n):
            ideal_day = max(week, start) if last is None else last + timedelta(days=ideal[0])
            last = min(max(ideal_day, week, start), sunday)
            started = started or last
        count += n
        weeks.append(WeekPlan(week, stage.name, n, ideal, min_gap, priority, behind))
        week += timedelta(days=7)
    planned = [w for w in weeks if w.sessions] or weeks
    sessions = sum(w.sessions for w in weeks)
    protocol, step = _protocol(course, state, history), _step(course, state, history)
    follows = True
    if any(s.protocol for s in course.stages):  # e.g. KAP: preparation, then dosing
        protocol, step, follows = _stage_protocols(course, state, protocols, protocol,
                                                   bool(history) or last_session is not None)
    return Derived(
        protocol=protocol,
        step=step if step is not None and sessions > step.after else None,
        sessions=sessions,
        min_gap_days=min(w.min_gap_days for w in planned),
        priority=max(w.priority for w in planned),
        last_session=max([d for d in (*history[-1:], last_session) if d is not None],
                         default=None),
        weeks=weeks,
        follows=follows,
    )


def _stage_protocols(course: CourseSpec, state: CourseState, planned: list[str | None],
                     own: str | None, has_last: bool) -> tuple[str | None, DoseStep | None,
                                                               bool]:
    """(protocol, step, follows) for a course whose stages name protocols (KAP preparation):
    the horizon's first session's protocol, a step where its sessions move to another (from
    preparation into dosing: ``after`` = preparation sessions left), and whether the horizon
    ends on the course's own protocol (the sessions a follow-up follows). A patient whose
    previous session was a preparation and who doses from the horizon's first session gets
    ``step: {after: 0}``, so the last session before the horizon (a preparation) takes no
    integration. The dose step of a new patient does not combine with stage protocols."""
    sequence = [p or own for p in planned]
    done = state.done if state.done is not None else len(state.history)
    where = _locate(course, done)
    current = course.stages[where[0]].protocol if where is not None else None
    previous = _locate(course, done - 1) if done > 0 else None
    before = course.stages[previous[0]].protocol if previous is not None else None
    if not sequence:
        first = current or own
        return first, None, first == own
    first = sequence[0]
    change = next((i for i, p in enumerate(sequence) if p != first), None)
    if change is not None:
        return first, DoseStep(after=change, protocol=sequence[change]), sequence[-1] == own
    if has_last and before is not None and before != first:
        return before, DoseStep(after=0, protocol=first), first == own
    return first, None, first == own


def for_scenario(course: CourseSpec, protocols: set[str]) -> CourseSpec:
    """``course`` without the stages whose own protocol the scenario lacks (a library course
    planned in a scenario written before that protocol: KAP without ``kap-prep`` plans its
    dosing sessions only, as before)."""
    stages = [s for s in course.stages if s.protocol is None or s.protocol in protocols]
    if len(stages) == len(course.stages) or not stages:
        return course
    return course.model_copy(update={"stages": stages})


def _new(state: CourseState, history: list[date]) -> bool:
    return state.done == 0 if state.done is not None else not history


def _protocol(course: CourseSpec, state: CourseState, history: list[date]) -> str | None:
    """The protocol of the horizon's first session: a new patient's is the first dose's (the
    label: first dose 56 mg), anyone else's their current dose's."""
    if course.doses:
        new = _new(state, history)
        dose = course.first_dose if new and course.first_dose is not None else state.dose
        if dose is None and new:
            dose = course.first_dose
        return course.doses.get(dose) if dose is not None else None
    return course.protocol


def _step(course: CourseSpec, state: CourseState, history: list[date]) -> DoseStep | None:
    """A new patient whose chosen dose differs from the first: the step comes after the
    course's first session (``after`` counts the sessions still to come before it: 1 for a
    patient with no history)."""
    if not course.doses or course.first_dose is None or state.dose is None:
        return None
    if not _new(state, history) or state.dose == course.first_dose:
        return None
    return DoseStep(after=1, protocol=course.doses[state.dose])


def courses_of(scenario: Scenario) -> dict[str, CourseSpec]:
    """The library's courses, with the scenario's own added (or replacing by id)."""
    return {**library(), **{c.id: c for c in scenario.courses}}


_DERIVED = ("sessions", "min_gap_days", "per_week")


def course_issues(patients: list[tuple[int, PatientSpec]], courses: list[tuple[int, Any]],
                  protocols: set[str], start: date | None) -> list[Issue]:
    """Problems with patients' courses: unknown course, dose step or protocol, history inside
    the horizon, plain fields that the course would silently replace."""
    known = {**library(), **{c.id: c for _, c in courses if isinstance(c, CourseSpec)}}
    issues: list[Issue] = []
    for i, c in courses:
        if not isinstance(c, CourseSpec):
            continue
        for dose, pid in {**c.doses, **({0: c.protocol} if c.protocol else {})}.items():
            if pid not in protocols:
                where = f"courses[{i}].doses.{dose}" if dose else f"courses[{i}].protocol"
                issues.append(Issue(where, f"unknown protocol '{pid}'"))
        for j, stage in enumerate(c.stages):
            if stage.protocol is not None and stage.protocol not in protocols:
                issues.append(Issue(f"courses[{i}].stages[{j}].protocol",
                                    f"unknown protocol '{stage.protocol}'"))
        if c.first_dose is not None and c.first_dose not in c.doses:
            issues.append(Issue(f"courses[{i}].first_dose", f"{c.first_dose} is not one of "
                                f"the dose steps ({', '.join(map(str, c.doses)) or 'none'})"))
        if not c.doses and c.protocol is None:
            issues.append(Issue(f"courses[{i}]", "names no protocol (protocol, or doses)"))
    for i, p in patients:
        if p.course is None:
            continue
        where = f"patients[{i}].course"
        course = known.get(p.course.id)
        if course is None:
            issues.append(Issue(f"{where}.id", f"unknown course '{p.course.id}' (known: "
                                f"{', '.join(sorted(known))})"))
            continue
        for name in _DERIVED:
            if name in p.model_fields_set:
                issues.append(Issue(f"patients[{i}].{name}", "is derived from the course; "
                                    "leave it out (or drop the course)"))
        if p.course.dose is not None and course.doses and p.course.dose not in course.doses:
            issues.append(Issue(f"{where}.dose", f"{p.course.dose} mg is not a dose step of "
                                f"{course.id} ({', '.join(map(str, course.doses))})"))
        elif course.doses and p.course.dose is None:
            new = p.course.done == 0 if p.course.done is not None else not p.course.history
            if not new and p.protocol not in course.doses.values():
                issues.append(Issue(f"{where}.dose", f"is needed: {p.protocol} is not one of "
                                    f"{course.id}'s dose steps"))
        if start is not None:
            for j, day in enumerate(p.course.history):
                if day >= start:
                    issues.append(Issue(f"{where}.history[{j}]", f"{day} is not before the "
                                        f"horizon starts ({start}); list it under fixed"))
    return issues


def with_extensions(patients: dict[str, PatientSpec], courses: list[tuple[int, Any]],
                    protocols: set[str], start: date | None, days: int
                    ) -> dict[str, PatientSpec]:
    """``patients`` with the ``step`` and ``follow_up`` their courses will give them (as
    :func:`expand` does): validation reads fixed appointments against these, before the
    expansion (a fixed KAP integration of a course patient is a follow-up)."""
    known = {**library(), **{c.id: c for _, c in courses if isinstance(c, CourseSpec)}}
    out = dict(patients)
    for pid, p in patients.items():
        course = known.get(p.course.id) if p.course is not None else None
        if course is None or p.course is None:
            continue
        course = for_scenario(course, protocols)
        step, protocol, follows = p.step, p.protocol, True
        if start is not None:  # course_issues found nothing wrong with the course state
            d = derive(course, p.course, start, days, p.last_session)
            step, follows = d.step or step, d.follows
            if any(s.protocol for s in course.stages):  # a stage's protocol (preparation)
                protocol = d.protocol or protocol
        follow = p.follow_up
        if course.follow_up is not None and course.follow_up.protocol in protocols and follows:
            follow = course.follow_up
        out[pid] = p.model_copy(update={"protocol": protocol, "step": step,
                                        "follow_up": follow})
    return out


def expand(scenario: Scenario) -> Scenario:
    """The plain scenario: every patient's course turned into contract fields for the horizon
    (``per_week`` included), courses dropped. A scenario without courses comes back equal."""
    if not scenario.courses and all(p.course is None for p in scenario.patients):
        return scenario
    courses = courses_of(scenario)
    patients = []
    for p in scenario.patients:
        if p.course is None:
            patients.append(p)
            continue
        known = {x.id for x in scenario.protocols}
        course = for_scenario(courses[p.course.id], known)
        d = derive(course, p.course, scenario.horizon.start, scenario.horizon.days,
                   p.last_session)
        own = p.priority if "priority" in p.model_fields_set else 1
        follow = p.follow_up
        if course.follow_up is not None and course.follow_up.protocol in known and d.follows:
            follow = course.follow_up  # where the clinic has the follow-up's protocol, and
            # the horizon reaches the sessions it follows (not a preparation alone)
        patients.append(p.model_copy(update={
            "protocol": d.protocol or p.protocol,
            "step": d.step or p.step,
            "follow_up": follow,
            "sessions": d.sessions,
            "min_gap_days": d.min_gap_days,
            "last_session": d.last_session,
            "priority": max(own, d.priority),
            "per_week": d.per_week(),
            "course": None,
        }))
    return scenario.model_copy(update={"patients": patients, "courses": []})
