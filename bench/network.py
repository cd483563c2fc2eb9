"""A network of clinics: N sites, each its own model, solved in parallel.

Locally a process pool with one process per core (each CP-SAT solve on one worker); with
``--dask ADDRESS`` the same function runs on a Dask cluster's workers instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.validate import validate_scenario
from solver import Options, solve
from solver.bound import lp_bound


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    sessions: int
    weighted: int
    greedy: int
    bound: float
    gap_pct: float
    seconds: float
    valid: bool


def solve_site(spec: Spec, time_limit: float) -> Site:
    """One site, end to end: generate, solve (one CP-SAT worker), bound, check."""
    t0 = time.perf_counter()
    scenario = validate_scenario(generate(spec))
    problem = to_problem(scenario)
    solution = solve(problem, Options(time_limit=time_limit, workers=1))
    seconds = time.perf_counter() - t0
    bound = min(lp_bound(problem).bound, float(solution.bound))
    doc = schedule_from_solution(scenario, problem, solution).to_json()
    return Site(f"{spec.name}#{spec.seed}", len(solution.appointments), solution.objective,
                solution.greedy_objective, round(bound, 1),
                round(100 * (bound - solution.objective) / bound, 2) if bound else 0.0,
                round(seconds, 1), check(scenario, doc) == [])


def network(args: argparse.Namespace, console: Console) -> int:
    sites = 4 if args.quick else args.sites
    size = "S" if args.quick else args.size
    limit = args.time_limit or (5.0 if args.quick else 18.0)
    specs = [Spec(size, "room" if i % 2 == 0 else "staff", 1.0, seed=100 + i)
             for i in range(sites)]
    t0 = time.perf_counter()
    if args.dask:
        from dask.distributed import Client  # optional: pip install "dask[distributed]"

        with Client(args.dask) as client:  # type: ignore[no-untyped-call]
            futures = client.map(solve_site, specs, [limit] * len(specs), pure=False)
            results: list[Site] = client.gather(futures)
    else:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(solve_site, specs, [limit] * len(specs)))
    wall = time.perf_counter() - t0
    gaps = [r.gap_pct for r in results]
    table = Table(title=f"Network: {sites} sites x {size}, {limit:g} s each, "
                        f"{'Dask ' + args.dask if args.dask else f'{os.cpu_count()} processes'}")
    for col in ("sites", "sessions/week", "wall s", "gap % median", "gap % max",
                "≥ greedy", "all valid"):
        table.add_column(col, justify="right")
    table.add_row(str(sites), str(sum(r.sessions for r in results)), f"{wall:.0f}",
                  f"{statistics.median(gaps):.2f}", f"{max(gaps):.2f}",
                  f"{sum(r.weighted >= r.greedy for r in results)}/{sites}",
                  str(all(r.valid for r in results)))
    console.print(table)
    worst = sorted(results, key=lambda r: -r.gap_pct)[:5]
    console.print("largest gaps: " + ", ".join(f"{r.name} {r.gap_pct}%" for r in worst))
    return 0 if all(r.valid for r in results) else 1
