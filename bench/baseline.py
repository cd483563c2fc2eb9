"""``python -m bench weekly [--baseline COMMIT]``: the weekly solve of this tree beside an older
commit's (default round one, 3f72a8a), on the same instances in the same run.

The commit is materialized with ``git archive`` into a temporary folder (nothing is registered
in the repository, nothing is left behind), and each tree's solver runs in its own fresh
Python process (``PYTHONPATH`` its own tree: the old commit's ``scheduler`` and ``solver``, not
this one's) on the same scenario data: the instance this tree's generator makes. The two runs of
an instance follow each other, never at once, so they do not compete for the cores. Each side's
schedule is judged by this tree's checker.

Without git history (a shallow clone, an exported tarball), or when the commit is not in it,
the command says so and stops (exit 2).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.generate import Spec, generate, suite
from scheduler.check import check
from scheduler.text import write_csv
from scheduler.validate import validate_scenario

__all__ = ["BASELINE", "NoHistory", "Side", "materialize", "run_tree", "weekly_bench"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "3f72a8a"
"""Round one's solver (before round two's spacing, continuity, caps, follow-ups and LP)."""

RUNNER = r"""
import json, sys, time
job = json.load(sys.stdin)
try:  # the layout before the use cases were split out (round one)
    from scheduler.scenario import validate_scenario
except ImportError:
    from scheduler.validate import validate_scenario
from scheduler.compile import to_problem
from solver import Options, solve
scenario = validate_scenario(job["scenario"])
problem = to_problem(scenario)
t0 = time.perf_counter()
solution = solve(problem, Options(time_limit=job["time_limit"], workers=job["workers"]))
seconds = time.perf_counter() - t0
try:
    from scheduler.schedule import schedule_document
    doc = schedule_document(scenario, problem, solution)
except ImportError:
    from scheduler.documents import schedule_from_solution
    doc = schedule_from_solution(scenario, problem, solution).to_json()
with open(job["out"], "w", encoding="utf-8") as f:  # HiGHS prints a banner on stdout
    json.dump({"placed": len(solution.appointments), "weighted": solution.objective,
               "bound": solution.bound, "status": solution.status, "seconds": seconds,
               "schedule": doc}, f)
"""
"""What runs in each tree's process: its own validation, compiler, solver and schedule document
(the names the round-one layout used, else today's), the scenario read from stdin, the answer as
JSON in the file the job names."""


class NoHistory(RuntimeError):
    """The commit cannot be materialized: no git, no history, or not in it."""


@contextmanager
def materialize(commit: str, repo: Path = ROOT) -> Iterator[Path]:
    """The tree of ``commit`` (of the repository at ``repo``) in a temporary folder, removed
    afterwards; :class:`NoHistory` saying why when git cannot give it."""
    git = shutil.which("git")
    if git is None:
        raise NoHistory("git is not installed: the baseline is materialized from git history")
    found = subprocess.run([git, "-C", str(repo), "rev-parse", "--verify", "--quiet",
                            f"{commit}^{{commit}}"], capture_output=True, text=True)
    if found.returncode != 0:
        shallow = subprocess.run([git, "-C", str(repo), "rev-parse",
                                  "--is-shallow-repository"], capture_output=True, text=True)
        if shallow.returncode != 0:
            why = f"{repo} is not a git checkout"
        elif shallow.stdout.strip() == "true":
            why = (f"commit {commit} is not in this shallow clone (git fetch --unshallow "
                   "brings the history)")
        else:
            why = f"commit {commit} is not in the history of {repo}"
        raise NoHistory(f"no baseline: {why}")
    full = found.stdout.strip()
    with tempfile.TemporaryDirectory(prefix=f"chairtime-{full[:8]}-") as tmp:
        archive = Path(tmp) / "tree.tar"
        subprocess.run([git, "-C", str(repo), "archive", "--format=tar", "-o", str(archive),
                        full], check=True)
        tree = Path(tmp) / "tree"
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        archive.unlink()
        yield tree


@dataclass(frozen=True, slots=True)
class Side:
    """One tree's solve of one instance."""

    placed: int
    weighted: int
    bound: int
    status: str
    seconds: float
    valid: bool


def portable(scenario: dict[str, Any]) -> dict[str, Any]:
    """The instance without protocols nobody books (the generator's protocol library has video
    protocols round one's format does not know; no generated patient uses them): the same
    week for every solver."""
    used = {p["protocol"] for p in scenario["patients"]} | {
        f["protocol"] for f in scenario.get("fixed") or []}
    return {**scenario, "protocols": [p for p in scenario["protocols"] if p["id"] in used]}


def run_tree(tree: Path, scenario: dict[str, Any], time_limit: float, workers: int) -> Side:
    """Solve ``scenario`` with the solver of ``tree``, in a fresh process, and judge the
    schedule with this tree's checker."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory(prefix="chairtime-run-") as tmp:
        answer = Path(tmp) / "answer.json"
        job = json.dumps({"scenario": scenario, "time_limit": time_limit, "workers": workers,
                          "out": str(answer)})
        done = subprocess.run([sys.executable, "-c", RUNNER], input=job, capture_output=True,
                              text=True, cwd=tree, env=env, timeout=time_limit * 4 + 300)
        if done.returncode != 0:
            raise RuntimeError(f"the solver of {tree} failed:\n{done.stderr[-3000:]}")
        out = json.loads(answer.read_text(encoding="utf-8"))
    valid = check(validate_scenario(scenario), out["schedule"]) == []
    return Side(out["placed"], out["weighted"], out["bound"], out["status"],
                round(out["seconds"], 1), valid)


@dataclass(frozen=True, slots=True)
class Pair:
    instance: str
    time_limit: float
    baseline: Side
    today: Side


def compare(cases: list[tuple[Spec, float]], commit: str, workers: int,
            on_pair: Callable[[Pair], None] | None = None) -> list[Pair]:
    """Each instance solved by ``commit``'s solver, then by this tree's."""
    pairs = []
    with materialize(commit) as old:
        for spec, limit in cases:
            data = portable(generate(spec))
            before = run_tree(old, data, limit, workers)
            now = run_tree(ROOT, data, limit, workers)
            pairs.append(Pair(spec.name, limit, before, now))
            if on_pair is not None:
                on_pair(pairs[-1])
    return pairs


def weekly_cases(only: list[str] | None, time_limit: float | None) -> list[tuple[Spec, float]]:
    """The suite's one-week M and L instances (or ``only`` those named), at ``time_limit``
    (default 60 s)."""
    cases = [(spec, time_limit or 60.0) for spec, _ in suite()
             if spec.size in ("M", "L") and spec.weeks == 1]
    if only:
        cases = [(spec, limit) for spec, limit in cases if spec.name in only]
    return cases


def weekly_bench(args: argparse.Namespace, console: Any) -> int:
    from rich.table import Table

    commit = args.baseline or BASELINE
    cases = weekly_cases(args.only, args.time_limit)
    console.print(f"weekly solve: {commit} beside this tree, {len(cases)} instances, "
                  f"{args.workers} workers")
    try:
        pairs = compare(cases, commit, args.workers,
                        lambda p: console.print(f"  done {p.instance}", style="dim"))
    except NoHistory as exc:
        console.print(str(exc), style="bold red")
        return 2
    t = Table(title=f"Weekly solve: {commit} (baseline) and this tree, same instances, "
                    f"{args.workers} CP-SAT workers")
    for col in ("instance", "limit s", "base placed", "base weighted", "base status",
                "placed", "weighted", "status", "Δ weighted", "check"):
        t.add_column(col, justify="left" if col == "instance" else "right")
    for p in pairs:
        b, n = p.baseline, p.today
        t.add_row(p.instance, f"{p.time_limit:g}", str(b.placed), str(b.weighted), b.status,
                  str(n.placed), str(n.weighted), n.status, f"{n.weighted - b.weighted:+d}",
                  "ok" if b.valid and n.valid else
                  f"baseline {'ok' if b.valid else 'FAIL'}, today {'ok' if n.valid else 'FAIL'}")
    console.print(t)
    path: Path = args.out / "weekly.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        write_csv(f, ["instance", "time_limit", "commit", "base_placed", "base_weighted",
                      "base_bound", "base_status", "base_seconds", "base_valid", "placed",
                      "weighted", "bound", "status", "seconds", "valid"],
                  [[p.instance, p.time_limit, commit, p.baseline.placed, p.baseline.weighted,
                    p.baseline.bound, p.baseline.status, p.baseline.seconds, p.baseline.valid,
                    p.today.placed, p.today.weighted, p.today.bound, p.today.status,
                    p.today.seconds, p.today.valid] for p in pairs])
    console.print(f"wrote {path}")
    return 0 if all(p.baseline.valid and p.today.valid for p in pairs) else 1
