"""``python -m bench whatif``: a 12-variant what-if sweep on an M clinic, timed on 1 and 2 local
processes and on a 2-worker Dask ``LocalCluster`` (processes, one thread each).

The sweep is the one managers ask for: nurses (N01's role, 4 to 7) by rooms like R05 (4 to 6),
each cell solved and its headroom searched (bottlenecks off: they are per-variant extras, not
what a sweep fills). Every solve has the same time limit, one CP-SAT worker and the same seed,
so the three runs do the same work; the table says whether they also gave the same answers
(they do when every search ends by proof; time-limited searches may differ by a session).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.text import write_csv
from scheduler.usecases.whatif import (
    Pool,
    WhatIf,
    WhatIfOptions,
    cluster_pool,
    local_pool,
    read_plan,
    run_whatif,
)
from scheduler.validate import validate_scenario

SWEEP = {"rows": {"staff": "N01", "counts": [4, 5, 6, 7]},
         "columns": {"rooms": "R05", "counts": [4, 5, 6]}}


@dataclass(frozen=True, slots=True)
class Run:
    where: str
    seconds: float
    solves: int
    table: tuple[tuple[object, ...], ...]


def _table(result: WhatIf) -> tuple[tuple[object, ...], ...]:
    return tuple((o.name, o.row()["placed"], o.headroom.patients, o.headroom.status,
                  o.capacity()) for o in result.outcomes)


def _solves(result: WhatIf) -> int:
    """Variant solves plus headroom steps (each one or two solves; counted as run)."""
    return sum(1 + sum(1 if s.how == "kept" else 2 for s in o.headroom.steps)
               for o in result.outcomes)


def whatif_bench(args: argparse.Namespace, console: Console) -> int:
    spec = Spec(args.size, "staff", 1.0)
    base = validate_scenario(generate(spec))
    plan = read_plan({"variants": [], "sweep": SWEEP}, base)
    limit = args.time_limit or 4.0
    options = WhatIfOptions(time_limit=limit, seed=0, bottleneck=False)
    console.print(f"what-if sweep on {spec.name}: {len(plan.cells)} variants + base, "
                  f"{limit:g} s per solve")
    runs: list[Run] = []
    pools: list[tuple[str, object]] = [("1 local process", 1), ("2 local processes", 2),
                                       ("Dask LocalCluster, 2 workers", "dask")]
    for label, how in pools:
        cluster = None
        if how == "dask":
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1,  # type: ignore[no-untyped-call]
                                   processes=True, dashboard_address=None)
            pool: Pool = cluster_pool(cluster.scheduler_address)
        else:
            assert isinstance(how, int)
            pool = local_pool(how)
        t0 = time.perf_counter()
        result = run_whatif(base, plan, options, pool)
        runs.append(Run(label, time.perf_counter() - t0, _solves(result), _table(result)))
        if cluster is not None:
            cluster.close()
        console.print(f"  {label}: {runs[-1].seconds:.1f} s", style="dim")
    t = Table(title=f"What-if sweep, {spec.name}, {len(plan.cells)} variants + base, "
                    f"{limit:g} s per solve")
    for col in ("run", "solves", "wall s", "speed-up", "same table as 1 process"):
        t.add_column(col, justify="left" if col == "run" else "right")
    for r in runs:
        t.add_row(r.where, str(r.solves), f"{r.seconds:.1f}",
                  f"{runs[0].seconds / r.seconds:.2f}x",
                  "yes" if r.table == runs[0].table else "no")
    console.print(t)
    grid = Table(title="Sessions the week holds (placed + headroom), 1 process")
    grid.add_column("variant")
    for col in ("placed", "headroom", "status", "capacity"):
        grid.add_column(col, justify="right")
    for row in runs[0].table:
        grid.add_row(*(str(x) for x in row))
    console.print(grid)
    out: Path = args.out / "whatif.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        write_csv(f, ["run", "solves", "wall_s", "speedup", "same_table"],
                  [[r.where, r.solves, round(r.seconds, 1), round(runs[0].seconds / r.seconds, 2),
                    r.table == runs[0].table] for r in runs])
    console.print(f"wrote {out}")
    return 0
