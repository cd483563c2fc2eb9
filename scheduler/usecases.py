"""What the command line, and later the HTTP API and jobs, do: each a plain function."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

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


def _atomic(target: Path, text: str) -> Path:
    """Write ``target`` via a temporary file and a rename: never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def write_json(target: Path, data: Any) -> Path:
    return _atomic(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_yaml(target: Path, data: Any) -> Path:
    return _atomic(target, yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                                          default_flow_style=None, width=100))


def write_schedule(document: dict[str, Any], out: Path) -> Path:
    """Write ``out/schedule.json`` atomically (a crash never leaves half a file)."""
    return write_json(out / "schedule.json", document)


def log_progress(progress: Progress) -> None:
    """One line per better schedule: the placement value and its bound, or a later stage's
    own objective (weighted penalty, moves), whose bound says little to a reader."""
    if progress.stage == "placement":
        log.info("%-12s %6.1fs  weighted %g  bound %g", progress.stage, progress.seconds,
                 progress.objective, progress.bound)
    else:
        log.info("%-12s %6.1fs  objective %g", progress.stage, progress.seconds,
                 progress.objective)
