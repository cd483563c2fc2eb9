"""What the command line, and later the HTTP API and jobs, do: each a plain function."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.check import Violation, check
from scheduler.compile import to_problem
from scheduler.scenario import Scenario
from scheduler.schedule import schedule_document
from solver import Options, Progress, solve

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Planned:
    document: dict[str, Any]
    violations: list[Violation]


def plan_week(scenario: Scenario, options: Options, on_progress: Any = None,
              now: datetime | None = None) -> Planned:
    """Solve a scenario and re-check the result independently (a violation is a bug)."""
    problem = to_problem(scenario)
    solution = solve(problem, options, on_progress)
    document = schedule_document(scenario, problem, solution, now)
    violations = check(scenario, document)
    for v in violations:
        log.error("solver produced a schedule that breaks a hard rule: %s", v)
    return Planned(document, violations)


def write_schedule(document: dict[str, Any], out: Path) -> Path:
    """Write ``out/schedule.json`` atomically (a crash never leaves half a file)."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "schedule.json"
    tmp = out / ".schedule.json.tmp"
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def log_progress(progress: Progress) -> None:
    log.info("%-10s %6.1fs  objective %g  bound %g", progress.stage, progress.seconds,
             progress.objective, progress.bound)
