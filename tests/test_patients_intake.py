"""The patient fields of issue 23, rule by rule as kept/broken pairs on the smallest case: the
model's contact, REMS enrollment and discharge; the checker and the plan leaving a discharged
patient out; the search that finds words in any order; the intake form read back into a
patient; and the EHR export's CSV reader (header synonyms, extra columns, dates by the clinic's
format, an ambiguous one named by its row)."""

from __future__ import annotations

import copy
import io
from datetime import date
from typing import Any

import pytest

from scheduler.check import check
from scheduler.compile import to_problem
from scheduler.documents import Schedule
from scheduler.errors import InvalidInput, Issue
from scheduler.model import PatientSpec
from scheduler.pages.patient_form import form_of, form_paths, item_of, next_id
from scheduler.patients_csv import read_date, read_table
from scheduler.service.notices import _contact
from scheduler.service.patients import matches
from scheduler.usecases.patients_import import preview_patients
from scheduler.usecases.slots import find_slots
from scheduler.validate import validate_scenario
from tests.conftest import patients, scenario_dict, solve_data


def problems(data: dict[str, object]) -> dict[str, str]:
    try:
        validate_scenario(data)
    except InvalidInput as exc:
        return {i.path: i.message for i in exc.issues}
    return {}


# ----------------------------------------------------------------------------- the model
def test_a_scenario_without_the_new_fields_is_as_valid_as_before() -> None:
    assert problems(scenario_dict(patients=patients(2, rems_enrolled=True))) == {}


@pytest.mark.parametrize(("contact", "broken"), [
    ({"phone": "+1 (555) 010-2000", "email": "gia@example.org"}, None),
    ({"phone": "555 010 2000 ext. 12"}, None),
    ({"phone": "call me"}, "patients[0].contact.phone"),
    ({"email": "gia(at)example"}, "patients[0].contact.email"),
    ({"email": "gia@localhost"}, "patients[0].contact.email"),
])
def test_contact_phone_and_email(contact: dict[str, str], broken: str | None) -> None:
    found = problems(scenario_dict(patients=patients(1, rems_enrolled=True, contact=contact)))
    assert set(found) == ({broken} if broken else set())


def test_a_rems_number_means_enrolled_and_cannot_stand_beside_not_enrolled() -> None:
    kept = validate_scenario(scenario_dict(patients=patients(
        1, rems={"number": "RP-1", "enrolled_on": "2026-11-30"})))
    assert kept.patients[0].rems_enrolled is True
    assert problems(scenario_dict(patients=patients(1, rems_enrolled=False,
                                                    rems={"number": "RP-1"}))) == {
        "patients[0].rems_enrolled": "is false, but a REMS enrollment number is recorded "
                                     "(RP-1); remove one of them"}


def test_a_date_of_birth_after_the_horizon_is_refused() -> None:
    assert problems(scenario_dict(patients=patients(1, rems_enrolled=True,
                                                    date_of_birth="1980-03-15"))) == {}
    assert set(problems(scenario_dict(patients=patients(1, rems_enrolled=True,
                                                        date_of_birth="2027-01-01")))) == {
        "patients[0].date_of_birth"}


def test_notices_reach_a_patient_by_the_contact_field() -> None:
    spec = PatientSpec(id="P1", protocol="esk", contact={"phone": "555 010 2000",
                                                         "email": "a@b.org"})
    assert _contact(spec) == "555 010 2000, a@b.org"
    assert _contact(PatientSpec(id="P1", protocol="esk")) is None


# ----------------------------------------------------------------------------- discharge
@pytest.mark.solve
def test_a_discharged_patient_is_left_out_of_the_plan_and_the_checker_refuses_their_session(
        ) -> None:
    data = scenario_dict(patients=patients(2, rems_enrolled=True))
    _, document = solve_data(data)
    assert {a["patient"] for a in document["appointments"]} == {"P01", "P02"}
    out = copy.deepcopy(data)
    out["patients"][1]["discharged"] = "2026-12-07"  # the horizon's first day
    gone = validate_scenario(out)
    assert [(p.id, p.sessions) for p in to_problem(gone).patients] == [("P01", 1), ("P02", 0)]
    assert [str(v) for v in check(gone, document) if v.rule == "patients"] == [
        f"patients {a['id']}: P02 was discharged on Mon 07 Dec 2026"
        for a in document["appointments"] if a["patient"] == "P02"]
    later = copy.deepcopy(data)
    later["patients"][1]["discharged"] = "2026-12-08"  # after the session: nothing breaks
    assert check(validate_scenario(later), document) == []
    assert [p.sessions for p in to_problem(validate_scenario(later)).patients] == [1, 1]
    _, replanned = solve_data(out)
    assert {a["patient"] for a in replanned["appointments"]} == {"P01"}
    assert replanned["unplaced"] == []
    kept = {**replanned, "appointments": []}  # a free week: still no slot after the discharge
    assert find_slots(gone, Schedule.from_json(kept), "P02") == []
    assert find_slots(validate_scenario(later), Schedule.from_json(kept), "P02") != []


def test_a_fixed_session_on_or_after_the_discharge_is_refused() -> None:
    fixed = [{"id": "F1", "patient": "P01", "start": "2026-12-07T09:00", "room": "R1",
              "staff": {"nurse": "N1"}}]
    kept = scenario_dict(patients=patients(1, rems_enrolled=True, discharged="2026-12-08"),
                         fixed=fixed)
    assert problems(kept) == {}
    broken = scenario_dict(patients=patients(1, rems_enrolled=True, discharged="2026-12-07"),
                           fixed=fixed)
    assert problems(broken) == {"fixed[0].patient": "P01 was discharged on 2026-12-07; this "
                                                    "session is on or after it"}


# ----------------------------------------------------------------------------- search
@pytest.mark.parametrize(("text", "found"), [
    ("hayes gia", True), ("Gia Hayes", True), ("GIA", True), ("  hay  ", True), ("p0", True),
    ("", True), ("zoe", False), ("hayes tom", False), ("giahayes", False)])
def test_search_finds_words_in_any_order_and_any_case(text: str, found: bool) -> None:
    assert matches(PatientSpec(id="P04", name="Gia Hayes", protocol="esk"), text) is found


def test_search_ignores_accents() -> None:
    assert matches(PatientSpec(id="P05", name="Zoë Brontë", protocol="esk"), "zoe bronte")
    assert not matches(PatientSpec(id="P05", name="Zoë Brontë", protocol="esk"), "zoey")


# ----------------------------------------------------------------------------- the form
FORM = {"id": "P04", "name": "Gia Hayes", "phone": "555 010 2000", "email": "", "protocol":
        "esk", "avail.mon": "9:00-12:00, 13:00 - 17:00", "priority": "2"}


def test_the_form_reads_hours_by_weekday_and_leaves_empty_fields_out() -> None:
    item, issues = item_of(FORM, ["N1", "N1"])
    assert issues == []
    assert item == {"id": "P04", "name": "Gia Hayes", "contact": {"phone": "555 010 2000"},
                    "protocol": "esk", "priority": 2, "preferred_staff": ["N1"],
                    "availability": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}}


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"name": ""}, "name", "is required"),
    ({"protocol": ""}, "protocol", "is required"),
    ({"avail.wed": "mornings"}, "avail.wed", "'mornings' is not hours"),
    ({"date_of_birth": "03/15/1980"}, "date_of_birth", "is not a date (YYYY-MM-DD)"),
    ({"sessions": "two"}, "sessions", "'two' is not a whole number"),
    ({"course_done": "3"}, "course_done", "needs a course"),
    ({"rems_enrolled_on": "2026-11-30"}, "rems_number", "is required with the enrollment date"),
    ({"rems_enrolled": "yes"}, "rems_number", "is required for an enrolled patient"),
    ({"rems_enrolled": "no", "rems_number": "RP-1"}, "rems_enrolled", "says not enrolled"),
])
def test_each_form_problem_is_named_by_its_field(change: dict[str, str], field: str,
                                                 words: str) -> None:
    assert item_of(FORM, [])[1] == []
    issues = item_of({**FORM, **change}, [])[1]
    assert [i.path for i in issues] == [field] and words in issues[0].message


def test_editing_keeps_what_the_form_does_not_show() -> None:
    before: dict[str, Any] = {
        "id": "P07", "protocol": "esk-84", "unavailable": [{"date": "2026-12-08"}],
        "course": {"id": "esk-trd", "history": ["2026-11-30", "2026-12-03"], "dose": 84}}
    form = form_of(before)
    assert form["course_done"] == "2" and form["course_dose"] == "84"
    item, issues = item_of({**form, "name": "Al Bo"}, [], before)
    assert issues == []
    assert item == {**before, "name": "Al Bo", "priority": 1}
    item, _ = item_of({**form, "name": "Al Bo", "course_done": "5"}, [], before)
    assert item["course"] == {**before["course"], "done": 5}


def test_the_scenarios_paths_become_the_forms_fields() -> None:
    issues = [Issue("patients[3].contact.email", "bad"), Issue("patients[3].rems.number", "x"),
              Issue("patients[3].availability.tue[0]", "y"), Issue("patients[3].priority", "z"),
              Issue("patients[3].course.dose", "d"), Issue("fixed[0].patient", "f"),
              Issue("body.id", "i")]
    assert [i.path for i in form_paths(issues, 3)] == [
        "email", "rems_number", "avail.tue", "priority", "course_dose", "fixed[0].patient",
        "id"]


def test_the_next_id_follows_the_clinics_pattern() -> None:
    assert next_id(["P001", "P113", "X9"]) == "P114"
    assert next_id([]) == "P001"


# ----------------------------------------------------------------------------- the CSV
EXPORT = ("Patient ID,First Name,Last Name,MRN,Protocol,Phone,E-mail,DOB,REMS Number,"
          "REMS Date\nP10,Gia,Hayes,88231,esk,555-010-2000,gia@example.org,03/15/1980,RP-1,"
          "12/04/2026\n")


def test_header_synonyms_map_to_fields_and_extra_columns_are_ignored_with_a_warning() -> None:
    read = read_table(io.BytesIO(EXPORT.encode()), "export.csv", "us")
    assert read.issues == []
    assert read.rows[0].patient == {
        "id": "P10", "name": "Gia Hayes", "protocol": "esk",
        "contact": {"phone": "555-010-2000", "email": "gia@example.org"},
        "date_of_birth": "1980-03-15", "rems": {"number": "RP-1", "enrolled_on": "2026-12-04"}}
    assert [w.path for w in read.warnings] == ["export.csv column MRN"]
    assert read.columns["MRN"] is None and read.header_of("contact.email") == "E-mail"


def test_a_file_without_an_id_column_is_refused_naming_it() -> None:
    read = read_table(io.BytesIO(b"Name,Protocol\nGia,esk\n"), "export.csv")
    assert [i.message for i in read.issues] == ["has no 'id' column (Patient ID)"]
    twice = read_table(io.BytesIO(b"ID,Patient ID,Protocol\nP1,P2,esk\n"), "export.csv")
    assert [i.path for i in twice.issues] == ["export.csv column Patient ID"]


@pytest.mark.parametrize(("text", "fmt", "day"), [
    ("2026-12-04", None, date(2026, 12, 4)), ("2026-12-04", "us", date(2026, 12, 4)),
    ("12/04/2026", "us", date(2026, 12, 4)), ("12/04/2026", "eu", date(2026, 4, 12)),
    ("12.04.2026", "eu", date(2026, 4, 12)), ("11/30/2026", None, date(2026, 11, 30)),
    ("04/04/2026", None, date(2026, 4, 4))])
def test_dates_read_in_iso_or_the_clinics_format(text: str, fmt: str | None, day: date) -> None:
    assert read_date(text, fmt) == day


@pytest.mark.parametrize(("text", "fmt", "words"), [
    ("12/04/2026", None, "is ambiguous: 4 Dec 2026 (month first, US) or 12 Apr 2026"),
    ("12/04/2026", "iso", "is ambiguous"),
    ("13/04/2026", "us", "is not a date written MM/DD/YYYY (the clinic's format)"),
    ("12/04/26", "us", "write the year in full (MM/DD/YYYY)"),
    ("2026-02-30", None, "no such day"), ("next week", "eu", "write DD/MM/YYYY")])
def test_a_date_that_cannot_be_read_says_why(text: str, fmt: str | None, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_date(text, fmt)


def test_an_ambiguous_date_is_a_problem_naming_its_row_and_column() -> None:
    data = scenario_dict(patients=patients(1, rems_enrolled=True))
    csv = b"Patient ID,Protocol,Last Session,REMS\nP10,esk,12/04/2026,yes\nP11,esk,,yes\n"
    ambiguous = preview_patients(data, csv, "export.csv")
    assert ambiguous.data is None
    assert list(ambiguous.problems) == [2]
    assert list(ambiguous.problems[2]) == ["Last Session"]
    assert "is ambiguous" in ambiguous.problems[2]["Last Session"][0]
    us = preview_patients({**data, "clinic": {**data["clinic"], "date_format": "us"}}, csv,
                          "export.csv")
    assert us.problems == {} and us.data is not None
    assert us.data["patients"][1]["last_session"] == "2026-12-04"
    assert (us.added, us.updated, us.kept) == (["P10", "P11"], [], 1)


def test_a_row_of_a_known_patient_updates_only_the_fields_its_columns_give() -> None:
    data = scenario_dict(patients=patients(2, rems_enrolled=True, name="Old Name",
                                           contact={"email": "old@example.org"}))
    csv = b"Patient ID,Phone\nP02,555 010 2000\n"
    found = preview_patients(data, csv, "export.csv")
    assert found.data is not None and found.updated == ["P02"] and found.kept == 1
    assert found.data["patients"][1] == {
        "id": "P02", "protocol": "esk", "rems_enrolled": True, "name": "Old Name",
        "contact": {"email": "old@example.org", "phone": "555 010 2000"}}
    twice = preview_patients(data, b"Patient ID,Phone\nP02,555 010 2000\nP02,555 010 2001\n",
                             "export.csv")
    assert twice.data is None and twice.problems == {
        3: {"Patient ID": ["'P02' is in row 2 too: one row a patient"]}}
