"""The benchmark harness: solve each instance, measure it against baselines, print a table.

Each instance runs in a fresh process (so its peak memory is its own) and reports: priority-
weighted sessions placed; the best upper bound (the least of the LP relaxation, CP-SAT's bound and
the capacity count) and the gap to it; the ratio to greedy first fit; seconds to the greedy
schedule, to CP-SAT's first schedule and to within 1 % of the final value; peak memory; the model's
size; and whether the independent checker accepts the schedule. Ratios, not seconds, are the
point: the machine is shared and noisy.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.generate import Spec, generate
from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.text import write_csv as csv_file
from scheduler.validate import validate_scenario
from solver import Options, Progress, capacity_bound, solve
from solver.bound import lp_bound
from solver.candidates import build_visits
from solver.greedy import greedy

log = logging.getLogger(__name__)
OUT = Path(__file__).resolve().parent / "out"


@dataclass(slots=True)
class Row:
    instance: str
    patients: int
    wanted: int
    time_limit: float
    greedy: int
    placed: int
    weighted: int
    cp_bound: int
    lp_bound: float
    lp_person: float
    mip_bound: float
    capacity: int
    best_bound: float
    bound_by: str
    gap_pct: float
    best_known: int
    known_gap_pct: float
    vs_greedy: float
    greedy_s: float
    first_s: float
    within_1pct_s: float
    solve_s: float
    lp_s: float
    lp_person_s: float
    peak_mib: float
    visits: int
    variables: int
    constraints: int
    status: str
    valid: bool


BEST_KNOWN = Path(__file__).resolve().parent / "best_known.json"
"""The best weighted value any run of ours found per instance (kept in git: long runs add to it;
``python -m bench`` updates it when it beats an entry)."""
PERSON_LP_STARTS = 60_000
"""The per-person LP (tighter on staff-limited weeks) only on staff-limited instances, whole up
to this many starts: on a room-limited M week (many interchangeable nurses) it did not finish in
300 s. Above it, up to :data:`PERSON_COLGEN_STARTS`, by column generation (``method="colgen"``,
seeded with the pooled LP)."""
PERSON_COLGEN_STARTS = 150_000
"""Column generation for the per-person LP up to this many starts: L-staff (114,000; about 20 s
of CPU more), not XL-staff (245,000: 220 s of CPU) nor the 4-week M (182,000: no tighter than
pooled) (bench/README.md, "The per-person LP by column generation")."""
PERSON_COLGEN_SECONDS = 300.0
"""Column generation's pricing rounds at most; stopped there, its Lagrangian bound (still a
bound, looser) is what counts."""


def best_known() -> dict[str, int]:
    return json.loads(BEST_KNOWN.read_text(encoding="utf-8")) if BEST_KNOWN.exists() else {}


def remember(instance: str, value: int) -> int:
    """Record ``value`` if it is the best known for ``instance``; the best known either way."""
    known = best_known()
    if value > known.get(instance, -1):
        known[instance] = value
        BEST_KNOWN.write_text(json.dumps(dict(sorted(known.items())), indent=1) + "\n",
                              encoding="utf-8")
    return known[instance]


def measure(spec: Spec, time_limit: float, workers: int = 2, lns: float = 0.0,
            mip: float = 0.0) -> Row:
    """Everything the table shows for one instance (run it in its own process); ``mip``
    seconds for the relaxation in whole sessions (0: not run)."""
    scenario = validate_scenario(generate(spec))
    problem = to_problem(scenario)
    t0 = time.perf_counter()
    visits, _ = build_visits(problem)
    first = greedy(problem, visits)
    greedy_s = time.perf_counter() - t0
    greedy_value = sum(problem.patient[a.patient].priority for a in first)
    events: list[tuple[float, float]] = []
    start = time.perf_counter()

    def record(p: Progress) -> None:
        if p.stage in ("greedy", "placement"):
            events.append((time.perf_counter() - start, p.objective))

    solution = solve(problem, Options(time_limit=time_limit, workers=workers, lns=lns), record)
    solve_s = time.perf_counter() - start
    lp = lp_bound(problem, visits, time_limit=600)
    starts = sum(len(v.starts) for v in visits)
    by_person = spec.limit == "staff" and starts <= PERSON_LP_STARTS
    by_columns = spec.limit == "staff" and PERSON_LP_STARTS < starts <= PERSON_COLGEN_STARTS
    person_lp = (lp_bound(problem, visits, time_limit=600, per_person=True) if by_person
                 else lp_bound(problem, visits, time_limit=PERSON_COLGEN_SECONDS, per_person=True,
                               method="colgen", start=lp) if by_columns else None)
    person = person_lp.bound if person_lp is not None else math.inf
    whole = (lp_bound(problem, visits, time_limit=mip, per_person=by_person, integral=True).bound
             if mip > 0 else math.inf)
    value = solution.objective
    capacity = capacity_bound(problem)
    bounds = {"LP": min(lp.bound, person), "MIP": whole, "CP-SAT": float(solution.bound),
              "demand": float(capacity)}
    by = min(bounds, key=lambda k: bounds[k])
    best = bounds[by]
    if by == "CP-SAT" and solution.bound < capacity and math.floor(lp.bound + 1e-6) == \
            solution.bound:
        by = "LP"  # solve() reported the LP's bound, the smaller (or stopped at it)
    known = remember(spec.name, value)
    doc = schedule_from_solution(scenario, problem, solution).to_json()
    within = next((t for t, v in events if v >= 0.99 * value), solve_s)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Row(
        instance=spec.name, patients=len(problem.patients),
        wanted=sum(p.sessions for p in problem.patients), time_limit=time_limit,
        greedy=greedy_value, placed=len(solution.appointments), weighted=value,
        cp_bound=solution.bound, lp_bound=round(lp.bound, 1), lp_person=round(person, 1),
        mip_bound=round(whole, 1),
        capacity=capacity, best_bound=round(best, 1), bound_by=by,
        gap_pct=round(100 * (best - value) / best, 2) if best else 0,
        best_known=known,
        known_gap_pct=round(100 * (known - value) / known, 2) if known else 0,
        vs_greedy=round(value / greedy_value, 3) if greedy_value else 0.0,
        greedy_s=round(greedy_s, 2), first_s=round(events[0][0], 2) if events else solve_s,
        within_1pct_s=round(within, 2), solve_s=round(solve_s, 1), lp_s=round(lp.seconds, 1),
        lp_person_s=round(person_lp.seconds, 1) if person_lp is not None else 0.0,
        peak_mib=round(peak, 0), visits=solution.model_size.get("visits", 0),
        variables=solution.model_size.get("variables", 0),
        constraints=solution.model_size.get("constraints", 0),
        status=solution.status, valid=check(scenario, doc) == [],
    )


def _measure_args(args: tuple[Spec, float, int, float, float]) -> Row:
    return measure(*args)


def run_all(cases: Iterable[tuple[Spec, float]], workers: int = 2,
            on_row: Callable[[Row], None] | None = None, lns: float = 0.0,
            mip: float = 0.0) -> list[Row]:
    """Measure each case in a fresh process, one at a time (so timings do not compete)."""
    rows = []
    ctx = mp.get_context("spawn")
    for spec, limit in cases:
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            row = pool.apply(_measure_args, ((spec, limit, workers, lns, mip),))
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def write_csv(rows: list[Row], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv_file(f, list(asdict(rows[0])), (asdict(r).values() for r in rows))
    return path


def chart(rows: list[Row], path: Path) -> Path:
    """Gap to the best bound and ratio to greedy, one bar pair per instance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.instance for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(rows) * 0.55), 7), sharex=True)
    top.bar(names, [r.gap_pct for r in rows], color="#c0504d")
    top.set_ylabel("gap to best bound (%)")
    top.set_title("CP-SAT schedule quality by instance")
    bottom.bar(names, [r.vs_greedy for r in rows], color="#4f81bd")
    bottom.axhline(1.0, color="black", linewidth=0.8)
    bottom.set_ylabel("weighted placed / greedy")
    bottom.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


COLUMNS: list[tuple[str, str]] = [
    ("instance", "instance"), ("wanted", "wanted"), ("greedy", "greedy"),
    ("weighted", "CP-SAT"), ("best_bound", "bound"), ("bound_by", "by"), ("gap_pct", "gap %"),
    ("best_known", "best known"), ("known_gap_pct", "vs known %"),
    ("vs_greedy", "×greedy"), ("first_s", "first s"), ("within_1pct_s", "≤1% s"),
    ("solve_s", "solve s"), ("lp_s", "LP s"), ("peak_mib", "MiB"), ("variables", "vars"),
    ("valid", "check"),
]


def table(rows: list[Row]) -> Any:
    from rich.table import Table

    t = Table(title="Chairtime benchmark (2 CP-SAT workers)", min_width=150)
    for _, header in COLUMNS:
        t.add_column(header, justify="left" if header == "instance" else "right")
    for r in rows:
        t.add_row(*(str(getattr(r, key)) for key, _ in COLUMNS))
    return t
