"""Issue 21, texts: names and texts with control characters are refused at validation (exit 2,
HTTP 422, naming each field, all at once), and CSV exports write no cell a spreadsheet would run
as a formula. (That feeds render every text safely regardless, and that room and clinic feeds
carry nothing of the treatment by default, is in tests/test_feeds.py.)"""

from __future__ import annotations

import copy
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from scheduler.cli import main
from scheduler.documents import Schedule
from scheduler.errors import InvalidInput
from scheduler.model import Scenario
from scheduler.text import SafeLines, SafeText, control_character, csv_cell
from scheduler.usecases import read_variants
from scheduler.usecases.publish import write_rems
from scheduler.validate import load_scenario, validate_scenario
from tests.conftest import TINY, solve_data
from tests.test_feeds_http import feeds_service
from tests.test_service import Service, small_clinic

FORMULA = '=HYPERLINK("http://x","y")'


def _tiny() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    return data


def _with_control_characters(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["clinic"]["name"] = "Tiny\rClinic"
    data["clinic"]["address"] = "1 Main St\nSpringfield"  # several lines: allowed here
    data["clinic"]["arrival_instructions"] = "Ring\x00the bell"
    data["rooms"][1]["name"] = "Bay\n2"
    data["staff"][0]["name"] = "Nurse\tOne"
    data["patients"][0]["name"] = "Pat\x1b[2JExample"
    data["staff"][1]["name"] = "Doctor\u2028One"
    data["rooms"][0]["features"] = ["recliner", "iv-pump\x85"]
    return data


EXPECTED = [
    "clinic.name: contains a control character (U+000D, a line break): a name is one line",
    "clinic.arrival_instructions: contains a control character (U+0000)",
    "rooms[0].features[1]: contains a control character (U+0085, a line break): a name is one "
    "line",
    "rooms[1].name: contains a control character (U+000A, a line break): a name is one line",
    "staff[0].name: contains a control character (U+0009, a tab)",
    "staff[1].name: contains a control character (U+2028, a line break): a name is one line",
    "patients[0].name: contains a control character (U+001B)",
]


# ----------------------------------------------------------------------------- refused
def test_a_newline_in_a_room_staff_or_clinic_name_is_refused_naming_each_field() -> None:
    """Issue 21: a newline in a room, staff or clinic name passed validation and then made
    publishing fail (icalendar refuses a raw LF). Every name and short text refuses control
    characters, each problem with its field path, all at once; a multi-line text (an address,
    arrival instructions) allows line feeds and nothing else."""
    with pytest.raises(InvalidInput) as caught:
        validate_scenario(_with_control_characters(_tiny()))
    assert [str(i) for i in caught.value.issues] == EXPECTED
    fine = _tiny()
    fine["clinic"]["address"] = "1 Main St\nSpringfield"
    assert validate_scenario(fine).clinic.address == "1 Main St\nSpringfield"


def test_a_control_character_in_an_id_or_a_time_is_refused_and_shown_escaped() -> None:
    """Ids and clock times refused a control character already, but their messages printed it
    raw (a message broken over two lines); and a trailing newline passed as a clock time."""
    data = _tiny()
    data["rooms"][0]["id"] = "R1\n"
    data["clinic"]["hours"]["mon"] = [["08:00\n", "17:00"]]
    with pytest.raises(InvalidInput) as caught:
        validate_scenario(data)
    messages = [str(i) for i in caught.value.issues]
    assert "clinic.hours.mon[0][0]: '08:00\\n' is not a time of day written HH:MM (00:00 to " \
           "24:00)" in messages
    assert any(m.startswith("rooms[0].id: 'R1\\n' is not a valid id") for m in messages)
    assert all("\n" not in m for m in messages)


def test_a_control_character_in_a_name_exits_2_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`solve` on such a scenario exits 2 with one line per problem, writes nothing."""
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(_with_control_characters(_tiny())), encoding="utf-8")
    code = main(["-q", "solve", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"invalid input: {len(EXPECTED)} problem(s)" in err
    for line in EXPECTED:
        assert line in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    with feeds_service(database_url, tmp_path) as service:
        yield service


def test_a_newline_in_a_name_is_a_422_naming_the_field_over_http(service: Service) -> None:
    """The same through the API, on both databases: the whole scenario, one room, and a
    scenario file are each a 422 naming every field, and nothing is stored."""
    before = service.call("GET", "/clinics/1/scenario").json()["version"]
    data = small_clinic()
    data["clinic"]["name"] = "Small\nClinic"
    data["rooms"][1]["name"] = "Bay\r2"
    data["staff"][0]["name"] = "Nurse\x00One"
    answer = service.call("PUT", "/clinics/1/scenario", "manager", json={"scenario": data})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [
        {"path": "clinic.name", "message": "contains a control character (U+000A, a line "
                                           "break): a name is one line"},
        {"path": "rooms[1].name", "message": "contains a control character (U+000D, a line "
                                             "break): a name is one line"},
        {"path": "staff[0].name", "message": "contains a control character (U+0000)"}]
    room = service.call("PUT", "/clinics/1/rooms/R2", "manager",
                        json={"id": "R2", "name": "Bay\n2", "features": ["recliner"]})
    assert room.status_code == 422, room.text
    assert [d["path"] for d in room.json()["detail"]] == ["rooms[1].name"]
    upload = service.call("POST", "/clinics/1/scenario/file", "manager", files={
        "file": ("clinic.yaml", yaml.safe_dump({**small_clinic(), "clinic": {
            **small_clinic()["clinic"], "name": "Small\x1bClinic"}}).encode(), "text/yaml")})
    assert upload.status_code == 422, upload.text
    assert [d["path"] for d in upload.json()["detail"]] == ["clinic.name"]
    assert service.call("GET", "/clinics/1/scenario").json()["version"] == before


def test_a_control_character_in_a_variant_name_is_refused() -> None:
    """A variant's name goes into comparison.csv and the report: one line, like any name."""
    scenario = load_scenario(TINY)
    with pytest.raises(InvalidInput) as caught:
        read_variants({"variants": [{"name": "one more\nchair", "edits": []}]}, scenario)
    assert [str(i) for i in caught.value.issues] == [
        "variants[0].name: contains a control character (U+000A, a line break): a name is "
        "one line"]


def test_safe_text_refuses_every_control_character_and_says_which() -> None:
    """The type a clinic's name takes anywhere (the API's clinic bodies included): every C0
    and C1 control, DEL, a lone surrogate and U+2028/U+2029 are refused; SafeLines allows the
    line feed alone. The JSON-schema pattern each declares accepts exactly the same."""
    one_line, lines = TypeAdapter(SafeText), TypeAdapter(SafeLines)
    refused = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0xD800]
    for code in refused:
        with pytest.raises(ValidationError, match=f"U\\+{code:04X}"):
            one_line.validate_python(f"a{chr(code)}b")
        if code != 0x0A:
            with pytest.raises(ValidationError):
                lines.validate_python(f"a{chr(code)}b")
    assert lines.validate_python("a\nb") == "a\nb"
    for fine in ("Room 1", "Praxis Müller–Øresund", "診療所", "🙂 ok", "\u200dzwj", "a\u00a0b"):
        assert one_line.validate_python(fine) == fine
    pattern = one_line.json_schema()["pattern"]
    multi = lines.json_schema()["pattern"]
    for code in [*range(0x3000), *range(0xE000, 0x10000), 0x1F642, 0x10FFFF]:
        ch = chr(code)
        assert (re.fullmatch(pattern, ch) is None) == (control_character(ch) is not None), code
        assert (re.fullmatch(multi, ch) is None) == \
            (control_character(ch, lines=True) is not None), code


# ----------------------------------------------------------------------------- CSV
def test_comparison_csv_writes_hyperlink_variant_names_as_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: comparison.csv wrote a variant named =HYPERLINK(...) as a formula, which a
    spreadsheet runs on opening. Text cells that start like a formula (=, +, -, @, tab, CR)
    get a leading apostrophe; numbers stay numbers."""
    variants = tmp_path / "variants.yaml"
    variants.write_text(yaml.safe_dump({"variants": [
        {"name": FORMULA, "edits": [{"add_room": {"like": "R1", "id": "R9"}}]},
        {"name": "-2 chairs", "edits": [{"set": {"staff": "N1", "max_patients": 1}}]},
        {"name": "@SUM(A1)", "edits": [{"scale_demand": 1.0}]}]}), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["-q", "whatif", str(TINY), str(variants), "--out", str(out), "--time-limit",
                 "2", "--processes", "1", "--no-headroom", "--no-bottleneck"])
    assert code == 0, capsys.readouterr().err
    text = (out / "comparison.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["variant"] for r in rows] == ["base", "'" + FORMULA, "'-2 chairs", "'@SUM(A1)"]
    for cell in (c for row in csv.reader(io.StringIO(text)) for c in row):
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):  # only our numbers start so
            float(cell)
    assert re.fullmatch(r"-\d+", rows[2]["placed_vs_base"])  # a negative number stays one


def test_rems_csv_writes_no_formula(tmp_path: Path) -> None:
    """rems.csv goes through the same writer: a cell that starts like a formula is text."""
    _, doc = solve_data(_tiny())
    doc = copy.deepcopy(doc)
    doc["appointments"][0]["patient"] = FORMULA
    doc["appointments"][0]["rems_form_due"] = "2026-12-14"
    path = write_rems(tmp_path, Schedule.from_json(doc))
    assert path is not None
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert rows[0]["patient"] == "'" + FORMULA
    assert rows[0]["session"][:1].isdigit()


def test_csv_cell_escapes_text_that_starts_a_formula_and_leaves_numbers() -> None:
    cells = ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "\n", "base", "a=b", "", -3, 0.5, None]
    assert [csv_cell(c) for c in cells] == [
        "'=1+1", "'+1", "'-1", "'@A1", "'\t=1", "'\r=1", "'\n", "base", "a=b", "", -3, 0.5,
        None]


def test_the_scenario_schema_declares_the_text_rules() -> None:
    """The OpenAPI document says what the server accepts: a name's schema has the pattern."""
    schema = Scenario.model_json_schema()
    room = schema["$defs"]["RoomSpec"]["properties"]["name"]
    assert any("pattern" in option for option in room["anyOf"])
