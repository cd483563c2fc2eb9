"""What-if capacity analysis: the base and every variant solved, how many more patients each
could take (headroom), and which resource holds it back (bottleneck), all measured by the
solver, never by a formula.

- **Variant**: the base scenario after the variant's edits (``scheduler.edits``), solved for
  placement (priority-weighted sessions; the soft goals do not change capacity and are skipped).
- **Headroom**: the most new patients of a mix (default: the base's own patients, cloned in a
  spread order) for which a schedule was found that places every session of theirs while
  every patient keeps as many sessions as the variant's own schedule gives them. Each step
  first keeps the variant's week as scheduled and fits the newcomers into its gaps (a small,
  fast model: the warm start), and only when that fails solves the week again with those
  sessions held. Steps double until one fails, then bisect. ``OPTIMAL`` means one more patient
  was proven not to fit (CP-SAT's bound); ``FEASIBLE`` means at least this many fit and more
  were not ruled out; ``LIMIT`` means the search stopped at its limit with every step fitting.
- **Bottleneck**: at a load beyond the headroom (``stress_extra`` more patients than fit), each
  resource is relaxed in turn (one more room of each kind; every nurse one patient more at a
  time; hands-on phases done by someone extra; a prescriber whenever the clinic is open; an hour
  more at both ends of the day; patients available whenever open), the week re-planned from
  the variant's schedule (every patient's sessions rebooked first, then as many more as fit),
  and the resource whose relaxation places the most more sessions is named. Beside it, the LP
  relaxation of the stressed week (``solver.bound``, staff pooled) prices the resources it has
  rows for (rooms, monitoring, hands-on) by their dual values: what the same relaxation would
  add to first order. Where the re-solves and the prices name the same resource, they agree.

Every solve uses one CP-SAT worker and the same seed, so results do not depend on where they ran
(local processes or a Dask cluster) as long as the searches end by proof rather than by the
clock.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from scheduler.compile import Clock, to_problem
from scheduler.documents import Schedule
from scheduler.edits import (
    AddRoom,
    AddStaff,
    Set,
    Variant,
    edit_scenario,
    scenario_data,
)
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario, StaffSpec, clock_minutes
from scheduler.usecases.plan import plan_week
from scheduler.usecases.whatif.figures import Usage, booked, usage
from scheduler.usecases.whatif.plan import (
    BASE,
    SweepCell,
    WhatIfOptions,
    WhatIfPlan,
    fresh_ids,
)
from scheduler.usecases.whatif.pools import Pool, local_pool
from scheduler.validate import validate_scenario
from solver import Placement, Problem, solve
from solver.bound import lp_bound, prices

__all__ = [
    "BASE",
    "COMBINED",
    "RESOURCES",
    "Bottleneck",
    "Headroom",
    "Outcome",
    "Probe",
    "Step",
    "SweepGrid",
    "WhatIf",
    "WhatIfProgress",
    "headroom",
    "relaxations",
    "run_whatif",
]

log = logging.getLogger(__name__)

RESOURCES: dict[str, str] = {
    "rooms": "rooms/chairs",
    "monitoring": "nurses' monitoring capacity",
    "hands_on": "hands-on time",
    "prescriber": "prescriber coverage",
    "hours": "opening hours",
    "availability": "patient availability",
}
"""The resources a bottleneck can name, in the order they are tried (ties go to the first)."""
COMBINED = "combined"
"""No single relaxation places more: several resources bind together."""


# ============================================================================ results
@dataclass(frozen=True, slots=True)
class Step:
    """One headroom probe: did ``patients`` more fit, how it was found, and whether a failure
    is proven (CP-SAT's bound below the value needed)."""

    patients: int
    fits: bool
    how: str
    """``kept``: the variant's week as scheduled, newcomers in its gaps; ``moved``: the week
    solved again, every patient keeping their sessions (at other times, perhaps)."""
    proven: bool


@dataclass(frozen=True, slots=True)
class Headroom:
    patients: int
    sessions: int
    status: str
    """OPTIMAL (one more proven not to fit), FEASIBLE (at least), LIMIT (every step up to the
    search limit fit), SKIPPED."""
    limit: int = 0
    steps: tuple[Step, ...] = ()

    def text(self) -> str:
        if self.status == "SKIPPED":
            return "—"
        if self.status == "LIMIT":
            return f"≥ {self.patients} (search limit)"
        if self.status == "OPTIMAL":
            return f"+{self.patients}" if self.patients else "0"
        return f"≥ {self.patients}"


@dataclass(frozen=True, slots=True)
class Probe:
    """One bottleneck solve: the stressed week (``resource`` empty) or it with one resource
    relaxed."""

    resource: str
    change: str
    placed: int
    weighted: int
    status: str
    usage: Usage | None = None
    priced: dict[str, float] | None = None
    """The stressed week only: sessions each relaxation would add by the LP's dual values
    (rooms, monitoring, hands_on; resources the LP has no rows for are absent), or None when
    the LP was not solved to optimality."""


PRICED = ("rooms", "monitoring", "hands_on")
"""The resources the LP relaxation prices (the others shape which starts exist, not rows)."""


@dataclass(frozen=True, slots=True)
class Bottleneck:
    resource: str
    """A key of :data:`RESOURCES`, or :data:`COMBINED`."""
    gain: int
    """Sessions the binding resource's relaxation adds."""
    sentence: str
    extra_patients: int
    """Patients beyond the headroom in the stressed week."""
    probes: tuple[Probe, ...]
    """The stressed week first, then each relaxation."""

    def gains(self) -> dict[str, int]:
        reference = self.probes[0].placed
        return {p.resource: p.placed - reference for p in self.probes[1:]}

    @property
    def priced(self) -> dict[str, float] | None:
        """The LP's estimate of each priced relaxation's gain (see :attr:`Probe.priced`)."""
        return self.probes[0].priced

    def lp_names(self) -> tuple[str, ...] | None:
        """The resources the LP's prices name: those within half a session of the dearest, if
        it is worth half a session or more (a degenerate LP may price two alike); ``()`` when
        none is (the LP sees no priced resource binding); None without an LP."""
        priced = self.priced
        if priced is None:
            return None
        top = max(priced.get(r, 0.0) for r in PRICED)
        return tuple(r for r in PRICED if priced.get(r, 0.0) >= top - 0.5) if top >= 0.5 else ()

    def lp_agrees(self) -> bool | None:
        """Whether the prices name what the re-solves name (a resource the LP cannot price,
        or none, agrees with prices that name none)."""
        names = self.lp_names()
        if names is None:
            return None
        return self.resource in names or (not names and self.resource not in PRICED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One variant (or the base, or a sweep cell), solved and measured."""

    name: str
    edits: tuple[str, ...]
    scenario: Scenario
    schedule: Schedule
    violations: int
    usage: Usage
    headroom: Headroom
    bottleneck: Bottleneck | None = None
    cell: SweepCell | None = None

    def capacity(self) -> int:
        """Sessions the clinic can treat in the horizon: those placed, plus the headroom's."""
        placed = self.schedule.kpis.placed if self.schedule.kpis else 0
        return placed + self.headroom.sessions

    def row(self, base: Outcome | None = None) -> dict[str, Any]:
        """The comparison table's row (results only: nothing here depends on the machine);
        with ``base``, also what changes against it."""
        k, sv = self.schedule.kpis, self.schedule.solver
        assert k is not None and sv is not None
        b = self.bottleneck
        placed_base = base.schedule.kpis.placed if base and base.schedule.kpis else k.placed
        return {
            "variant": self.name,
            "edits": "; ".join(self.edits),
            "status": sv.status,
            "wanted": k.wanted,
            "placed": k.placed,
            "weighted": k.weighted,
            "bound": sv.bound,
            "unplaced": k.wanted - k.placed,
            "room_utilization": k.room_utilization,
            "nurse_utilization": k.nurse_utilization,
            "headroom_patients": self.headroom.patients,
            "headroom_sessions": self.headroom.sessions,
            "headroom_status": self.headroom.status,
            "capacity_sessions": self.capacity(),
            "placed_vs_base": k.placed - placed_base,
            "capacity_vs_base": self.capacity() - (base or self).capacity(),
            "bottleneck": b.resource if b else "",
            "bottleneck_gain": b.gain if b else "",
            "bottleneck_explanation": b.sentence if b else "",
            "lp_rooms": _price(b, "rooms"),
            "lp_monitoring": _price(b, "monitoring"),
            "lp_hands_on": _price(b, "hands_on"),
            "lp_agrees": "" if b is None or b.lp_agrees() is None else b.lp_agrees(),
        }


def _price(b: Bottleneck | None, resource: str) -> float | str:
    priced = b.priced if b is not None else None
    return "" if priced is None else round(priced.get(resource, 0.0), 1)


@dataclass(frozen=True, slots=True)
class SweepGrid:
    row_title: str
    column_title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    capacity: tuple[tuple[int, ...], ...]
    """Sessions in the horizon (placed plus headroom), [row][column]."""
    status: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class WhatIf:
    clinic: str
    outcomes: tuple[Outcome, ...]
    """The base first, then the variants in their file's order, then the sweep's cells."""
    options: WhatIfOptions
    where: str
    seconds: float
    sweep: SweepGrid | None = None

    @property
    def compared(self) -> tuple[Outcome, ...]:
        """The base and the named variants (not the sweep's cells)."""
        return tuple(o for o in self.outcomes if o.cell is None)

    def rows(self) -> list[dict[str, Any]]:
        """The comparison table: the base and the named variants, each against the base."""
        return [o.row(self.outcomes[0]) for o in self.compared]


@dataclass(frozen=True, slots=True)
class WhatIfProgress:
    done: int
    total: int
    last: str
    """What just finished: ``one more chair: solved, headroom ≥ 12``."""
    best: str
    """The best variant so far by weekly capacity."""


# ============================================================================ the work (in pools)
@dataclass(frozen=True, slots=True)
class _VariantJob:
    scenario: Scenario
    options: WhatIfOptions
    now: datetime


@dataclass(frozen=True, slots=True)
class _VariantDone:
    schedule: Schedule
    violations: int
    usage: Usage


def _run_variant(job: _VariantJob) -> _VariantDone:
    """Solve the variant (the checker re-checks it) and lay out its use of the week."""
    planned = plan_week(job.scenario, job.options.solver(), now=job.now)
    clock = Clock(job.scenario)
    placed = booked(planned.schedule, clock)
    return _VariantDone(planned.schedule, len(planned.violations),
                        usage(to_problem(job.scenario), clock, placed))


def _sessions_of(problem: Problem, appointments: Sequence[Placement],
                 ids: set[str] | None = None) -> int:
    """Sessions (follow-ups aside: they are not ``sessions``) of the patients ``ids`` (all
    when None)."""
    return sum(1 for a in appointments
               if (ids is None or a.patient in ids) and not problem.is_follow_up(a))


@dataclass(frozen=True, slots=True)
class _StepJob:
    scenario: Scenario
    schedule: Schedule
    newcomers: tuple[dict[str, Any], ...]
    options: WhatIfOptions


def _run_step(job: _StepJob) -> Step:
    """Do ``newcomers`` fit on top of ``schedule``? Every session of theirs placed while every
    patient keeps as many sessions as ``schedule`` gives them (those it could not place still
    wait; nobody served is turned away for a newcomer).

    First the week is kept exactly as scheduled and searched for gaps (a small model); when
    that fails the week is re-planned: every appointment may move, but every patient's sessions
    are rebooked first and held (the re-planning stages), starting from the week as scheduled
    (the warm start). A failure is proven when CP-SAT's bound falls short.
    """
    data = scenario_data(job.scenario)
    data["patients"] = [*data["patients"], *job.newcomers]
    problem = to_problem(validate_scenario(data))
    n = len(job.scenario.patients)
    mine, new = problem.patients[:n], problem.patients[n:]
    kept = tuple(booked(job.schedule, Clock(job.scenario)))
    count = Counter(a.patient for a in kept if not problem.is_follow_up(a))
    served = tuple(replace(p, sessions=count[p.id]) for p in mine)
    ids = {p.id for p in new}
    wanted = sum(p.sessions for p in new)
    options = job.options.solver()
    gaps = solve(replace(problem, patients=served + new, fixed=kept), options)
    if _sessions_of(problem, gaps.appointments, ids) >= wanted:
        return Step(len(new), True, "kept", True)
    if not job.options.rearrange:
        return Step(len(new), False, "kept", False)
    confirmed = {a.id for a in problem.fixed}
    known = tuple(a for a in kept if a.id not in confirmed)
    week = solve(replace(problem, patients=served + new, previous=known,
                         touched=frozenset(a.id for a in known if a.id)), options)
    needed = sum(p.priority * p.sessions for p in (*served, *new))
    everyone = (_sessions_of(problem, week.appointments) - _sessions_of(
        problem, week.appointments, ids) >= _sessions_of(problem, kept))
    if everyone and _sessions_of(problem, week.appointments, ids) >= wanted:
        return Step(len(new), True, "moved", True)
    return Step(len(new), False, "moved", week.bound < needed)


@dataclass
class _Search:
    """How many newcomers fit: double until a step fails, then bisect."""

    limit: int
    lo: int = 0
    hi: int | None = None
    steps: list[Step] = field(default_factory=list)

    def next(self) -> int | None:
        """The next number of newcomers to try; None when the answer is known."""
        if self.hi is None:
            if self.lo >= self.limit:
                return None
            return 1 if not self.steps else min(2 * self.lo, self.limit)
        return (self.lo + self.hi) // 2 if self.hi - self.lo > 1 else None

    def record(self, step: Step) -> None:
        self.steps.append(step)
        if step.fits:
            self.lo = max(self.lo, step.patients)
        else:
            self.hi = step.patients if self.hi is None else min(self.hi, step.patients)

    def answer(self, clones: Sequence[dict[str, Any]]) -> Headroom:
        if self.hi is None:
            status = "LIMIT"
        else:
            last = next(s for s in reversed(self.steps) if s.patients == self.hi)
            status = "OPTIMAL" if last.proven else "FEASIBLE"
        sessions = sum(int(c.get("sessions", 1)) for c in clones[:self.lo])
        return Headroom(self.lo, sessions, status, self.limit, tuple(self.steps))


def headroom(scenario: Scenario, schedule: Schedule, clones: Sequence[dict[str, Any]],
             options: WhatIfOptions) -> Headroom:
    """How many of ``clones`` (new patients, in order) fit on top of ``schedule``, one step
    after the other here (``run_whatif`` runs the steps of many variants in its pool)."""
    if not clones:
        return Headroom(0, 0, "SKIPPED")
    search = _Search(len(clones))
    while (k := search.next()) is not None:
        search.record(_run_step(_StepJob(scenario, schedule, tuple(clones[:k]), options)))
    return search.answer(clones)


@dataclass(frozen=True, slots=True)
class _ProbeJob:
    resource: str
    change: str
    scenario: Scenario
    edits: tuple[tuple[str, Any], ...]
    known: tuple[Placement, ...]
    """The variant's appointments (its confirmed ``fixed`` ones aside): the start of every
    probe, and what each patient keeps."""
    options: WhatIfOptions


def _run_probe(job: _ProbeJob) -> Probe:
    """The stressed week (or it with one resource relaxed), re-planned from the variant's
    schedule: every patient's sessions rebooked first, then as many more as fit."""
    scenario = edit_scenario(job.scenario, list(job.edits)) if job.edits else job.scenario
    problem = to_problem(scenario)
    if job.known:
        problem = replace(problem, previous=job.known,
                          touched=frozenset(a.id for a in job.known if a.id))
    solution = solve(problem, job.options.solver())
    if job.resource:
        return Probe(job.resource, job.change, len(solution.appointments), solution.objective,
                     solution.status)
    return Probe("", "", len(solution.appointments), solution.objective, solution.status,
                 usage(problem, Clock(scenario), solution.appointments),
                 _priced(scenario, problem, job.options.time_limit))


def _priced(s: Scenario, problem: Problem, time_limit: float) -> dict[str, float] | None:
    """What each priced relaxation of :func:`relaxations` would add by the LP's duals (in
    sessions, unweighted, as the re-solves count)."""
    # pooled staff rows: the per-person LP is exact about who keeps a session but can take
    # minutes on a room-limited M week (many interchangeable nurses); a tie it leaves between
    # two resources names both (Bottleneck.lp_names)
    lp = lp_bound(problem, weighted=False, time_limit=max(120.0, 6 * time_limit))
    if lp.status != "OPTIMAL":
        return None
    price = prices(problem, lp)
    chairs = {r.id: r.chairs for r in s.rooms}
    watching = _watchers(s)
    return {"rooms": sum(chairs[r] * price.chair.get(r, 0.0) for r in _room_likes(s)),
            "monitoring": sum(price.monitoring.get(m.id, 0.0) for m in watching),
            "hands_on": sum(price.hands_on.values())}


# ============================================================================ relaxations
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


def _bottleneck(probes: list[Probe], extra: int, per_week: float) -> Bottleneck:
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


_PRICE_NAMES = {"rooms": "a room of each kind", "monitoring": "one more patient at a time",
                "hands_on": "shared hands-on time"}


def _lp_sentence(neck: Bottleneck) -> str:
    """What the LP's shadow prices say beside the re-solves, in one sentence."""
    priced, names = neck.priced, neck.lp_names()
    if priced is None or names is None:
        return ""
    figures = ", ".join(f"{_PRICE_NAMES[r]} ~+{priced.get(r, 0.0):.1f}" for r in PRICED)
    if neck.lp_agrees():
        return f"The LP's shadow prices agree ({figures})."
    if not names:
        return f"The LP's shadow prices see no room or staff row binding ({figures})."
    return (f"The LP's shadow prices point to {' and '.join(RESOURCES[r] for r in names)} "
            f"instead ({figures}).")


# ============================================================================ orchestration
@dataclass
class _Slot:
    name: str
    edits: tuple[str, ...]
    scenario: Scenario
    clones: tuple[dict[str, Any], ...]
    bottleneck: bool
    cell: SweepCell | None = None
    done: _VariantDone | None = None
    search: _Search | None = None
    probes: dict[str, Probe] = field(default_factory=dict)
    expected: int = 0
    """Jobs after the solve, as far as known (for the progress bar)."""

    def headroom(self) -> Headroom:
        if self.search is None:
            return Headroom(0, 0, "SKIPPED")
        return self.search.answer(self.clones)


def _clones(mix: list[tuple[dict[str, Any], int]], n: int, taken: set[str]
            ) -> tuple[dict[str, Any], ...]:
    """``n`` new patients following ``mix`` (smooth weighted round robin over its templates),
    with ids none of ``taken`` has."""
    if not mix or n <= 0:
        return ()
    credit = [0] * len(mix)
    total = sum(share for _, share in mix)
    ids = fresh_ids("new-", n, taken)
    out = []
    for ident in ids:
        for i, (_, share) in enumerate(mix):
            credit[i] += share
        pick = max(range(len(mix)), key=lambda i: (credit[i], -i))
        credit[pick] -= total
        out.append({**mix[pick][0], "id": ident})
    return tuple(out)


def run_whatif(base: Scenario, plan: WhatIfPlan, options: WhatIfOptions,
               pool: Pool | None = None,
               on_progress: Callable[[WhatIfProgress], None] | None = None,
               now: datetime | None = None) -> WhatIf:
    """Solve the base and every variant of ``plan`` (and the sweep's cells), find each one's
    headroom and bottleneck, in ``pool`` (default: every local core).

    Raises :class:`InvalidInput` (naming the variant and the edit) before any solve when a
    variant's edits leave an invalid scenario.
    """
    t0 = time.perf_counter()
    now = now or datetime.now(UTC)
    limit = plan.limit or options.headroom_limit or max(10, 2 * len(base.patients))
    extra = options.stress_extra or max(4, math.ceil(len(base.patients) / 4))
    slots: list[_Slot] = []
    issues: list[Issue] = []
    named: list[tuple[str, tuple[str, ...], Variant | None, SweepCell | None]] = [
        (BASE, (), None, None),
        *[(v.name, tuple(e.describe() for e in v.edits), v, None) for v in plan.variants],
        *[(v.name, tuple(e.describe() for e in v.edits), v, cell) for cell, v in plan.cells],
    ]
    for name, described, variant, cell in named:
        try:
            scenario = base if variant is None else edit_scenario(base, variant.located())
        except InvalidInput as exc:
            issues += exc.issues
            continue
        taken = {p.id for p in scenario.patients}
        wants = options.bottleneck and (cell is None or plan.sweep_bottleneck)
        clones = _clones(plan.mix, limit + extra, taken) if options.headroom or wants else ()
        slots.append(_Slot(name, described, scenario, clones, wants, cell))
    if issues:
        raise InvalidInput(issues)

    pool = pool or local_pool()
    for slot in slots:  # a first count for the progress bar, made exact as the work unfolds
        slot.expected = (1 if options.headroom else 0) + (
            1 + len(relaxations(slot.scenario)) if slot.bottleneck else 0)
    done = 0
    with pool:
        pending: dict[Any, tuple[int, str]] = {}  # future -> (slot, what it is)

        def step(i: int) -> bool:
            """Submit slot ``i``'s next headroom step; False when its headroom is known."""
            slot = slots[i]
            k = slot.search.next() if slot.search is not None else None
            if k is None or slot.done is None:
                return False
            job = _StepJob(slot.scenario, slot.done.schedule, slot.clones[:k], options)
            pending[pool.submit(_run_step, job)] = (i, "step")
            slot.expected += 1
            return True

        def probes(i: int) -> None:
            slot = slots[i]
            if slot.bottleneck:
                jobs = _probe_jobs(slot, extra, options)
                slot.expected += len(jobs) - 1 - len(relaxations(slot.scenario))
                for job in jobs:
                    pending[pool.submit(_run_probe, job)] = (i, "probe")

        for i, slot in enumerate(slots):
            pending[pool.submit(_run_variant, _VariantJob(slot.scenario, options,
                                                          now))] = (i, "variant")
        while pending:
            for future in pool.wait_any(list(pending)):
                i, what = pending.pop(future)
                slot = slots[i]
                if what == "variant":
                    slot.done = future.result()
                    slot.search = _Search(limit) if options.headroom else None
                    last = f"{slot.name}: solved"
                    if not step(i):
                        probes(i)
                elif what == "step":
                    assert slot.search is not None
                    slot.search.record(future.result())
                    last = f"{slot.name}: {slot.search.steps[-1].patients} more patient(s)"
                    if not step(i):
                        probes(i)
                else:
                    probe: Probe = future.result()
                    slot.probes[probe.resource] = probe
                    last = f"{slot.name}: {RESOURCES.get(probe.resource, 'stressed week')}"
                done += 1
                if on_progress is not None:
                    total = sum(1 + s.expected for s in slots)
                    on_progress(WhatIfProgress(done, total, last, _best(slots)))
    outcomes = tuple(_outcome(s, extra) for s in slots)
    return WhatIf(base.clinic.name, outcomes, replace(options, headroom_limit=limit,
                                                      stress_extra=extra),
                  pool.where, round(time.perf_counter() - t0, 1), _sweep(plan, outcomes))


def _probe_jobs(slot: _Slot, extra: int, options: WhatIfOptions) -> list[_ProbeJob]:
    assert slot.done is not None
    data = scenario_data(slot.scenario)
    data["patients"] = [*data["patients"],
                        *slot.clones[:slot.headroom().patients + extra]]
    stressed = validate_scenario(data)
    confirmed = {f.id for f in slot.scenario.fixed}
    known = tuple(a for a in booked(slot.done.schedule, Clock(slot.scenario))
                  if a.id not in confirmed)
    jobs = [_ProbeJob("", "", stressed, (), known, options)]
    for resource, change, edits in relaxations(stressed):
        located = tuple((f"relaxation {resource}.edits[{j}]", e) for j, e in enumerate(edits))
        jobs.append(_ProbeJob(resource, change, stressed, located, known, options))
    return jobs


def _outcome(slot: _Slot, extra: int) -> Outcome:
    assert slot.done is not None
    neck = None
    if slot.bottleneck:
        probes = [slot.probes[""], *[slot.probes[r] for r in RESOURCES if r in slot.probes]]
        neck = _bottleneck(probes, extra, slot.scenario.horizon.days / 7)
    d = slot.done
    return Outcome(slot.name, slot.edits, slot.scenario, d.schedule, d.violations, d.usage,
                   slot.headroom(), neck, slot.cell)


def _best(slots: list[_Slot]) -> str:
    """The variant whose week holds the most sessions so far (headroom as found so far)."""
    def held(s: _Slot) -> int:
        assert s.done is not None and s.done.schedule.kpis is not None
        return s.done.schedule.kpis.placed + s.headroom().sessions

    scored = [s for s in slots if s.done is not None]
    if not scored:
        return ""
    best = max(scored, key=held)
    return f"{best.name}: {held(best)} sessions (headroom {best.headroom().text()})"


def _sweep(plan: WhatIfPlan, outcomes: tuple[Outcome, ...]) -> SweepGrid | None:
    if not plan.cells:
        return None
    grid = {(o.cell.row, o.cell.column): o for o in outcomes if o.cell is not None}
    rows, columns = range(len(plan.rows)), range(len(plan.columns))
    return SweepGrid(plan.titles[0], plan.titles[1], plan.rows, plan.columns,
                     tuple(tuple(grid[r, c].capacity() for c in columns) for r in rows),
                     tuple(tuple(grid[r, c].headroom.status for c in columns) for r in rows))
