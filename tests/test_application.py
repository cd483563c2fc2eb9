"""The application layer: edits (events and variants) with every problem at once, settings from
the environment, the embedded demo as package data, and a wheel that runs anywhere."""

from __future__ import annotations

import email
import json
import subprocess
import sys
import venv
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.cli import main
from scheduler.documents import Schedule
from scheduler.edits import RemoveStaff, Set, edit_scenario
from scheduler.errors import InvalidInput
from scheduler.library import DATA_FILES, DEMO, data_text
from scheduler.model import Scenario
from scheduler.settings import Settings
from scheduler.usecases import load_input, read_events, read_variants
from scheduler.usecases.whatif import WhatIfOptions, local_pool, read_plan, run_whatif
from scheduler.validate import validate_scenario
from tests.conftest import ROOT, patients, scenario_dict, solve_data

NOW = "2026-12-07T07:00:00-05:00"


def _solved(tmp_path: Path) -> tuple[Path, Path]:
    scenario, doc = solve_data(scenario_dict(patients=patients(2)))
    s, p = tmp_path / "s.yaml", tmp_path / "prev.json"
    s.write_text(yaml.safe_dump(scenario.model_dump(mode="json", by_alias=True)))
    p.write_text(json.dumps(doc))
    return s, p


def _replan_cli(tmp_path: Path, events_text: str) -> int:
    s, p = _solved(tmp_path)
    (tmp_path / "ev.yaml").write_text(events_text)
    return main(["-q", "replan", str(s), str(p), str(tmp_path / "ev.yaml"), "--out",
                 str(tmp_path / "out"), "--now", NOW])


# ------------------------------------------------------------------ events: all problems at once
def test_event_with_an_impossible_date_names_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _replan_cli(tmp_path, "events:\n  - {type: staff_absent, staff: N1, date: 2026-13-40}\n")
    assert code == 2
    assert "events[0].date: '2026-13-40' is not a date written YYYY-MM-DD" in \
        capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_event_outside_the_horizon_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = _replan_cli(tmp_path, "events:\n  - {type: room_closed, room: R1, date: 2027-12-07}\n")
    assert code == 2
    assert ("events[0].date: 2027-12-07 is outside the horizon (2026-12-07 to 2026-12-07); "
            "check the year") in capsys.readouterr().err


def test_added_patient_reports_every_problem(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = _replan_cli(tmp_path, "events:\n  - {type: add_patient, patient: "
                                 "{id: P9, protocol: nope, sessions: -1}}\n"
                                 "  - {type: cancel, appointment: A-9999}\n")
    assert code == 2
    err = capsys.readouterr().err
    assert "invalid input: 3 problem(s)" in err
    assert "events[0].patient.protocol: unknown protocol 'nope' (known: esk)" in err
    assert "events[0].patient.sessions: input should be greater than or equal to 0" in err
    assert "events[1].appointment: no appointment 'A-9999' in the previous schedule" in err


def test_events_apply_in_order_and_see_each_other() -> None:
    scenario, doc = solve_data(scenario_dict(patients=patients(1)))
    events = read_events({"events": [
        {"type": "add_patient", "patient": {"id": "P9", "protocol": "esk"}},
        {"type": "add_sessions", "patient": "P9", "sessions": 1}]},
        scenario, Schedule.from_json(doc), Schedule.from_json(doc).appointments[0].start)
    assert [path for path, _ in events] == ["events[0]", "events[1]"]


# ------------------------------------------------------------------ variants
def _base() -> Scenario:
    data = scenario_dict(patients=patients(3, rems_enrolled=True))
    data["rooms"].append({"id": "R2", "features": ["recliner"], "chairs": 1})
    data["staff"][0]["max_patients"] = 2
    data["patients"][0]["preferred_staff"] = ["N1"]
    return validate_scenario(data)


def _variant(*edits: dict[str, Any]) -> Scenario:
    (variant,) = read_variants({"variants": [{"name": "v", "edits": list(edits)}]}, _base())
    return edit_scenario(_base(), variant.located())


def test_add_room_and_staff_like_an_existing_one() -> None:
    edited = _variant({"add_room": {"like": "R2", "id": "R9", "chairs": 2}},
                      {"add_staff": {"like": "N1", "id": "N9",
                                     "shifts": {"tue": [["08:00", "12:00"]]}}})
    r9 = next(r for r in edited.rooms if r.id == "R9")
    assert (r9.features, r9.chairs) == (["recliner"], 2)
    n9 = next(s for s in edited.staff if s.id == "N9")
    assert (n9.role, n9.qualifications, n9.max_patients) == ("nurse", ["spravato"], 2)
    assert set(n9.shifts) == {"mon", "tue"}  # mappings merge: Monday stays, Tuesday added


def test_remove_staff_drops_preferences_for_them() -> None:
    data = scenario_dict(patients=patients(1))
    data["staff"].append({**data["staff"][0], "id": "N2"})
    data["patients"][0]["preferred_staff"] = ["N2"]
    edited = edit_scenario(validate_scenario(data), [("e", RemoveStaff(remove_staff="N2"))])
    assert [s.id for s in edited.staff] == ["N1", "D1"]
    assert edited.patients[0].preferred_staff == []


def test_set_merges_clinic_hours_and_staff_fields() -> None:
    edited = _variant({"set": {"clinic": {"hours": {"sat": [["09:00", "14:00"]]}}}},
                      {"set": {"staff": "N1", "max_patients": 5}})
    assert set(edited.clinic.hours) == {"mon", "sat"}
    assert edited.staff[0].max_patients == 5


@pytest.mark.parametrize(("factor", "wanted"), [(2.0, 6), (1.34, 4), (0.34, 1), (1.0, 3)])
def test_scale_demand_adds_or_removes_patients_of_the_same_mix(factor: float,
                                                               wanted: int) -> None:
    edited = _variant({"scale_demand": factor})
    assert sum(p.sessions for p in edited.patients) == wanted
    assert {p.protocol for p in edited.patients} == {"esk"}
    assert len({p.id for p in edited.patients}) == len(edited.patients)


def test_variant_edits_naming_unknown_ids_name_the_variant_and_edit() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_variants({"variants": [
            {"name": "one more chair", "edits": [{"add_room": {"like": "R7", "id": "R9"}}]},
            {"name": "Tuesday nurse", "edits": [{"remove_staff": "N1"},
                                                {"set": {"staff": "N8", "max_patients": 3}},
                                                {"teleport": 1}]},
        ]}, _base())
    assert [str(i) for i in caught.value.issues] == [
        "variants[1] (Tuesday nurse).edits[2]: must be one of add_room, add_staff, "
        "remove_room, remove_staff, set, scale_demand, add_chairs, add_shift, remove_shift, "
        "add_hours, set_role, set_minutes, shift_mix, overbook, buffer (a mapping with one key)",
        "variants[0] (one more chair).edits[0].add_room.like: unknown room 'R7' "
        "(known: R1, R2)",
        "variants[1] (Tuesday nurse).edits[1].set.staff: unknown staff 'N8' (known: D1)",
    ]


def test_a_variant_that_leaves_an_invalid_scenario_says_so() -> None:
    with pytest.raises(InvalidInput) as caught:
        _variant({"set": {"staff": "N1", "max_patients": -1}})
    (issue,) = caught.value.issues
    assert issue.path == "after variants[0] (v).edits[0]: staff[0].max_patients"


def test_variants_are_solved_base_first_then_each_variant() -> None:
    plan = read_plan({"variants": [{"name": "no second room",
                                    "edits": [{"remove_room": "R2"}]}]}, _base())
    result = run_whatif(_base(), plan, WhatIfOptions(time_limit=3, headroom=False,
                                                     bottleneck=False), local_pool(1))
    assert [o.name for o in result.outcomes] == ["base", "no second room"]
    assert all(o.violations == 0 for o in result.outcomes)
    assert [r.id for r in result.outcomes[1].scenario.rooms] == ["R1"]


# ------------------------------------------------------------------ settings
def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("CHAIRTIME_TIME_LIMIT", "7.5")
    monkeypatch.setenv("CHAIRTIME_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.time_limit == 7.5
    assert settings.database == f"sqlite:///{tmp_path / 'chairtime.db'}"


def test_a_bad_setting_is_invalid_input_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHAIRTIME_TIME_LIMIT", "soon")
    assert main(["solve", "--out", str(tmp_path)]) == 2
    assert "CHAIRTIME_TIME_LIMIT:" in capsys.readouterr().err


# ------------------------------------------------------------------ the demo as package data
def test_the_embedded_demo_loads_without_a_path() -> None:
    demo = load_input()
    assert demo.clinic.name == "Riverside Ketamine Clinic"
    assert data_text(DEMO) == (ROOT / "config" / "demo.yaml").read_text(encoding="utf-8")


def test_demo_command_copies_the_embedded_files(tmp_path: Path) -> None:
    assert main(["-q", "demo", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DATA_FILES)


def _dependencies(wheel: Path, into: Path) -> None:
    """Links in ``into`` to this interpreter's copies of the wheel's declared dependencies (and
    theirs, extras asked for included): those and nothing else, so an import the wheel does not
    declare fails. Whichever environment runs the tests (a venv or not) supplies them."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        declared = email.message_from_bytes(z.read(name)).get_all("Requires-Dist") or []
    todo, seen = [(Requirement(r), "") for r in declared], set()
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        for wanted in ("", *requirement.extras):
            if (canonicalize_name(requirement.name), wanted) in seen:
                continue
            seen.add((canonicalize_name(requirement.name), wanted))
            found = distribution(requirement.name)
            assert found.files is not None, f"{requirement.name} lists no files (no RECORD)"
            for top in {f.parts[0] for f in found.files} - {"..", "__pycache__"}:
                if not (into / top).exists():
                    (into / top).symlink_to(Path(str(found.locate_file(top))))
            todo += [(Requirement(r), wanted) for r in found.requires or []]


@pytest.mark.slow
@pytest.mark.solve
def test_a_wheel_installed_outside_the_repo_solves_the_demo(tmp_path: Path) -> None:
    """The wheel carries the demo and declares what it needs: built here (``python -m build``),
    installed in a fresh venv that sees only its declared dependencies (``pip check`` agrees),
    run from an empty folder."""
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("chairtime-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"scheduler/data/{name}" for name in DATA_FILES} <= set(names)
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = tmp_path / "deps"
    deps.mkdir()
    _dependencies(wheel, deps)
    (Path(site) / "chairtime-deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    for pip in (["install", "--quiet", "--no-deps", str(wheel)], ["check"]):
        done = subprocess.run([python, "-m", "pip", *pip], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    where = tmp_path / "elsewhere"
    where.mkdir()
    located = subprocess.run([python, "-c", "import scheduler; print(scheduler.__file__)"],
                             cwd=where, check=True, capture_output=True, text=True)
    assert located.stdout.startswith(str(env))  # the wheel's copy, not the repository's
    run = subprocess.run([env / "bin" / "chairtime", "-q", "solve", "--out", "DIR",
                          "--time-limit", "3"], cwd=where, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    schedule = json.loads((where / "DIR" / "schedule.json").read_text(encoding="utf-8"))
    assert schedule["scenario"] == "Riverside Ketamine Clinic"
    assert len(schedule["appointments"]) > 100


def test_set_can_change_a_patients_protocol() -> None:
    data = scenario_dict(patients=patients(1))
    data["protocols"].append({**data["protocols"][0], "id": "esk2"})
    edited = edit_scenario(validate_scenario(data), [
        ("e", Set(set={"patient": "P01", "protocol": "esk2"}))])
    assert edited.patients[0].protocol == "esk2"


def test_set_minutes_reaches_revised_days_too() -> None:
    data = scenario_dict(patients=patients(1))
    phases = [{**ph, "minutes": ph["minutes"] + 5} for ph in data["protocols"][0]["phases"]]
    data["protocols"][0]["revisions"] = [{"from": "2026-12-07", "phases": phases}]
    (variant,) = read_variants({"variants": [{"name": "v", "edits": [
        {"set_minutes": {"protocol": "esk", "minutes": {"intake": 20}}}]}]},
        validate_scenario(data))
    edited = edit_scenario(validate_scenario(data), variant.located())
    assert edited.protocols[0].on(date(2026, 12, 7))[0][0].minutes == 20
