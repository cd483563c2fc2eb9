"""Bottleneck: at a load beyond the headroom (``stress_extra`` more patients than fit), each
resource is relaxed in turn (one more room of each kind; every nurse one patient more at a
time; hands-on phases done by someone extra; a prescriber whenever the clinic is open; an hour
more at both ends of the day; patients available whenever open), the week re-planned from the
variant's schedule (every patient's sessions rebooked first, then as many more as fit), and the
resource whose relaxation places the most more sessions is named.

Beside it, the LP relaxation of the stressed week (``solver.bound``, staff pooled) prices the
resources it has rows for (rooms, monitoring, hands-on) by their dual values: what the same
relaxation would add to first order. Where the re-solves and the prices name the same resource,
they agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Schedule
from scheduler.edits import AddRoom, AddStaff, Set, edit_scenario, scenario_data
from scheduler.model import Scenario, StaffSpec, clock_minutes
from scheduler.usecases.whatif.figures import booked, usage
from scheduler.usecases.whatif.plan import WhatIfOptions, fresh_ids
from scheduler.usecases.whatif.results import (
    COMBINED,
    PRICE_NAMES,
    PRICED,
    RESOURCES,
    Bottleneck,
    First,
    Probe,
)
from scheduler.validate import validate_scenario
from solver import Placement, Problem, solve
from solver.bound import BUCKET, lp_bound, prices
from solver.candidates import build_visits

__all__ = ["COARSE_STARTS", "FirstJob", "ProbeJob", "bottleneck_of", "first_answer", "first_of",
           "probe_jobs", "relaxations", "run_probe"]


COARSE_STARTS = 20_000
"""Candidate starts above which a what-if LP (a first answer, a stressed week's prices)
counts capacity in ``COARSE_BUCKET``-minute buckets rather than ``solver.bound.BUCKET``: on
the demo's stressed base week (41,000 starts) the LP's build and solve take less than half
the CPU (2.2 s against 5.0 on a loaded machine), its bound is 1 % looser (145.8 sessions
against 144.3; still a bound) and its prices name the same resource (a room of each kind
~+77.7 against ~+77.3, a nurse's next patient ~+0.9 against ~+0.6, hands-on ~+4.1 against
~+4.8). Hand-sized weeks (hundreds of starts) keep the finer buckets and their exact
bounds."""
COARSE_BUCKET = 30


@dataclass(frozen=True, slots=True)
class ProbeJob:
    resource: str
    change: str
    scenario: Scenario
    edits: tuple[tuple[str, Any], ...]
    known: tuple[Placement, ...]
    """The variant's appointments (its confirmed ``fixed`` ones aside): the start of every
    probe, and what each patient keeps."""
    options: WhatIfOptions
    lp: First | None = None
    """The stressed week's LP when it is already known (the first answer's, when the
    stress is the same)."""
    reference: Probe | None = None
    """A relaxation's: the stressed week's probe, when its LP bound equals what it placed
    (then a relaxation whose LP bound is no higher is proven to add nothing, not re-solved)."""


def run_probe(job: ProbeJob) -> Probe:
    """The stressed week (or it with one resource relaxed), re-planned from the variant's
    schedule: every patient's sessions rebooked first, then as many more as fit. A relaxation
    that the LP proves worthless (its bound no more than what the stressed week placed) is not
    solved: its probe says ``LP``."""
    scenario = edit_scenario(job.scenario, list(job.edits)) if job.edits else job.scenario
    problem = to_problem(scenario)
    ref = job.reference
    if ref is not None and job.resource:
        lp = lp_bound(problem, weighted=False, time_limit=max(30.0, 3 * job.options.time_limit))
        if lp.status == "OPTIMAL" and math.floor(lp.bound + 1e-6) <= ref.placed:
            return Probe(job.resource, job.change, ref.placed, ref.weighted, "LP",
                         lp_bound=lp.bound)
    if job.known:
        problem = replace(problem, previous=job.known,
                          touched=frozenset(a.id for a in job.known if a.id))
    solution = solve(problem, job.options.solver())
    if job.resource:
        return Probe(job.resource, job.change, len(solution.appointments), solution.objective,
                     solution.status)
    first = job.lp or first_of(scenario, problem, job.options.time_limit)
    return Probe("", "", len(solution.appointments), solution.objective, solution.status,
                 usage(problem, SlotClock(scenario), solution.appointments), first.priced,
                 first.bound)


@dataclass(frozen=True, slots=True)
class FirstJob:
    scenario: Scenario
    stress: tuple[dict[str, Any], ...]
    options: WhatIfOptions


def first_answer(job: FirstJob) -> First:
    """The LP's first answer for a variant, needing no solve: the LP relaxation of the
    variant with ``stress`` more patients (the stressed week of a bottleneck whose headroom is
    0), its bound and its shadow prices."""
    stressed = _stressed(job.scenario, job.stress)
    return first_of(stressed, to_problem(stressed), job.options.time_limit)


def first_of(s: Scenario, problem: Problem, time_limit: float) -> First:
    """The LP relaxation of ``problem`` (compiled from ``s``): its bound, and what each priced
    relaxation of :func:`relaxations` would add by its duals (in sessions, unweighted, as the
    re-solves count)."""
    # pooled staff rows: the per-person LP is exact about who keeps a session but can take
    # minutes on a room-limited M week (many interchangeable nurses); a tie it leaves between
    # two resources names both (Bottleneck.lp_names)
    visits, _ = build_visits(problem)
    coarse = sum(len(v.starts) for v in visits) > COARSE_STARTS
    lp = lp_bound(problem, visits, weighted=False, time_limit=max(120.0, 6 * time_limit),
                  bucket=COARSE_BUCKET if coarse else BUCKET)
    if lp.status != "OPTIMAL":
        return First(None, None, lp.seconds)
    price = prices(problem, lp)
    chairs = {r.id: r.chairs for r in s.rooms}
    watching = _watchers(s)
    return First({"rooms": sum(chairs[r] * price.chair.get(r, 0.0) for r in _room_likes(s)),
                  "monitoring": sum(price.monitoring.get(m.id, 0.0) for m in watching),
                  "hands_on": sum(price.hands_on.values())}, lp.bound, lp.seconds)


def _widen(spans: Sequence[tuple[str, str]], minutes: int = 60) -> list[list[str]]:
    out: list[list[int]] = []
    for a, b in sorted((max(0, clock_minutes(a) - minutes), min(1440, clock_minutes(b) + minutes))
                       for a, b in spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [[f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}"] for a, b in out]


def _room_likes(s: Scenario) -> list[str]:
    """One room of each kind (features, chairs, hours): what the rooms relaxation copies."""
    kinds: dict[tuple[Any, ...], str] = {}
    for r in s.rooms:
        hours = tuple(sorted((d, tuple(v)) for d, v in (r.hours or {}).items()))
        kinds.setdefault((frozenset(r.features), r.chairs, hours), r.id)
    return list(kinds.values())


def _watching_roles(s: Scenario) -> list[str]:
    return sorted({n.role for p in s.protocols for n in p.staff
                   if "monitor" in n.modes.values()})


def _watchers(s: Scenario) -> list[StaffSpec]:
    """The staff the monitoring relaxation lets take one more patient at a time."""
    roles = _watching_roles(s)
    return [m for m in s.staff if m.role in roles and m.max_patients >= 1]


def relaxations(s: Scenario) -> list[tuple[str, str, list[Any]]]:
    """Each resource's relaxation as edits: ``(resource, what changes, edits)``; resources that
    cannot be relaxed here (no prescriber to copy, no patient with narrow availability) are
    left out."""
    out: list[tuple[str, str, list[Any]]] = []
    taken_rooms = {r.id for r in s.rooms}
    likes = _room_likes(s)
    ids = fresh_ids("extra-room-", len(likes), taken_rooms)
    what = (f"one more room like {likes[0]}" if len(likes) == 1
            else f"one more room of each kind (like {', '.join(likes)})")
    out.append(("rooms", what, [AddRoom.model_validate({"add_room": {"like": like, "id": i}})
                                for like, i in zip(likes, ids, strict=True)]))

    watching = _watching_roles(s)
    members = _watchers(s)
    if members:
        out.append(("monitoring", f"every {' and '.join(watching)} taking one more patient at "
                                  "a time",
                    [Set.model_validate({"set": {"staff": m.id,
                                                 "max_patients": m.max_patients + 1}})
                     for m in members]))

    hands = [p for p in s.protocols if any("hands_on" in n.modes.values() for n in p.staff)]
    if hands:
        out.append(("hands_on", "hands-on phases done by someone extra (the assigned staff "
                                "only monitor them)",
                    [Set.model_validate({"set": {"protocol": p.id, "staff": [
                        {**n.model_dump(exclude_defaults=True),
                         "modes": {ph: "monitor" for ph in n.modes}} for n in p.staff]}})
                     for p in hands]))

    roles = sorted({rule.role for p in s.protocols for rule in p.on_site})
    taken_staff = {m.id for m in s.staff}
    edits = []
    for role in roles:
        like = next((m for m in s.staff if m.role == role), None)
        if like is not None:
            (new,) = fresh_ids(f"extra-{role}-", 1, taken_staff)
            edits.append(AddStaff.model_validate({"add_staff": {
                "like": like.id, "id": new, "time_off": [], "absences": [],
                "shifts": {d: [list(x) for x in v] for d, v in s.clinic.hours.items()}}}))
    if edits:
        out.append(("prescriber", f"a {' and a '.join(roles)} on site whenever the clinic is "
                                  "open", edits))

    wider = [Set.model_validate({"set": {"clinic": {"hours": {
        d: _widen(v) for d, v in s.clinic.hours.items()}}}})]
    wider += [Set.model_validate({"set": {"room": r.id, "hours": {
        d: _widen(v) for d, v in r.hours.items()}}}) for r in s.rooms if r.hours]
    out.append(("hours", "the clinic open an hour earlier and an hour later (shifts as they are)",
                wider))

    narrow = [p for p in s.patients
              if p.availability is not None or p.unavailable or p.earliest or p.latest]
    if narrow:
        out.append(("availability", "every patient available whenever the clinic is open",
                    [Set.model_validate({"set": {"patient": p.id, "availability": None,
                                                 "unavailable": [], "earliest": None,
                                                 "latest": None}}) for p in narrow]))
    return out


def bottleneck_of(probes: list[Probe], extra: int, per_week: float) -> Bottleneck:
    reference, tried = probes[0], probes[1:]
    order = list(RESOURCES)
    gains = {p.resource: p.placed - reference.placed for p in tried}
    best = max(tried, key=lambda p: (gains[p.resource], -order.index(p.resource)))
    others = "; ".join(f"{p.change} adds {max(0, gains[p.resource])}" for p in
                       sorted(tried, key=lambda p: (-gains[p.resource],
                                                    order.index(p.resource))) if p is not best)
    load = f" (at {extra} more patients than fit)"
    if gains[best.resource] <= 0:
        neck = Bottleneck(COMBINED, 0, "No single resource: relaxing any one alone places no "
                          f"more sessions{load}: {best.change} adds 0; {others}.", extra,
                          tuple(probes))
        return replace(neck, sentence=f"{neck.sentence} {_lp_sentence(neck)}".strip())
    hot = ""
    if reference.usage is not None:
        grid = {"rooms": "rooms", "monitoring": "nurses", "hands_on": "nurses"}.get(
            best.resource)
        spots = reference.usage.hot(grid) if grid else ""
        hot = f" ({grid} ≥ 90 % busy {spots})" if spots else ""
    unit = " a week" if per_week == 1 else ""
    sentence = (f"The bottleneck is {RESOURCES[best.resource]}: {best.change} adds "
                f"~{gains[best.resource]} sessions{unit}{hot}; {others}{load}.")
    neck = Bottleneck(best.resource, gains[best.resource], sentence, extra, tuple(probes))
    return replace(neck, sentence=f"{sentence} {_lp_sentence(neck)}".strip())



def _lp_sentence(neck: Bottleneck) -> str:
    """What the LP's shadow prices say beside the re-solves, in one sentence."""
    priced, names = neck.priced, neck.lp_names()
    if priced is None or names is None:
        return ""
    figures = ", ".join(f"{PRICE_NAMES[r]} ~+{priced.get(r, 0.0):.1f}" for r in PRICED)
    if neck.lp_agrees():
        return f"The LP's shadow prices agree ({figures})."
    if not names:
        return f"The LP's shadow prices see no room or staff row binding ({figures})."
    return (f"The LP's shadow prices point to {' and '.join(RESOURCES[r] for r in names)} "
            f"instead ({figures}).")



def _stressed(scenario: Scenario, stress: Sequence[dict[str, Any]]) -> Scenario:
    data = scenario_data(scenario)
    data["patients"] = [*data["patients"], *stress]
    return validate_scenario(data)


def probe_jobs(scenario: Scenario, schedule: Schedule, stress: Sequence[dict[str, Any]],
               options: WhatIfOptions, lp: First | None = None) -> list[ProbeJob]:
    """The stressed week (``scenario`` with the patients ``stress`` more) and each resource's
    relaxation of it, every one re-planned from ``schedule`` (the variant's)."""
    stressed = _stressed(scenario, stress)
    confirmed = {f.id for f in scenario.fixed}
    known = tuple(a for a in booked(schedule, SlotClock(scenario)) if a.id not in confirmed)
    jobs = [ProbeJob("", "", stressed, (), known, options, lp)]
    for resource, change, edits in relaxations(stressed):
        located = tuple((f"relaxation {resource}.edits[{j}]", e) for j, e in enumerate(edits))
        jobs.append(ProbeJob(resource, change, stressed, located, known, options))
    return jobs
