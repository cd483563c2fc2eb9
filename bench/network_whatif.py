"""``python -m bench network-whatif``: a what-if over a network of clinics. A chain of N sites
(``bench network``'s sites: M clinics, every other one short of chairs or of nurses) asks where
one more chair, or one more nurse, places the most sessions.

Every site gets the same variants (edits on its own scenario, never a copy): the base, one more
chair in the bay R02, and one more nurse like N01. A site is one job in the what-if's pool
(:func:`local_pool` here, :func:`cluster_pool` with ``--cluster``): the job generates the site,
reads the variants with :func:`read_plan` and solves them with :func:`run_whatif` in that worker
(one process, one CP-SAT worker per solve, the same seed), so the answer does not depend on where
it ran. Headroom and bottleneck searches are off: the question is the variants' placed sessions.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.generate import Spec, generate
from scheduler.usecases.whatif import (
    Pool,
    WhatIfOptions,
    cluster_pool,
    local_pool,
    read_plan,
    run_whatif,
)
from scheduler.validate import validate_scenario

log = logging.getLogger(__name__)

CHAIR, NURSE = "one more chair", "one more nurse"
VARIANTS: dict[str, Any] = {"variants": [
    {"name": CHAIR, "edits": [{"add_chairs": {"room": "R02", "chairs": 1}}]},
    {"name": NURSE, "edits": [{"add_staff": {"like": "N01", "id": "N99"}}]},
]}


@dataclass(frozen=True, slots=True)
class SiteJob:
    spec: Spec
    time_limit: float


@dataclass(frozen=True, slots=True)
class VariantRow:
    name: str
    status: str
    placed: int
    weighted: int
    greedy_weighted: int
    violations: int


@dataclass(frozen=True, slots=True)
class SiteResult:
    site: str
    short_of: str
    """What the generator made scarce: ``room`` (chairs) or ``staff`` (nurses)."""
    variants: tuple[VariantRow, ...]
    """The base first, then the variants in ``VARIANTS``' order."""
    seconds: float

    def best(self) -> tuple[str, int]:
        """The variant placing the most sessions beyond the base, and how many more; the base
        itself (gain 0) when no variant places more."""
        base = self.variants[0]
        top = max(self.variants[1:], key=lambda v: v.placed)
        return (top.name, top.placed - base.placed) if top.placed > base.placed else ("base", 0)


def site_specs(sites: int, size: str = "M") -> list[Spec]:
    """``bench network``'s sites: seeds 100.., every other one short of chairs (``room``)."""
    return [Spec(size, "room" if i % 2 == 0 else "staff", 1.0, seed=100 + i)
            for i in range(sites)]


def solve_site(job: SiteJob) -> SiteResult:
    """One site's what-if, in this process (the pool runs one site per worker)."""
    t0 = time.perf_counter()
    base = validate_scenario(generate(job.spec))
    plan = read_plan(VARIANTS, base)
    options = WhatIfOptions(time_limit=job.time_limit, seed=0, headroom=False,
                            bottleneck=False)
    result = run_whatif(base, plan, options, local_pool(1))
    rows = []
    for o in result.compared:
        k, sv = o.schedule.kpis, o.schedule.solver
        assert k is not None and sv is not None
        rows.append(VariantRow(o.name, sv.status, k.placed, k.weighted, k.greedy_weighted,
                               o.violations))
    return SiteResult(f"{job.spec.name}#{job.spec.seed}", job.spec.limit, tuple(rows),
                      round(time.perf_counter() - t0, 1))


def run_network(specs: list[Spec], time_limit: float, pool: Pool) -> list[SiteResult]:
    """Every site's what-if as one job of ``pool``; the results in the sites' order."""
    with pool:
        futures = {pool.submit(solve_site, SiteJob(s, time_limit)): i
                   for i, s in enumerate(specs)}
        results: dict[int, SiteResult] = {}
        pending = set(futures)
        while pending:
            for future in pool.wait_any(pending):
                pending.discard(future)
                result: SiteResult = future.result()
                results[futures[future]] = result
                log.info("site %s done (%d/%d)", result.site, len(results), len(specs))
    return [results[i] for i in range(len(specs))]


def network_table(results: list[SiteResult], title: str) -> Table:
    """Per site: what binds, base sessions, each variant's gain, the best; then totals."""
    t = Table(title=title)
    for col in ("site", "short of", "base placed", "+chair", "+nurse", "best", "gain",
                "statuses", "checked"):
        t.add_column(col, justify="left" if col in ("site", "best", "statuses") else "right")
    for r in results:
        base = r.variants[0].placed
        best, gain = r.best()
        t.add_row(r.site, "chairs" if r.short_of == "room" else "nurses", str(base),
                  *(f"{v.placed - base:+d}" for v in r.variants[1:]), best, f"{gain:+d}",
                  "/".join(sorted({v.status.lower() for v in r.variants})),
                  "pass" if all(v.violations == 0 for v in r.variants) else "FAIL")
    base_total = sum(r.variants[0].placed for r in results)
    picks = {name: sum(r.best()[0] == name for r in results) for name in (CHAIR, NURSE, "base")}
    t.add_section()
    t.add_row(f"{len(results)} sites", "", str(base_total),
              *(f"{sum(r.variants[j].placed - r.variants[0].placed for r in results):+d}"
                for j in (1, 2)),
              f"chair {picks[CHAIR]}, nurse {picks[NURSE]}, none {picks['base']}",
              f"{sum(r.best()[1] for r in results):+d}", "",
              f"{sum(all(v.violations == 0 for v in r.variants) for r in results)}"
              f"/{len(results)}")
    return t


def network_whatif(args: argparse.Namespace, console: Console) -> int:
    specs = site_specs(args.sites, args.size)
    limit = args.time_limit or 2.0
    pool = cluster_pool(args.cluster) if args.cluster else local_pool(args.processes)
    where = pool.where
    t0 = time.perf_counter()
    results = run_network(specs, limit, pool)
    wall = time.perf_counter() - t0
    console.print(network_table(
        results, f"What-if across {len(specs)} sites x {args.size}: base, {CHAIR} (R02), "
                 f"{NURSE} (like N01); {limit:g} s per solve, {where}"))
    console.print(f"wall {wall:.1f} s on {where}; site jobs {sum(r.seconds for r in results):.0f}"
                  f" s in all")
    return 0 if all(v.violations == 0 for r in results for v in r.variants) else 1
