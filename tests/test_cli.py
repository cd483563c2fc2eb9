"""The command line as outside checkers use it: solve, check, schema, CSV patients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.cli import main
from tests.conftest import TINY


@pytest.fixture
def solved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code = main(["-q", "solve", str(TINY), "--out", str(tmp_path), "--time-limit", "5",
                 "--json", "--seed", "3", "--workers", "2"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kpis"]["placed"] == 6
    return tmp_path / "schedule.json"


def test_solve_writes_contract_schedule(solved: Path) -> None:
    doc = json.loads(solved.read_text())
    assert doc["version"] == 1 and doc["scenario"] == "Tiny Clinic"
    assert doc["generated_at"].endswith("Z")
    assert set(doc["solver"]) >= {"status", "seconds", "objective", "bound"}
    for a in doc["appointments"]:
        assert set(a) >= {"id", "patient", "protocol", "room", "staff", "start", "end", "phases"}
    assert len({a["id"] for a in doc["appointments"]}) == len(doc["appointments"])
    assert doc["kpis"]["wanted"] == doc["kpis"]["placed"] == 6


def test_check_valid_tampered_and_unreadable(solved: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(TINY), str(solved)]) == 0
    assert "valid" in capsys.readouterr().out
    doc = json.loads(solved.read_text())
    doc["appointments"][1]["room"] = "R2"
    doc["appointments"][1]["staff"] = {"nurse": "D1"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["check", str(TINY), str(bad), "--json"]) == 3
    violations = json.loads(capsys.readouterr().out)
    assert {v["rule"] for v in violations} >= {"staff"}
    assert all(v["appointment"] == doc["appointments"][1]["id"] for v in violations
               if v["rule"] == "staff")
    bad.write_text("{not json")
    assert main(["check", str(TINY), str(bad)]) == 2
    bad.write_text(json.dumps({"appointments": [{"id": "x"}]}))
    assert main(["check", str(TINY), str(bad)]) == 2


def test_check_lines_name_rule_and_appointment(solved: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(solved.read_text())
    doc["appointments"].append(dict(doc["appointments"][0], id="A-0999"))
    bad = tmp_path / "dup.json"
    bad.write_text(json.dumps(doc))
    assert main(["check", str(TINY), str(bad)]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("patients A-0999:") for ln in lines)
    assert any(ln.startswith("staff A-0999:") for ln in lines)  # same nurse, hands-on twice


def test_schema_is_a_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert {"clinic", "horizon", "protocols", "rooms", "staff", "patients", "fixed"} <= set(
        schema["properties"])
    import jsonschema
    import yaml

    jsonschema.validate(json.loads(json.dumps(yaml.safe_load(TINY.read_text()),
                                              default=str)), schema)


CSV_OK = """id,name,protocol,sessions,min_gap_days,priority,preferred_staff,availability
P001,Pat One,esk-84,1,1,3,N1,mon 09:00-15:00; tue 09:00-12:00 13:00-17:00
P002,,iv-ketamine,1,,,,
"""

CSV_BAD = """id,protocol,sessions,availability
P001,esk-84,1,
P002,esk-85,one,
P003,iv-ketamine,1,mon 9-12
"""


def test_patients_from_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "patients.csv"
    csv.write_text(CSV_OK)
    code = main(["-q", "solve", str(TINY), "--patients", str(csv), "--out", str(tmp_path),
                 "--time-limit", "3", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kpis"]["wanted"] == 2
    assert main(["check", str(TINY), str(tmp_path / "schedule.json"),
                 "--patients", str(csv)]) == 0


def test_bad_csv_rows_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "patients.csv"
    csv.write_text(CSV_BAD)
    assert main(["solve", str(TINY), "--patients", str(csv), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "patients.csv row 4.availability: '9-12' is not written HH:MM-HH:MM" in err
    assert "patients.csv row 3.protocol: unknown protocol 'esk-85'" in err
    assert "patients.csv row 3.sessions" in err


def test_solve_writes_feeds_and_feeds_command_continues_them(
        solved: Path, tmp_path: Path) -> None:
    feeds = solved.parent / "feeds"
    names = {p.name for p in feeds.iterdir()}
    assert {"clinic.ics", "patient-P001.ics", "staff-N1.ics", "room-R1.ics",
            "state.json"} <= names
    before = (feeds / "patient-P003.ics").read_bytes()
    doc = json.loads(solved.read_text())
    doc["appointments"] = [a for a in doc["appointments"] if a["patient"] != "P003"]
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(doc))
    assert main(["feeds", str(TINY), str(changed), "--out", str(solved.parent),
                 "--now", "2026-12-02T08:00:00-05:00"]) == 0
    after = (feeds / "patient-P003.ics").read_bytes()
    assert after != before
    assert after.count(b"STATUS:CANCELLED") == 2
    assert main(["feeds", str(TINY), str(changed), "--out", str(solved.parent),
                 "--now", "2026-12-02T09:00:00"]) == 2  # no UTC offset
