"""``python -m bench slots``: how long finding a slot takes, on the demo week and an M week.

Each week is planned (``--time-limit``, default 10 s) and then, for every patient:
as planned (most have every session placed, or a full week: the search answers "none"), and
with one of their sessions cancelled (a patient calling to move it: the freed slot and others
fit), the next ``limit`` free slots are found by the use case the API calls
(:func:`scheduler.usecases.slots.find_slots`, the checker judging each candidate). Prints
p50, p95 and the worst time per week and case, with the checks run and slots found.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.model import Scenario
from scheduler.usecases import Options, cancel_appointment, load_input, plan_week
from scheduler.usecases.slots import DEFAULT_LIMIT, find_slots
from scheduler.validate import validate_scenario


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def slots_bench(args: argparse.Namespace, console: Console) -> int:
    options = Options(time_limit=args.time_limit or 10.0, workers=args.workers, seed=0)
    weeks: list[tuple[str, Scenario]] = [
        ("demo", load_input()),
        ("M-room-1.00", validate_scenario(generate(Spec("M", "room", 1.0))))]
    table = Table(title=f"Find a slot: the next {DEFAULT_LIMIT} free slots of a patient "
                        "(every candidate judged by the checker)")
    for column in ("week", "case", "searches", "p50 ms", "p95 ms", "max ms", "slots found",
                   "none found"):
        table.add_column(column, justify="right")
    slow = 0.0
    for name, scenario in weeks:
        schedule = plan_week(scenario, options).schedule
        own = {p.id: p.protocol for p in scenario.patients}
        cases = {"as planned": [(p.id, schedule) for p in scenario.patients],
                 "one cancelled": [(a.patient, cancel_appointment(scenario, schedule, a.id))
                                   for a in schedule.appointments
                                   if a.protocol == own[a.patient]]}
        for case, searches in cases.items():
            seconds, found = [], []
            for patient, week in searches:
                began = time.perf_counter()
                found.append(len(find_slots(scenario, week, patient, DEFAULT_LIMIT)))
                seconds.append(time.perf_counter() - began)
            slow = max(slow, max(seconds))
            table.add_row(name, case, str(len(seconds)), f"{_quantile(seconds, .5) * 1e3:.0f}",
                          f"{_quantile(seconds, .95) * 1e3:.0f}", f"{max(seconds) * 1e3:.0f}",
                          f"{statistics.mean(found):.1f}", str(found.count(0)))
    console.print(table)
    return 0 if slow < 1.0 else 1
