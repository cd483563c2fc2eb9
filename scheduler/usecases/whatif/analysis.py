"""What-if capacity analysis: the base and every variant solved, how many more patients each
could take (headroom, :mod:`.headroom`), and which resource holds it back (bottleneck,
:mod:`.bottleneck`), all measured by the solver, never by a formula; the jobs run in a pool.

A variant is the base scenario after the variant's edits (``scheduler.edits``), solved for
placement (priority-weighted sessions; the soft goals do not change capacity and are skipped).

Every solve uses one CP-SAT worker and the same seed, so results do not depend on where they ran
(local processes or a Dask cluster) as long as the searches end by proof rather than by the
clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from scheduler.compile import SlotClock, to_problem
from scheduler.documents import Schedule
from scheduler.edits import Buffer, Variant, edit_scenario
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.usecases.plan import plan_week
from scheduler.usecases.simulate import Risk, SimulationSettings, simulate
from scheduler.usecases.whatif.bottleneck import (
    FirstJob,
    ProbeJob,
    bottleneck_of,
    first_answer,
    probe_jobs,
    relaxations,
    run_probe,
)
from scheduler.usecases.whatif.figures import Usage, booked, usage
from scheduler.usecases.whatif.headroom import (
    Search,
    StepJob,
    clones,
    greedy_headroom,
    run_step,
    start,
)
from scheduler.usecases.whatif.plan import BASE, SweepCell, WhatIfOptions, WhatIfPlan
from scheduler.usecases.whatif.pools import Pool, local_pool
from scheduler.usecases.whatif.results import (
    RESOURCES,
    First,
    Headroom,
    Outcome,
    Probe,
    Step,
    SweepGrid,
    WhatIf,
    WhatIfProgress,
)

__all__ = ["run_whatif"]


@dataclass(frozen=True, slots=True)
class _VariantJob:
    scenario: Scenario
    options: WhatIfOptions
    now: datetime
    day: Scenario
    """The week as it happens, which judges the risk: the variant without its booking rules
    (a ``buffer`` keeps bookings from the end of the day; staff still work until then)."""
    newcomers: tuple[dict[str, Any], ...] = ()
    """The headroom's new patients, for the greedy's insertion right after the solve."""


@dataclass(frozen=True, slots=True)
class _VariantDone:
    schedule: Schedule
    violations: int
    usage: Usage
    risk: Risk | None = None
    worst_day: Risk | None = None
    sessions: int = 0
    """Sessions the schedule places, follow-ups aside (what the headroom keeps)."""
    greedy: tuple[Step, ...] = ()
    """The greedy's insertion of newcomers into the schedule's gaps (headroom's first
    steps)."""


def _run_variant(job: _VariantJob) -> _VariantDone:
    """Solve the variant (the checker re-checks it), lay out its use of the week, replay
    it against the day's chances (the week's risk, and its worst day's), and put newcomers
    into its gaps by the greedy first fit (milliseconds: the headroom's first steps)."""
    planned = plan_week(job.scenario, job.options.solver(), now=job.now)
    clock = SlotClock(job.scenario)
    placed = booked(planned.schedule, clock)
    problem = to_problem(job.scenario)
    sessions = sum(1 for a in placed if not problem.is_follow_up(a))
    inserted = (greedy_headroom(job.scenario, planned.schedule, job.newcomers)
                if job.newcomers else ())
    risk = worst = None
    if job.options.risk_runs:
        replayed = simulate(job.day, planned.schedule, SimulationSettings(),
                            job.options.risk_runs, job.options.seed)
        risk = replayed.weeks[0] if len(replayed.weeks) == 1 else None
        worst = max(replayed.days, key=lambda d: d.p_overtime_15, default=None)
        if risk is None and replayed.weeks:  # several weeks: the worst week speaks for them
            risk = max(replayed.weeks, key=lambda w: w.p_overtime_15)
    return _VariantDone(planned.schedule, len(planned.violations),
                        usage(problem, clock, placed), risk, worst, sessions, inserted)


@dataclass
class _Slot:
    name: str
    edits: tuple[str, ...]
    scenario: Scenario
    clones: tuple[dict[str, Any], ...]
    bottleneck: bool
    cell: SweepCell | None = None
    day: Scenario | None = None
    """The week as it happens, when the variant books by rules the day does not keep."""
    done: _VariantDone | None = None
    first: First | None = None
    """The LP's first answer (``options.quick``), when it came."""
    search: Search | None = None
    probes: dict[str, Probe] = field(default_factory=dict)
    relaxed: list[ProbeJob] = field(default_factory=list)
    """The relaxations' probes, submitted once the stressed week's is back (quick)."""
    expected: int = 0
    """Jobs after the solve, as far as known (for the progress bar)."""
    waiting: bool = False
    """The probes wait for the LP's first answer, still running, of their very week."""

    def headroom(self) -> Headroom:
        if self.search is None:
            return Headroom(0, 0, "SKIPPED")
        return self.search.answer(self.clones)

    def most(self, extra: int) -> int | None:
        """The most newcomers the LP's bound lets fit (a proof), when it says: the variant's
        sessions and the first ``k`` newcomers' together exceed the bound of the week with
        ``extra`` newcomers beyond it, so of every week with fewer (None: it rules none out)."""
        if self.first is None or self.first.bound is None or self.done is None:
            return None
        room = math.floor(self.first.bound + 1e-6) - self.done.sessions
        total = 0
        for k, c in enumerate(self.clones[:extra]):
            total += int(c.get("sessions", 1))
            if total > room:
                return k
        return None


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
        newcomers = clones(plan.mix, limit + extra, taken) if options.headroom or wants else ()
        day = None
        if variant is not None and any(isinstance(e, Buffer) for e in variant.edits):
            day = edit_scenario(base, [(path, e) for path, e in variant.located()
                                       if not isinstance(e, Buffer)])
        slots.append(_Slot(name, described, scenario, newcomers, wants, cell, day=day))
    if issues:
        raise InvalidInput(issues)

    pool = pool or local_pool()
    quick = options.quick
    for slot in slots:  # a first count for the progress bar, made exact as the work unfolds
        slot.expected = (1 if options.headroom else 0) + (
            1 + len(relaxations(slot.scenario)) if slot.bottleneck else 0) + (
            1 if quick and slot.clones else 0)
    done = 0
    with pool:
        pending: dict[Any, tuple[int, str]] = {}  # future -> (slot, what it is)

        def step(i: int) -> bool:
            """Submit slot ``i``'s next headroom step; False when its headroom is known."""
            slot = slots[i]
            k = slot.search.next() if slot.search is not None else None
            if k is None or slot.done is None or slot.search is None:
                return False
            job = StepJob(slot.scenario, slot.done.schedule, slot.clones[:k], options,
                          slot.search.gaps(k))
            pending[pool.submit(run_step, job)] = (i, "step")
            slot.expected += 1
            return True

        def probes(i: int) -> None:
            slot = slots[i]
            if slot.bottleneck:
                assert slot.done is not None
                fit = slot.headroom().patients
                if fit == 0 and slot.first is None and (i, "first") in pending.values():
                    slot.waiting = True  # its LP is the stressed week's: not built twice
                    return
                stress = slot.clones[:fit + extra]  # beyond what fits
                lp = slot.first if fit == 0 else None  # the first answer's very week
                jobs = probe_jobs(slot.scenario, slot.done.schedule, stress, options, lp)
                slot.expected += len(jobs) - 1 - len(relaxations(slot.scenario))
                slot.relaxed = jobs[1:]
                for job in jobs[:1] if quick else jobs:  # quick: the stressed week first
                    pending[pool.submit(run_probe, job)] = (i, "probe")

        def relaxed(i: int, reference: Probe) -> None:
            """Submit the relaxations after the stressed week: with its LP bound at what it
            placed, each one's LP first (a relaxation's bound no higher adds nothing)."""
            slot = slots[i]
            tight = (reference.lp_bound is not None
                     and math.floor(reference.lp_bound + 1e-6) <= reference.placed)
            for job in slot.relaxed:
                job = replace(job, reference=reference if tight else None)
                pending[pool.submit(run_probe, job)] = (i, "probe")

        # each variant's LP first answer, then its solve: the pool starts them in this order,
        # so the first answer comes first and the solves (the head of every variant's chain
        # of headroom steps and probes) do not wait for every LP; in threads an LP's build
        # (Python) runs beside a CP-SAT search (none) rather than beside another build
        for i, slot in enumerate(slots):
            if quick and slot.clones:
                job = FirstJob(slot.scenario, slot.clones[:extra], options)
                pending[pool.submit(first_answer, job)] = (i, "first")
            newcomers = slot.clones[:limit] if quick and options.headroom else ()
            pending[pool.submit(_run_variant, _VariantJob(
                slot.scenario, options, now, slot.day or slot.scenario, newcomers))] = (
                i, "variant")
        while pending:
            for future in pool.wait_any(list(pending)):
                i, what = pending.pop(future)
                slot = slots[i]
                if what == "first":
                    slot.first = future.result()
                    last = f"{slot.name}: LP first answer"
                    most = slot.most(extra)
                    if slot.search is not None and most is not None:
                        slot.search.record(Step(max(most + 1, slot.search.lo + 1), False, "lp",
                                                True))
                    if slot.waiting:
                        slot.waiting = False
                        probes(i)
                elif what == "variant":
                    slot.done = future.result()
                    slot.search = (start(limit, slot.done.greedy, slot.most(extra), options)
                                   if options.headroom else None)
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
                    if quick and not probe.resource:
                        relaxed(i, probe)
                done += 1
                if on_progress is not None:
                    total = sum(1 + s.expected for s in slots)
                    on_progress(WhatIfProgress(done, total, last, _best(slots), {
                        s.name: s.first for s in slots if s.first is not None}))
    outcomes = tuple(_outcome(s, extra) for s in slots)
    return WhatIf(base.clinic.name, outcomes, replace(options, headroom_limit=limit,
                                                      stress_extra=extra),
                  pool.where, round(time.perf_counter() - t0, 1), _sweep(plan, outcomes))


def _outcome(slot: _Slot, extra: int) -> Outcome:
    assert slot.done is not None
    neck = None
    if slot.bottleneck:
        probes = [slot.probes[""], *[slot.probes[r] for r in RESOURCES if r in slot.probes]]
        neck = bottleneck_of(probes, extra, slot.scenario.horizon.days / 7)
    d = slot.done
    return Outcome(slot.name, slot.edits, slot.scenario, d.schedule, d.violations, d.usage,
                   slot.headroom(), neck, slot.cell, d.risk, d.worst_day, slot.first)


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
