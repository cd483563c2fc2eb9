"""The benchmark's own parts: generated clinics solve and pass check, greedy passes check,
and the LP relaxation is a true upper bound (a bound below a feasible value is a bug)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.generate import Spec, generate, suite
from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import schedule_from_solution
from scheduler.validate import validate_scenario
from solver import Options, capacity_bound, greedy_solve, solve
from solver.bound import lp_bound

SMALL = [Spec("S", limit, load, seed=seed)
         for limit in ("room", "staff") for load in (0.8, 1.15) for seed in (1, 2)]


def test_generator_is_deterministic_and_valid() -> None:
    assert generate(Spec("M", "staff", 1.0)) == generate(Spec("M", "staff", 1.0))
    assert generate(Spec("M", "staff", 1.0, seed=2)) != generate(Spec("M", "staff", 1.0))
    scenario = validate_scenario(generate(Spec("L", "room", 1.0)))
    assert len(scenario.rooms) == 18 and 300 <= len(scenario.patients) <= 360
    assert any(r.chairs == 2 for r in scenario.rooms)
    assert any(r.hours is not None for r in scenario.rooms)
    assert any(len(s.shifts.get("mon", [])) == 2 for s in scenario.staff)
    assert any(p.availability is not None for p in scenario.patients)
    assert len(suite()) > len(suite(quick=True)) >= 4


@pytest.mark.parametrize("spec", SMALL, ids=[s.name + f"#{s.seed}" for s in SMALL])
@pytest.mark.solve
def test_small_instances_solve_greedy_is_valid_and_lp_bounds_both(spec: Spec) -> None:
    scenario = validate_scenario(generate(spec))
    problem = to_problem(scenario)
    greedy = greedy_solve(problem)
    assert check(scenario, schedule_from_solution(scenario, problem, greedy).to_json()) == []
    solution = solve(problem, Options(time_limit=1, workers=2, soft_goals=False))
    assert check(scenario, schedule_from_solution(scenario, problem, solution).to_json()) == []
    assert solution.objective >= greedy.objective
    for per_person in (False, True):
        lp = lp_bound(problem, per_person=per_person)
        assert lp.status == "OPTIMAL"
        assert lp.bound >= solution.objective - 1e-6
        assert lp.bound <= capacity_bound(problem) + 1e-6
    if solution.status == "OPTIMAL":
        assert solution.bound == solution.objective <= lp.bound + 1e-6


@pytest.mark.solve
@pytest.mark.slow
def test_network_whatif_on_three_small_sites() -> None:
    """``python -m bench network-whatif`` in miniature, inline: one row per site with the base
    and both variants, every schedule passes the checker and none is below its greedy start."""
    from bench.network_whatif import CHAIR, NURSE, network_table, run_network, site_specs
    from scheduler.usecases.whatif import BASE, local_pool

    results = run_network(site_specs(3, "S"), 1.0, local_pool(1))
    assert [r.site for r in results] == ["S-room-1.00#100", "S-staff-1.00#101",
                                         "S-room-1.00#102"]
    for r in results:
        assert [v.name for v in r.variants] == [BASE, CHAIR, NURSE]
        assert all(v.violations == 0 and v.weighted >= v.greedy_weighted for v in r.variants)
        best, gain = r.best()
        placed = {v.name: v.placed for v in r.variants}
        assert gain == placed[best] - placed[BASE] >= 0
        assert gain == max(placed.values()) - placed[BASE]
    table = network_table(results, "t")
    assert table.row_count == 4 and len(table.columns) == 9


@pytest.mark.solve
def test_measure_names_its_bound_and_keeps_the_best_known(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """One instance measured twice: the row says which bound is best and how far the value is
    from the best any run found; the best-known file keeps the larger value."""
    from bench import run

    monkeypatch.setattr(run, "BEST_KNOWN", tmp_path / "best_known.json")
    spec = Spec("S", "staff", 0.8, seed=3)
    row = run.measure(spec, 3.0, workers=1)
    assert row.valid and row.bound_by in ("LP", "CP-SAT", "demand")
    assert row.weighted <= row.best_bound <= row.capacity
    assert row.best_known == row.weighted and row.known_gap_pct == 0
    assert row.first_s <= row.solve_s
    run.remember(spec.name, row.weighted + 5)
    assert run.best_known()[spec.name] == row.weighted + 5
    assert run.remember(spec.name, row.weighted) == row.weighted + 5


@pytest.mark.solve
@pytest.mark.slow
def test_measure_with_whole_sessions_reports_the_tighter_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--mip``: the relaxation in whole sessions is measured beside the LP; it is never above
    the LP nor below the schedule, and when it is the best bound the row names it."""
    from bench import run

    monkeypatch.setattr(run, "BEST_KNOWN", tmp_path / "best_known.json")
    row = run.measure(Spec("S", "room", 0.8, seed=6), 3.0, workers=1, mip=30.0)
    assert row.weighted - 1e-6 <= row.mip_bound <= min(row.lp_bound, row.lp_person) + 1e-6
    assert row.best_bound <= row.mip_bound + 1e-6
    if row.mip_bound < min(row.lp_bound, row.lp_person, row.cp_bound):
        assert row.bound_by == "MIP"
    no_mip = run.measure(Spec("S", "room", 0.8, seed=6), 3.0, workers=1)
    assert no_mip.mip_bound == float("inf")


@pytest.mark.solve
def test_measure_prices_the_per_person_lp_by_columns_above_the_cut_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ``PERSON_LP_STARTS`` (here every week) a staff-limited week's per-person LP comes
    from column generation: the whole per-person LP's value, its seconds reported."""
    from bench import run

    monkeypatch.setattr(run, "BEST_KNOWN", tmp_path / "best_known.json")
    monkeypatch.setattr(run, "PERSON_LP_STARTS", 0)
    spec = Spec("S", "staff", 1.15)
    row = run.measure(spec, 2.0, workers=1)
    whole = lp_bound(to_problem(validate_scenario(generate(spec))), per_person=True)
    assert row.lp_person == pytest.approx(round(whole.bound, 1))
    assert row.weighted - 1e-6 <= row.lp_person and row.lp_person_s > 0
    assert row.best_bound <= row.lp_person + 1e-6
