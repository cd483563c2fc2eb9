"""Re-planning benchmark: appointments moved per random event, re-plan vs solving from scratch.

For each size, the base week is solved once; then each of N seeded random events (cancel,
staff absent for a day, room closed for an afternoon, patient unavailable, new urgent patient)
is applied on its own. "Touched" counts the appointments the event itself names; "moved" counts
known appointments whose time, room or staff differ afterwards (removed ones included); "from
scratch" counts the same for a fresh solve of the changed scenario, ids matched by patient and
order, as a clinic without re-planning would experience it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.usecases import plan_week, read_events, replan
from scheduler.validate import validate_scenario
from solver import Options

EARLY = datetime(2026, 12, 1, tzinfo=UTC)


def random_event(rng: random.Random, scenario: Scenario, doc: dict[str, Any]) -> dict[str, Any]:
    days = [str(d) for d in scenario.dates() if d.weekday() < 5]
    kind = rng.choice(["cancel", "staff", "room", "patient", "add"])
    if kind == "cancel":
        return {"type": "cancel", "appointment": rng.choice(doc["appointments"])["id"],
                "drop": rng.random() < 0.5}
    if kind == "staff":
        nurse = rng.choice([s.id for s in scenario.staff if s.role == "nurse"])
        return {"type": "staff_absent", "staff": nurse, "date": rng.choice(days)}
    if kind == "room":
        return {"type": "room_closed", "room": rng.choice([r.id for r in scenario.rooms]),
                "date": rng.choice(days), "from": "12:00", "to": "18:00"}
    if kind == "patient":
        booked = rng.choice(doc["appointments"])
        return {"type": "patient_unavailable", "patient": booked["patient"],
                "date": booked["start"][:10]}
    protocol = rng.choice(["esk-84", "iv-ketamine", "im-ketamine"])
    return {"type": "add_patient",
            "patient": {"id": "P-NEW", "protocol": protocol, "priority": 5,
                        "rems_enrolled": True}}


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


def replan_bench(args: argparse.Namespace, console: Console) -> int:
    sizes = [("M", 10.0)] if args.quick else [("M", 10.0), ("L", 20.0)]
    n = 5 if args.quick else args.events
    table = Table(title=f"Re-planning: {n} random events per size (one at a time)")
    for col in ("size", "touched", "moved (re-plan)", "extra", "moved (from scratch)",
                "re-plan s", "all valid"):
        table.add_column(col, justify="right")
    for size, limit in sizes:
        limit = args.time_limit or limit
        scenario = validate_scenario(generate(Spec(size, "room", 1.0)))
        base = plan_week(scenario, Options(time_limit=2 * limit, workers=2)).schedule.to_json()
        rng = random.Random(f"replan-{size}")
        touched, moved, scratch, seconds, valid = [], [], [], [], True
        for _ in range(n):
            event = random_event(rng, scenario, base)
            t0 = time.perf_counter()
            previous = Schedule.from_json(base)
            events = [e for _, e in read_events({"events": [event]}, scenario, previous, EARLY)]
            result = replan(scenario, previous, events, EARLY,
                            Options(time_limit=limit, workers=2))
            seconds.append(time.perf_counter() - t0)
            valid &= not result.violations
            hit = sum(1 for c in result.changes if c.before is not None
                      and not c.reason.startswith(("moved to make room", "no longer fits")))
            touched.append(hit)
            moved.append(sum(1 for c in result.changes if c.before is not None))
            fresh = plan_week(result.scenario,
                              Options(time_limit=limit, workers=2)).schedule.to_json()
            scratch.append(_moved(base, fresh))
        table.add_row(size, f"{statistics.mean(touched):.1f}", f"{statistics.mean(moved):.1f}",
                      f"{statistics.mean(moved) - statistics.mean(touched):.1f}",
                      f"{statistics.mean(scratch):.1f}",
                      f"{statistics.mean(seconds):.1f} (max {max(seconds):.1f})", str(valid))
        console.print(f"  done {size}", style="dim")
    console.print(table)
    return 0
