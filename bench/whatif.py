"""``python -m bench whatif``: the demo's base and two presets with headroom and bottleneck, the
method before (headroom steps from one patient up, the re-planning stages, every relaxation
re-solved) and today's (the LP's first answer, greedy insertion and the LP's bound before CP-SAT,
one-stage rearrangement, relaxations the LP proves worthless left out) in the same run, on two
local processes and on the page's two threads: wall time, time to the first answer, and the
answers side by side.

``python -m bench whatif --sweep``: a 12-variant what-if sweep on an M clinic, timed on 1 and 2
local processes and on a 2-worker Dask ``LocalCluster`` (processes, one thread each).

The sweep is the one managers ask for: nurses (N01's role, 4 to 7) by rooms like R05 (4 to 6),
each cell solved and its headroom searched (bottlenecks off: they are per-variant extras, not
what a sweep fills). Every solve has the same time limit, one CP-SAT worker and the same seed,
so the three runs do the same work; the table says whether they also gave the same answers
(they do when every search ends by proof; time-limited searches may differ by a session).
"""

from __future__ import annotations

import argparse
import os
import resource
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
    WhatIfProgress,
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
    if not args.sweep:
        return demo_bench(args, console)
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


def _cpu() -> float:
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


PRESETS = 2
"""The demo's first presets run beside the base (one more chair, two more rooms)."""


@dataclass(frozen=True, slots=True)
class DemoRun:
    label: str
    seconds: float
    first_s: float | None
    """Seconds to the first LP first answer (None: the method gives none)."""
    cpu_s: float
    """CPU seconds of this process and its finished worker processes: on a shared machine
    the fairer comparison."""
    result: WhatIf


def _answers(result: WhatIf) -> list[list[str]]:
    rows = []
    for o in result.compared:
        row = o.row(result.outcomes[0])
        b = o.bottleneck
        lp_skipped = [p.resource for p in b.probes[1:] if p.status == "LP"] if b else []
        rows.append([o.name, f"{row['placed']} / {row['wanted']}", o.headroom.text(),
                     o.headroom.status, o.headroom.note(),
                     f"{b.resource} (+{b.gain})" if b else "",
                     ", ".join(lp_skipped) or "—",
                     "" if o.first is None else ", ".join(o.first.names() or ("none",))])
    return rows


def demo_bench(args: argparse.Namespace, console: Console) -> int:
    from scheduler.library import DEMO_VARIANTS, data_text
    from scheduler.usecases.inputs import load_input
    from scheduler.usecases.whatif import thread_pool
    from scheduler.validate import parse_text

    base = load_input()
    doc = parse_text(data_text(DEMO_VARIANTS))
    plan = read_plan({"variants": doc["variants"][:PRESETS]}, base)
    limit = args.time_limit or 5.0
    processes = args.processes or 2
    console.print(f"what-if on the demo: base + {PRESETS} presets, headroom and bottleneck, "
                  f"{limit:g} s per solve")
    runs: list[DemoRun] = []
    pools: list[tuple[str, bool, Pool]] = [("today, 2 threads (the page's job)", True,
                                            thread_pool(2))]
    if not getattr(args, "only_threads", False):
        pools[:0] = [(f"before, {processes} processes", False, local_pool(processes)),
                     (f"today, {processes} processes", True, local_pool(processes))]
    for label, quick, pool in pools:
        options = WhatIfOptions(time_limit=limit, seed=0, quick=quick)
        cpu0 = _cpu()
        t0 = time.perf_counter()
        firsts: list[float] = []

        def seen(p: WhatIfProgress, t0: float = t0, firsts: list[float] = firsts) -> None:
            if p.first and not firsts:
                firsts.append(time.perf_counter() - t0)

        result = run_whatif(base, plan, options, pool, seen)
        runs.append(DemoRun(label, time.perf_counter() - t0, firsts[0] if firsts else None,
                            _cpu() - cpu0, result))
        console.print(f"  {label}: {runs[-1].seconds:.1f} s, {runs[-1].cpu_s:.0f} CPU s, "
                      f"load average {os.getloadavg()[0]:.1f}", style="dim")
    t = Table(title=f"What-if, demo base + {PRESETS} presets, headroom and bottleneck, "
                    f"{limit:g} s per solve (target: ≤ 60 s on 2 cores)")
    for col in ("run", "wall s", "CPU s", "first answer s", "vs before (wall)"):
        t.add_column(col, justify="left" if col == "run" else "right")
    for r in runs:
        t.add_row(r.label, f"{r.seconds:.1f}", f"{r.cpu_s:.0f}",
                  "—" if r.first_s is None else f"{r.first_s:.1f}",
                  f"{runs[0].seconds / r.seconds:.2f}x")
    console.print(t)
    header = ["variant", "placed / wanted", "headroom", "status", "how known", "bottleneck",
              "not re-solved (LP)", "LP first answer binds"]
    rows: list[list[object]] = []
    for r in runs:
        a = Table(title=f"Answers: {r.label}")
        for col in header:
            a.add_column(col)
        for row in _answers(r.result):
            a.add_row(*row)
            rows.append([r.label, round(r.seconds, 1), round(r.cpu_s), *row])
        console.print(a)
    out: Path = args.out / "whatif-demo.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        write_csv(f, ["run", "wall_s", "cpu_s", *header], rows)
    console.print(f"wrote {out}")
    return 0
