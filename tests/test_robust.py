"""A robust plan (``solve --risk``): room kept before closing and shift ends on the days the
simulation says run late, what it costs, and the schedule still keeps every hard rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scheduler.check import check
from scheduler.cli import main
from scheduler.usecases.robust import plan_robust
from scheduler.usecases.simulate import Delay, SimulationSettings
from scheduler.validate import validate_scenario
from solver import Options
from tests.conftest import patients, scenario_dict

pytestmark = pytest.mark.solve

CERTAIN_OVERRUN = SimulationSettings.certain().model_copy(
    update={"overrun": Delay(share=1.0, mean_minutes=20, max_minutes=20, shape="fixed")})
"""Every session runs 20 minutes over; nothing else happens."""


def _late_patient() -> dict[str, Any]:
    """One session that can only end at closing (13:00): the patient comes from 10:30."""
    data = scenario_dict(patients=patients(1, availability={"mon": [["10:30", "13:00"]]}))
    data["clinic"]["hours"] = {"mon": [["08:00", "13:00"]]}
    for person in data["staff"]:
        person["shifts"] = {"mon": [["08:00", "13:00"]]}
    return data


def test_a_day_that_must_overrun_is_planned_with_room_and_loses_what_no_longer_fits() -> None:
    scenario = validate_scenario(_late_patient())
    robust = plan_robust(scenario, Options(time_limit=2, workers=1), risk=0.5,
                         settings=CERTAIN_OVERRUN, runs=50)
    # tight: the session ends at 13:00 and every replay runs 20 min past it (> 15 min)
    assert robust.tight_placed == 1
    assert list(robust.before.values()) == [1.0]
    # with 15 minutes kept free the session no longer fits the patient's window: a plan of
    # nothing has no overtime, and the target is met at the cost of the one session
    assert robust.met and robust.placed == 0
    assert robust.steps[robust.kept].buffers == {"mon": 15}
    assert check(scenario, robust.planned.schedule.to_json()) == []


def test_room_before_closing_keeps_the_sessions_when_the_day_has_it() -> None:
    data = _late_patient()
    data["patients"][0]["availability"] = {"mon": [["10:00", "13:00"]]}
    scenario = validate_scenario(data)
    robust = plan_robust(scenario, Options(time_limit=2, workers=1), risk=0.5,
                         settings=CERTAIN_OVERRUN, runs=50)
    assert robust.met and robust.placed == robust.tight_placed == 1
    assert max(robust.after.values()) == 0.0
    assert check(scenario, robust.planned.schedule.to_json()) == []


def test_solve_risk_on_the_command_line_says_what_it_cost(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    source = tmp_path / "scenario.json"
    source.write_text(json.dumps(_late_patient()), encoding="utf-8")
    assert main(["-q", "solve", str(source), "--out", str(tmp_path / "out"), "--time-limit",
                 "2", "--risk", "0.5", "--runs", "200", "--json"]) == 0
    risk = json.loads(capsys.readouterr().out)["risk"]
    assert risk["target"] == 0.5 and risk["placed_tight"] >= risk["placed"]
    assert set(risk) >= {"met", "before", "after", "steps"}
    assert main(["-q", "solve", str(source), "--out", str(tmp_path / "bad"), "--risk",
                 "1.5"]) == 2
    assert "--risk: 1.5 is not a chance between 0 and 1" in capsys.readouterr().err
