"""Solve many variants of one scenario (what-if analysis): the base, then each variant's edits
applied and solved, side by side; in parallel on local processes when asked."""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from scheduler.edits import Variant, edit_scenario
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.usecases.plan import Planned, plan_week
from solver import Options

log = logging.getLogger(__name__)

BASE = "base"


@dataclass(frozen=True, slots=True)
class VariantResult:
    name: str
    scenario: Scenario
    planned: Planned


def _solve(name: str, scenario: Scenario, options: Options) -> VariantResult:
    return VariantResult(name, scenario, plan_week(scenario, options))


def solve_variants(base: Scenario, variants: list[Variant], options: Options,
                   processes: int = 1) -> list[VariantResult]:
    """The base (named ``base``) and every variant, solved with ``options``, in that order.

    Every variant's edits are applied first, so a bad one is reported (InvalidInput, naming the
    variant and the edit) before any solve starts. With ``processes`` > 1 the solves run in a
    local process pool; each then searches with one worker, so the results do not depend on
    how many run at once.
    """
    scenarios, issues = [(BASE, base)], []
    for v in variants:
        try:
            scenarios.append((v.name, edit_scenario(base, v.located())))
        except InvalidInput as exc:
            issues += exc.issues
    if issues:
        raise InvalidInput(issues)
    if processes <= 1:
        return [_solve(name, s, options) for name, s in scenarios]
    one = replace(options, workers=1)
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(_solve, name, s, one) for name, s in scenarios]
        return [f.result() for f in futures]
