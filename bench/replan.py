"""Re-planning benchmark: how soon the first answer comes, and what it and the final one place.

For each size (room-limited M and L at load 1.0, generator seed 7, not the suite's), the base
week is solved once; then each of N seeded events is re-planned on its own, three ways:

- in two steps (``replan``): the time to the first answer (``on_first``) and to the final one;
- as before first answers (``replan(two_step=False)``) at the same time limit ("today");
- as before, at the reference limit (60 s; ``--reference-limit`` for a quick run).

An event is most often a nurse absent on the busiest day plus one cancellation to rebook,
otherwise one of: a cancellation (rebooked or dropped), a nurse absent a day, a room closed an
afternoon, a patient unavailable a day, an urgent new patient. "Untouched moved" counts known
appointments no event named that changed ("moved to make room", "no longer fits"); "placed" is
priority-weighted sessions, given against the reference re-plan's. ``--scratch`` adds the old
column: known appointments a fresh solve of the changed week would move.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.usecases import Replanned, plan_week, read_events, replan
from scheduler.validate import validate_scenario
from solver import Options

EARLY = datetime(2026, 12, 1, tzinfo=UTC)
SEED = 7
"""The generator's seed for the re-planned weeks: not the suite's (1)."""
BASE_LIMIT = {"M": 20.0, "L": 40.0}
"""Seconds for the base week's solve."""


def random_event(rng: random.Random, scenario: Scenario, doc: dict[str, Any]
                 ) -> list[dict[str, Any]]:
    """One seeded event (as an events file lists them): half the time a nurse absent on the
    busiest day plus a cancellation to rebook, else one event of a random kind."""
    appointments = doc["appointments"]
    if rng.random() < 0.5:
        busiest = Counter(a["start"][:10] for a in appointments).most_common(1)[0][0]
        nurses = sorted({s for a in appointments if a["start"][:10] == busiest
                         for s in a["staff"].values()} & {s.id for s in scenario.staff
                                                           if s.role == "nurse"})
        return [{"type": "staff_absent", "staff": rng.choice(nurses), "date": busiest},
                {"type": "cancel", "appointment": rng.choice(appointments)["id"]}]
    days = [str(d) for d in scenario.dates() if d.weekday() < 5]
    kind = rng.choice(["cancel", "staff", "room", "patient", "add"])
    if kind == "cancel":
        return [{"type": "cancel", "appointment": rng.choice(appointments)["id"],
                 "drop": rng.random() < 0.5}]
    if kind == "staff":
        nurse = rng.choice([s.id for s in scenario.staff if s.role == "nurse"])
        return [{"type": "staff_absent", "staff": nurse, "date": rng.choice(days)}]
    if kind == "room":
        return [{"type": "room_closed", "room": rng.choice([r.id for r in scenario.rooms]),
                 "date": rng.choice(days), "from": "12:00", "to": "18:00"}]
    if kind == "patient":
        booked = rng.choice(appointments)
        return [{"type": "patient_unavailable", "patient": booked["patient"],
                 "date": booked["start"][:10]}]
    protocol = rng.choice(["esk-84", "iv-ketamine", "im-ketamine"])
    return [{"type": "add_patient",
             "patient": {"id": "P-NEW", "protocol": protocol, "priority": 5,
                         "rems_enrolled": True}}]


def _moved(before: dict[str, Any], after: dict[str, Any]) -> int:
    """Known appointments that differ: by id when ids carry over, else by patient and order."""
    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (a["start"], a["room"], tuple(sorted(a["staff"].items())))

    mine: dict[str, list[tuple[Any, ...]]] = {}
    for a in after["appointments"]:
        mine.setdefault(a["patient"], []).append(key(a))
    moved = 0
    for a in before["appointments"]:
        options = mine.get(a["patient"], [])
        if key(a) in options:
            options.remove(key(a))
        else:
            moved += 1
    return moved


def untouched_moved(result: Replanned) -> int:
    """Known appointments no event named that changed."""
    return sum(1 for c in result.changes if c.before is not None
               and c.reason.startswith(("moved to make room", "no longer fits")))


def weighted(result: Replanned) -> int:
    assert result.schedule.kpis is not None
    return result.schedule.kpis.weighted


@dataclass(slots=True)
class Run:
    """One event's figures."""

    first_s: float
    final_s: float
    today_s: float
    first: int
    final: int
    today: int
    reference: int
    first_moved: int
    final_moved: int
    today_moved: int
    scratch: int | None
    valid: bool


def run_event(scenario: Scenario, base: dict[str, Any], event: list[dict[str, Any]],
              limit: float, reference: float, workers: int, scratch: bool) -> Run:
    """The event re-planned in two steps, as before, and as before at the reference limit."""
    previous = Schedule.from_json(base)
    events = [e for _, e in read_events({"events": event}, scenario, previous, EARLY)]
    options = Options(time_limit=limit, workers=workers)
    firsts: list[tuple[float, Replanned]] = []
    t0 = time.perf_counter()
    final = replan(scenario, previous, events, EARLY, options,
                   on_first=lambda r: firsts.append((time.perf_counter() - t0, r)))
    final_s = time.perf_counter() - t0
    first_s, first = firsts[0] if firsts else (final_s, final)
    t0 = time.perf_counter()
    today = replan(scenario, previous, events, EARLY, options, two_step=False)
    today_s = time.perf_counter() - t0
    ref = replan(scenario, previous, events, EARLY,
                 Options(time_limit=reference, workers=workers), two_step=False)
    fresh = None
    if scratch:
        fresh = _moved(base, plan_week(final.scenario, options).schedule.to_json())
    return Run(first_s, final_s, today_s, weighted(first), weighted(final), weighted(today),
               weighted(ref), untouched_moved(first), untouched_moved(final),
               untouched_moved(today), fresh,
               not (first.violations or final.violations or today.violations
                    or ref.violations))


def p95(values: list[float]) -> float:
    """The 95th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} / {p95(values):.2f}"


def _diff(values: list[int]) -> str:
    return f"{statistics.mean(values):+.1f} (min {min(values):+d})"


def replan_bench(args: argparse.Namespace, console: Console) -> int:
    sizes = ["M"] if args.quick else args.sizes or ["M", "L"]
    n = 5 if args.quick else args.events
    limit = args.time_limit or 20.0
    reference = args.reference_limit
    table = Table(title=f"Re-planning in two steps: {n} seeded events per size, limit "
                        f"{limit:g} s, reference (ref) {reference:g} s; times p50 / p95; "
                        "untouched moved: mean first / final / before; placed: weighted, "
                        "mean (min) against ref")
    for col in ("size", "first s", "final s", "before s", "first/before", "untouched moved",
                "first-ref", "final-ref", "before-ref", "first>=before", "final>=before",
                *(["from scratch"] if args.scratch else []), "valid"):
        table.add_column(col, justify="right")
    ok = True
    for size in sizes:
        scenario = validate_scenario(generate(Spec(size, "room", 1.0, seed=SEED)))
        base = plan_week(scenario, Options(time_limit=BASE_LIMIT[size],
                                           workers=args.workers)).schedule.to_json()
        rng = random.Random(f"replan-{size}")
        runs: list[Run] = []
        for k in range(n):
            event = random_event(rng, scenario, base)
            runs.append(run_event(scenario, base, event, limit, reference, args.workers,
                                  args.scratch))
            r = runs[-1]
            console.print(f"  {size} event {k + 1}: {[e['type'] for e in event]} first "
                          f"{r.first_s:.2f} s ({r.first}, {r.first_moved} moved), final "
                          f"{r.final_s:.1f} s ({r.final}, {r.final_moved}), before "
                          f"{r.today_s:.1f} s ({r.today}, {r.today_moved}), reference "
                          f"{r.reference}", style="dim")
        ok &= all(r.valid for r in runs)
        share_first = sum(r.first >= r.today for r in runs) / n
        share_final = sum(r.final >= r.today for r in runs) / n
        ratio = statistics.median(r.first_s / r.today_s for r in runs)
        table.add_row(
            size, _s([r.first_s for r in runs]), _s([r.final_s for r in runs]),
            _s([r.today_s for r in runs]), f"{ratio:.2f}",
            " / ".join(f"{statistics.mean(m):.1f}" for m in (
                [r.first_moved for r in runs], [r.final_moved for r in runs],
                [r.today_moved for r in runs])),
            _diff([r.first - r.reference for r in runs]),
            _diff([r.final - r.reference for r in runs]),
            _diff([r.today - r.reference for r in runs]),
            f"{share_first:.0%}", f"{share_final:.0%}",
            *([f"{statistics.mean(r.scratch or 0 for r in runs):.1f}"] if args.scratch
              else []),
            "yes" if all(r.valid for r in runs) else "NO")
        console.print(table)  # after each size: a long run's first rows are not lost
    return 0 if ok else 1
