"""Large-neighbourhood search around CP-SAT for weeks too big to close at once.

After the placement stage, while time is left and the best schedule is short of the proven
bound: keep everything outside a window exactly as scheduled, and let CP-SAT re-solve the
window (hinted with the schedule, asked for at least one more weighted session). Windows are a
day or two, the patients of one protocol, or the sessions one nurse could take, tried where the
most unplaced value could go first. A window that finds nothing better leaves the schedule as
it was, so the search never ends worse than it started.

With ``Options.deterministic`` every window's limit is CP-SAT's deterministic time (work
counted, not seconds), so one worker and one seed give the same schedule on any machine.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from ortools.sat.python import cp_model

from solver.candidates import remaining_sessions
from solver.cpmodel import ChairModel, ProgressFn, cp_solver
from solver.problem import Options, Placement, Progress

log = logging.getLogger(__name__)

__all__ = ["Window", "improve", "windows"]


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    visits: frozenset[int]
    """Indices into the model's visits that are free to change."""
    value: int
    """Weighted sessions of patients short of their wanted count that could go here."""


def windows(model: ChairModel, placed: list[Placement]) -> list[Window]:
    """Every neighbourhood, the most promising first: one day, two days side by side, one
    protocol's visits, the visits one staff member could take; ranked by the weighted sessions
    of patients still short of their wanted count that could go there, then smallest first."""
    visits = model.visits
    remaining = remaining_sessions(model.problem)
    booked: dict[str, int] = defaultdict(int)
    for a in placed:
        if not model.problem.is_follow_up(a):
            booked[a.patient] += 1
    short = {p.id: p.priority for p in model.problem.patients
             if booked[p.id] < remaining[p.id]}
    groups: dict[str, set[int]] = defaultdict(set)
    days = sorted({v.day.index for v in visits})
    for i, v in enumerate(visits):
        d = v.day.index
        groups[f"day {d}"].add(i)
        k = days.index(d)
        for pair in (days[k - 1:k + 1], days[k:k + 2]):
            if len(pair) == 2:
                groups[f"days {pair[0]}-{pair[1]}"].add(i)
        groups[f"protocol {v.protocol.id}"].add(i)
        for need in v.staff:
            for s in need:
                groups[f"staff {s}"].add(i)
    out = [Window(name, frozenset(chosen),
                  sum(short.get(visits[i].patient.id, 0) for i in chosen))
           for name, chosen in groups.items() if len(chosen) <= MAX_SHARE * len(visits)]
    return sorted(out, key=lambda w: (-w.value / len(w.visits), w.name))


MAX_SHARE = 0.3
"""Windows freeing more than this share of the visits are left out: CP-SAT's own search
already works on the whole model."""


def improve(model: ChairModel, placed: list[Placement], value: int, bound: int,
            seconds: float, options: Options,
            on_progress: ProgressFn | None = None) -> tuple[list[Placement], int]:
    """The best schedule found by re-solving windows around ``placed`` (worth ``value``, the
    model's placement value) within ``seconds``; never worse than ``placed``. The model then
    holds the best value found and is hinted with it, as after its own stages."""
    t0 = time.perf_counter()
    priority = {p.id: p.priority for p in model.problem.patients}
    ranked = windows(model, placed)
    k = 0
    while value < bound and ranked and k < len(ranked):
        left = seconds - (time.perf_counter() - t0)
        if left < 0.5:
            break
        window = ranked[k]
        k += 1
        found = _solve_window(model, placed, window, value,
                              min(left, _per_window(len(window.visits))), options)
        log.debug("LNS %s (%d visits, value %d): %s", window.name, len(window.visits),
                  window.value, "nothing better" if found is None else "better")
        if found is None:
            continue
        better = sum(priority[a.patient] for a in found)
        if better <= value:
            continue
        log.info("LNS %s: weighted %d -> %d", window.name, value, better)
        placed, value = found, better
        model.model.add(model.placement_value() >= value)
        model.hint(placed)
        ranked, k = windows(model, placed), 0
        if on_progress is not None:
            on_progress(Progress("placement", time.perf_counter() - t0, value, bound))
    return placed, value


def _per_window(size: int) -> float:
    """Seconds (or deterministic time) one window gets: about a second per thousand visits,
    at least 1 and at most 8."""
    return min(8.0, max(1.0, size / 100))


def _solve_window(model: ChairModel, placed: list[Placement], window: Window, value: int,
                  seconds: float, options: Options) -> list[Placement] | None:
    """The window re-solved with everything else as in ``placed``, worth more than ``value``;
    None when CP-SAT finds no such schedule in ``seconds``."""
    m = model.model.clone()
    v = model.vars
    chosen = {(a.patient, a.day, model.problem.protocol_id(a)): a for a in placed}

    def pin(var: cp_model.IntVar, to: int) -> None:
        m.add(m.get_int_var_from_proto_index(var.index) == to)

    for i, visit in enumerate(model.visits):
        if i in window.visits:
            continue
        a = chosen.get(visit.key)
        pin(v.present[i], int(a is not None))
        if a is None:
            continue
        pin(v.start[i], a.start)
        for r in visit.rooms:
            pin(v.room[i, r], int(a.room == r))
        for n, pool in enumerate(visit.staff):
            key = visit.protocol.staff[n].key
            for s in pool:
                pin(v.staff[i, n, s], int(a.staff.get(key) == s))
    m.add(sum(visit.patient.priority * m.get_int_var_from_proto_index(v.present[i].index)
              for i, visit in enumerate(model.visits)) >= value + 1)
    solver = cp_solver(seconds, options)
    try:
        status = solver.solve(m)
    except (IndexError, RuntimeError) as exc:
        # OR-Tools 9.15's presolve can fail on a window with no better schedule (seen once:
        # IndexError raw_hash_map::at, with the LP cap): the window has nothing to give
        log.warning("LNS window failed inside CP-SAT (%s): skipped", exc)
        return None
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return model.read(solver)
