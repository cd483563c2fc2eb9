"""The checker's own tests: for every clause of contract v1's seven hard rules, the smallest
schedule that keeps it (``check`` returns ``[]``) and one that breaks it (``check`` names the rule,
the appointment and what is wrong).

No solver: every schedule.json document is written here by hand, its phases laid back to back in
absolute time and written with the UTC offset of their date, as the contract's schedule format says.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.check import Violation, check
from scheduler.validate import validate_scenario
from tests.conftest import ESK

Doc = dict[str, Any]
NY, BERLIN = "America/New_York", "Europe/Berlin"
MON, TUE, WED = "2026-12-07", "2026-12-08", "2026-12-09"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ESK_PHASES = (("intake", 10), ("dosing", 15), ("monitoring", 120), ("discharge", 5))


# ------------------------------------------------------------------------------------ builders
def week(*spans: tuple[str, str]) -> dict[str, list[list[str]]]:
    """The same intervals on every weekday."""
    return {d: [list(s) for s in spans] for d in DAYS}


def person(sid: str, role: str, **fields: Any) -> Doc:
    return {"id": sid, "role": role, "max_patients": 4, "shifts": week(("06:00", "21:00")),
            **fields}


def base() -> Doc:
    """Mon 2026-12-07 + 6 days, clinic open 07:00-19:00 daily, staff on shift 06:00-21:00 daily
    (so the clinic's hours bind), rooms R1 and R2, nurse N1, prescriber D1, patients P01-P03."""
    return {
        "version": 1,
        "clinic": {"name": "Check Clinic", "timezone": NY, "slot_minutes": 5,
                   "hours": week(("07:00", "19:00"))},
        "horizon": {"start": MON, "days": 7},
        "protocols": [copy.deepcopy(ESK)],
        "rooms": [{"id": r, "features": ["recliner"], "chairs": 1} for r in ("R1", "R2")],
        "staff": [person("N1", "nurse", qualifications=["spravato"]),
                  person("D1", "prescriber", max_patients=0)],
        "patients": [{"id": f"P0{i}", "protocol": "esk"} for i in (1, 2, 3)],
    }


def appointment(aid: str, patient: str, start_local: str, *, protocol: str = "esk",
                room: str = "R1", staff: dict[str, str] | None = None, tz: str = NY,
                phases: Sequence[tuple[str, int]] = ESK_PHASES) -> Doc:
    """One appointment, phases back to back in absolute time from local ``start_local``
    (``"HH:MM"`` means that time on Monday 2026-12-07)."""
    zone = ZoneInfo(tz)
    local = start_local if "T" in start_local else f"{MON}T{start_local}"
    t = datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(UTC)
    laid = []
    for name, minutes in phases:
        end = t + timedelta(minutes=minutes)
        laid.append({"name": name, "start": t.astimezone(zone).isoformat(),
                     "end": end.astimezone(zone).isoformat()})
        t = end
    return {"id": aid, "patient": patient, "protocol": protocol, "room": room,
            "staff": {"nurse": "N1"} if staff is None else staff,
            "start": laid[0]["start"], "end": laid[-1]["end"], "phases": laid}


def _plus(text: str, minutes: int) -> str:
    return (datetime.fromisoformat(text) + timedelta(minutes=minutes)).isoformat()


def delay(a: Doc, phase: int, minutes: int, *, keep_start: bool = False) -> Doc:
    """Delay phases[phase:] and the end; ``keep_start`` keeps phases[phase]'s start (stretches)."""
    for i, p in enumerate(a["phases"][phase:]):
        if i or not keep_start:
            p["start"] = _plus(p["start"], minutes)
        p["end"] = _plus(p["end"], minutes)
    a["end"] = _plus(a["end"], minutes)
    return a


def put(data: Doc, path: tuple[str | int, ...], value: Any) -> None:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def run(data: Doc, *appointments: Doc) -> list[Violation]:
    document = {"version": 1, "scenario": "Check Clinic", "generated_at": "2026-11-27T10:00:00Z",
                "appointments": list(appointments), "unplaced": [], "kpis": {}}
    return check(validate_scenario(data), document)


def one(found: list[Violation], rule: str, appointment: str, *words: str) -> None:
    """Exactly one violation: ``rule`` for ``appointment``, its message holding every word."""
    assert [(v.rule, v.appointment) for v in found] == [(rule, appointment)], found
    assert all(w in found[0].what for w in words), (words, found)


def only(found: list[Violation], rule: str, appointment: str, *words: str) -> None:
    """At least one violation, all of ``rule`` for ``appointment``; each word in some message."""
    assert found and {(v.rule, v.appointment) for v in found} == {(rule, appointment)}, found
    assert all(any(w in v.what for v in found) for w in words), (words, found)


def test_smallest_valid_schedule_is_kept() -> None:
    assert run(base(), appointment("A-0001", "P01", "09:00")) == []


def test_empty_schedule_is_kept() -> None:
    assert run(base()) == []


# ------------------------------------------------------------------------------------ 1. phases
@pytest.mark.parametrize("names", [
    ("intake", "dosing", "observation", "discharge"),
    ("dosing", "intake", "monitoring", "discharge"),
    ("intake", "dosing", "monitoring"),
    ("intake", "dosing", "monitoring", "discharge", "aftercare"),
], ids=["renamed", "swapped", "missing", "extra"])
def test_phase_names_and_order_broken(names: tuple[str, ...]) -> None:
    a = appointment("A-0001", "P01", "09:00", phases=list(zip(names, (10, 15, 120, 5, 5),
                                                                    strict=False)))
    one(run(base(), a), "phases", "A-0001", "intake", "dosing", "discharge")


@pytest.mark.parametrize(("minutes", "clock"), [(5, "09:15"), (-5, "09:05")],
                         ids=["gap", "overlap"])
def test_phases_not_back_to_back_broken(minutes: int, clock: str) -> None:
    a = delay(appointment("A-0001", "P01", "09:00"), 1, minutes)
    one(run(base(), a), "phases", "A-0001", "dosing", clock)


@pytest.mark.parametrize("minutes", [5, -5], ids=["longer", "shorter"])
def test_phase_of_wrong_length_broken(minutes: int) -> None:
    a = delay(appointment("A-0001", "P01", "09:00"), 2, minutes, keep_start=True)
    one(run(base(), a), "phases", "A-0001", "monitoring", str(120 + minutes), "120")


def test_appointment_start_not_first_phase_start_broken() -> None:
    a = appointment("A-0001", "P01", "09:00")
    a["start"] = _plus(a["start"], -5)
    one(run(base(), a), "phases", "A-0001", "intake")


@pytest.mark.parametrize("minutes", [5, -5], ids=["later", "earlier"])
def test_appointment_end_not_last_phase_end_broken(minutes: int) -> None:
    a = appointment("A-0001", "P01", "09:00")
    a["end"] = _plus(a["end"], minutes)
    one(run(base(), a), "phases", "A-0001", "last phase")


@pytest.mark.parametrize(("slot", "start", "kept"), [
    (5, "09:00", True), (5, "09:02", False), (5, "09:00:30", False),
    (25, "08:20", True), (25, "08:00", False),  # counted from local midnight, not from opening
])
def test_slot_grid(slot: int, start: str, kept: bool) -> None:
    data = base()
    data["clinic"]["slot_minutes"] = slot
    found = run(data, appointment("A-0001", "P01", start))
    if kept:
        assert found == []
    else:
        one(found, "phases", "A-0001", f"{slot}-minute", "grid")


# ------------------------------------------------------------------------------------ 2. hours
@pytest.mark.parametrize(("start", "outside"), [
    ("2026-12-06T09:00", True), ("2026-12-07T09:00", False),
    ("2026-12-13T09:00", False), ("2026-12-14T09:00", True),
], ids=["day-before", "first-day", "last-day", "day-after"])
def test_horizon_edges(start: str, outside: bool) -> None:
    found = run(base(), appointment("A-0001", "P01", start))
    if outside:
        one(found, "hours", "A-0001", start[:10], "horizon")
    else:
        assert found == []


@pytest.mark.parametrize(("day", "kept"), [(TUE, True), (WED, False)])
def test_closed_weekday(day: str, kept: bool) -> None:
    data = base()
    del data["clinic"]["hours"]["wed"]
    found = run(data, appointment("A-0001", "P01", f"{day}T09:00"))
    if kept:
        assert found == []
    else:
        one(found, "hours", "A-0001", "clinic")


@pytest.mark.parametrize(("day", "kept"), [(TUE, True), (WED, False)])
def test_closed_date(day: str, kept: bool) -> None:
    data = base()
    data["clinic"]["closed_dates"] = [WED]
    found = run(data, appointment("A-0001", "P01", f"{day}T09:00"))
    if kept:
        assert found == []
    else:
        one(found, "hours", "A-0001", "closed", WED)


@pytest.mark.parametrize(("start", "kept"), [("07:00", True), ("16:30", True),
                                             ("06:55", False), ("16:35", False)])
def test_clinic_opening_and_closing_edges(start: str, kept: bool) -> None:
    found = run(base(), appointment("A-0001", "P01", start))  # 150 min; closes at 19:00
    if kept:
        assert found == []
    else:
        one(found, "hours", "A-0001", "clinic")


@pytest.mark.parametrize(("start", "kept"), [("12:00", True), ("09:00", False)])
def test_room_own_hours(start: str, kept: bool) -> None:
    data = base()
    data["rooms"][0]["hours"] = week(("12:00", "19:00"))
    found = run(data, appointment("A-0001", "P01", start))
    if kept:
        assert found == []
    else:
        one(found, "hours", "A-0001", "R1")


@pytest.mark.parametrize(("closure", "kept"), [
    ({"date": MON}, False),
    ({"date": MON, "from": "10:00", "to": "10:30"}, False),
    ({"date": MON, "from": "11:30", "to": "12:00"}, True),  # starts as the session ends
    ({"date": TUE}, True),
], ids=["whole-day", "mid-session", "touching-end", "other-day"])
def test_room_closures(closure: Doc, kept: bool) -> None:
    data = base()
    data["rooms"][0]["closures"] = [closure]
    found = run(data, appointment("A-0001", "P01", "09:00"))
    if kept:
        assert found == []
    else:
        one(found, "hours", "A-0001", "R1")


# -------------------------------------------------- touching intervals form one (rules 2, 4, 5, 6)
SPLIT_AT_NOON: dict[str, tuple[tuple[str | int, ...], str, str]] = {
    "clinic-hours": (("clinic", "hours"), "hours", "clinic"),
    "room-hours": (("rooms", 0, "hours"), "hours", "R1"),
    "nurse-shifts": (("staff", 0, "shifts"), "staff", "N1"),
    "prescriber-shifts": (("staff", 1, "shifts"), "on_site", "prescriber"),
    "patient-availability": (("patients", 0, "availability"), "patients", "P01"),
}


@pytest.mark.parametrize("where", list(SPLIT_AT_NOON))
def test_touching_intervals_form_one_interval(where: str) -> None:
    data = base()
    put(data, SPLIT_AT_NOON[where][0], week(("07:00", "12:00"), ("12:00", "19:00")))
    assert run(data, appointment("A-0001", "P01", "11:00")) == []  # 11:00-13:30


@pytest.mark.parametrize("where", list(SPLIT_AT_NOON))
def test_five_minute_gap_splits_the_interval(where: str) -> None:
    path, rule, word = SPLIT_AT_NOON[where]
    data = base()
    put(data, path, week(("07:00", "12:00"), ("12:05", "19:00")))
    one(run(data, appointment("A-0001", "P01", "11:00")), rule, "A-0001", word)


# ------------------------------------------------------------------------------------ 3. rooms
@pytest.mark.parametrize(("room", "kept"), [("R1", True), ("R2", False)])
def test_room_has_every_feature(room: str, kept: bool) -> None:
    data = base()
    data["protocols"][0]["room_features"] = ["recliner", "iv-pump"]
    data["rooms"][0]["features"] = ["recliner", "iv-pump"]
    found = run(data, appointment("A-0001", "P01", "09:00", room=room))
    if kept:
        assert found == []
    else:
        one(found, "rooms", "A-0001", "R2", "iv-pump")


@pytest.mark.parametrize(("second", "kept"), [("10:10", True), ("10:05", False)])
def test_one_chair_blocked_through_turnover(second: str, kept: bool) -> None:
    first = appointment("A-0001", "P01", "07:30")  # ends 10:00, turnover until 10:10
    found = run(base(), first, appointment("A-0002", "P02", second))
    if kept:
        assert found == []
    else:
        one(found, "rooms", "A-0002", "R1")


@pytest.mark.parametrize(("third", "kept"), [("11:40", True), ("11:35", False), ("10:15", False)],
                         ids=["after-turnover", "in-turnover", "three-at-once"])
def test_two_chair_room_holds_two(third: str, kept: bool) -> None:
    data = base()
    data["rooms"][0]["chairs"] = 2
    found = run(data, appointment("A-0001", "P01", "09:00"),  # 09:00-11:30, +10 turnover
                appointment("A-0002", "P02", "09:50"),  # 09:50-12:20
                appointment("A-0003", "P03", third))
    if kept:
        assert found == []
    else:
        one(found, "rooms", "A-0003", "R1")


# ------------------------------------------------------------------------------------ 4. staff
@pytest.mark.parametrize(("sid", "words"), [
    ("T1", ("T1", "therapist", "nurse")),
    ("N2", ("N2", "spravato")),
], ids=["wrong-role", "missing-qualification"])
def test_staff_role_and_qualification_broken(sid: str, words: tuple[str, ...]) -> None:
    data = base()
    data["staff"] += [person("T1", "therapist", qualifications=["spravato"]),
                      person("N2", "nurse")]
    found = run(data, appointment("A-0001", "P01", "09:00", staff={"nurse": sid}))
    one(found, "staff", "A-0001", *words)


@pytest.mark.parametrize(("day", "kept"), [(TUE, True), (MON, False)])
def test_time_off_of_moded_entry(day: str, kept: bool) -> None:
    data = base()
    data["staff"][0]["time_off"] = [day]
    found = run(data, appointment("A-0001", "P01", "09:00"))
    if kept:
        assert found == []
    else:  # one line: the time off, not a "not on shift" line per moded phase besides
        assert found == [Violation("staff", "A-0001", "N1 is on time off on 2026-12-07")]


def _with_therapist(**therapist: Any) -> Doc:
    """esk plus a staff entry without modes (a therapist in the building), T1 with no shifts."""
    data = base()
    data["protocols"][0]["staff"].append({"role": "therapist"})
    data["staff"].append({"id": "T1", "role": "therapist", **therapist})
    return data


def _therapist_session() -> Doc:
    return appointment("A-0001", "P01", "09:00", staff={"nurse": "N1", "therapist": "T1"})


def test_entry_without_modes_needs_no_shift() -> None:
    assert run(_with_therapist(), _therapist_session()) == []


def test_time_off_excludes_entry_without_modes() -> None:
    assert run(_with_therapist(time_off=[MON]), _therapist_session()) == [
        Violation("staff", "A-0001", "T1 is on time off on 2026-12-07")]


def _two_nurse_entries() -> Doc:
    data = base()
    data["protocols"][0]["staff"].append({"role": "nurse", "key": "second"})
    data["staff"].append(person("N2", "nurse", qualifications=["spravato"]))
    return data


@pytest.mark.parametrize(("second", "kept"), [("N2", True), ("N1", False)])
def test_each_entry_is_a_different_person(second: str, kept: bool) -> None:
    """README interpretation: two entries of one session are two people."""
    found = run(_two_nurse_entries(), appointment("A-0001", "P01", "09:00",
                                                  staff={"nurse": "N1", "second": second}))
    if kept:
        assert found == []
    else:
        assert found == [Violation("staff", "A-0001",
                                   "N1 fills 2 staff entries of one session (nurse, second)")]


@pytest.mark.parametrize(("absence", "kept"), [
    ({"date": MON}, False),
    ({"date": MON, "from": "10:00", "to": "10:30"}, False),
    ({"date": MON, "from": "11:30", "to": "12:00"}, True),  # starts as the session ends
    ({"date": TUE}, True),
], ids=["whole-day", "mid-session", "touching-end", "other-day"])
def test_absence_excludes_entry_without_modes(absence: Doc, kept: bool) -> None:
    found = run(_with_therapist(absences=[absence]), _therapist_session())
    if kept:
        assert found == []
    else:
        one(found, "staff", "A-0001", "T1")


def test_shift_break_inside_a_moded_phase_broken() -> None:
    data = base()
    data["staff"][0]["shifts"] = week(("07:00", "10:00"), ("10:30", "21:00"))
    one(run(data, appointment("A-0001", "P01", "09:00")), "staff", "A-0001", "N1", "monitoring")


@pytest.mark.parametrize(("shift_end", "kept"), [("09:25", True), ("09:20", False)])
def test_shift_needs_to_contain_only_moded_phases(shift_end: str, kept: bool) -> None:
    data = base()
    data["protocols"][0]["staff"][0]["modes"] = {"intake": "hands_on", "dosing": "hands_on"}
    data["staff"][0]["shifts"] = week(("07:00", shift_end))  # dosing ends at 09:25
    found = run(data, appointment("A-0001", "P01", "09:00"))
    if kept:
        assert found == []
    else:
        one(found, "staff", "A-0001", "N1", "dosing")


@pytest.mark.parametrize(("absence", "kept"), [
    ({"date": MON, "from": "10:00", "to": "10:30"}, False),
    ({"date": MON, "from": "11:30", "to": "12:00"}, True),
    ({"date": TUE}, True),
], ids=["mid-monitoring", "touching-end", "other-day"])
def test_absence_of_moded_entry(absence: Doc, kept: bool) -> None:
    data = base()
    data["staff"][0]["absences"] = [absence]
    found = run(data, appointment("A-0001", "P01", "09:00"))
    if kept:
        assert found == []
    else:
        one(found, "staff", "A-0001", "N1", "monitoring")


@pytest.mark.parametrize(("second", "named", "kept"), [
    ("09:00", "A-0002", False), ("09:20", "A-0002", False),
    ("09:25", "", True),  # the first's intake + dosing: 09:00-09:25
    # the first's discharge (11:25-11:30) starts during the second's intake: the appointment
    # named is the one whose hands-on phase begins while another's is under way
    ("11:20", "A-0001", False),
    ("11:30", "", True),
])
def test_one_hands_on_phase_at_a_time(second: str, named: str, kept: bool) -> None:
    found = run(base(), appointment("A-0001", "P01", "09:00"),
                appointment("A-0002", "P02", second, room="R2"))
    if kept:
        assert found == []
    else:
        one(found, "staff", named, "N1", "hands-on")


@pytest.mark.parametrize(("max_patients", "second", "kept"), [
    (2, "09:25", True), (1, "09:25", False), (1, "11:25", True),
])
def test_max_patients_load(max_patients: int, second: str, kept: bool) -> None:
    data = base()
    data["staff"][0]["max_patients"] = max_patients
    # discharge unmoded, so the first's load ends at 11:25 and only the second arrives overloaded
    data["protocols"][0]["staff"][0]["modes"] = {"intake": "hands_on", "dosing": "hands_on",
                                                 "monitoring": "monitor"}
    found = run(data, appointment("A-0001", "P01", "09:00"),
                appointment("A-0002", "P02", second, room="R2"))
    if kept:
        assert found == []
    else:
        one(found, "staff", "A-0002", "N1", "more than 1")


# ------------------------------------------------------------------------------------ 5. on site
@pytest.mark.parametrize(("shift", "phase"), [
    (("09:10", "11:25"), None),  # exactly dosing + monitoring: intake, discharge are not listed
    (("07:00", "10:00"), "monitoring"),
    (("09:15", "21:00"), "dosing"),
], ids=["listed-phases-only", "monitoring-uncovered", "dosing-uncovered"])
def test_on_site_covers_every_listed_phase(shift: tuple[str, str], phase: str | None) -> None:
    data = base()
    data["staff"][1]["shifts"] = week(shift)
    found = run(data, appointment("A-0001", "P01", "09:00"))
    if phase is None:
        assert found == []
    else:
        one(found, "on_site", "A-0001", "prescriber", phase)


@pytest.mark.parametrize(("d2_from", "kept"), [("12:00", True), ("12:05", False)],
                         ids=["hand-over", "five-minute-gap"])
def test_on_site_hand_over_between_two_people(d2_from: str, kept: bool) -> None:
    data = base()
    data["staff"][1]["shifts"] = week(("08:00", "12:00"))
    data["staff"].append(person("D2", "prescriber", max_patients=0,
                                shifts=week((d2_from, "17:00"))))
    found = run(data, appointment("A-0001", "P01", "10:35"))  # monitoring 11:00-13:00
    if kept:
        assert found == []
    else:
        one(found, "on_site", "A-0001", "prescriber", "monitoring")


def test_on_site_excludes_time_off() -> None:
    data = base()
    data["staff"][1]["time_off"] = [MON]
    only(run(data, appointment("A-0001", "P01", "09:00")), "on_site", "A-0001",
         "prescriber", "dosing", "monitoring")


def test_on_site_excludes_absence() -> None:
    data = base()
    data["staff"][1]["absences"] = [{"date": MON, "from": "10:00", "to": "10:05"}]
    one(run(data, appointment("A-0001", "P01", "09:00")), "on_site", "A-0001",
        "prescriber", "monitoring")


# ------------------------------------------------------------------------------------ 6. patients
def _patient(data: Doc, **fields: Any) -> Doc:
    data["patients"][0].update(fields)
    return data


@pytest.mark.parametrize(("sessions", "kept"), [(2, True), (1, False)])
def test_session_count(sessions: int, kept: bool) -> None:
    found = run(_patient(base(), sessions=sessions), appointment("A-0001", "P01", "09:00"),
                appointment("A-0002", "P01", f"{TUE}T09:00"))
    if kept:
        assert found == []
    else:
        one(found, "patients", "A-0002", "P01", "2", "1")


def test_session_count_includes_fixed() -> None:
    data = base()
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": f"{MON}T09:00", "room": "R1",
                      "staff": {"nurse": "N1"}}]
    found = run(data, appointment("A-0100", "P01", "09:00"),
                appointment("A-0002", "P01", f"{WED}T09:00"))
    one(found, "patients", "A-0002", "P01", "2", "1")


@pytest.mark.parametrize("min_gap_days", [0, 1])
def test_one_session_per_day(min_gap_days: int) -> None:
    data = _patient(base(), sessions=2, min_gap_days=min_gap_days)
    found = run(data, appointment("A-0001", "P01", "09:00"),
                appointment("A-0002", "P01", "13:00"))
    one(found, "patients", "A-0002", "P01", MON)


@pytest.mark.parametrize(("availability", "kept"), [
    ({"mon": [["09:00", "11:30"]]}, True),
    ({"mon": [["09:05", "12:00"]]}, False),
    ({"mon": [["08:00", "11:25"]]}, False),
    ({"tue": [["07:00", "19:00"]]}, False),  # Monday absent: not available on Mondays
], ids=["exactly-inside", "starts-late", "ends-early", "weekday-absent"])
def test_availability_window(availability: Doc, kept: bool) -> None:
    found = run(_patient(base(), availability=availability), appointment("A-0001", "P01", "09:00"))
    if kept:
        assert found == []
    else:
        one(found, "patients", "A-0001", "P01")


@pytest.mark.parametrize(("outage", "kept"), [
    ({"date": MON}, False),
    ({"date": MON, "from": "11:00", "to": "12:00"}, False),
    ({"date": MON, "from": "11:30", "to": "12:00"}, True),  # starts as the session ends
    ({"date": TUE}, True),
], ids=["whole-day", "mid-session", "touching-end", "other-day"])
def test_unavailable_outage(outage: Doc, kept: bool) -> None:
    found = run(_patient(base(), unavailable=[outage]), appointment("A-0001", "P01", "09:00"))
    if kept:
        assert found == []
    else:
        one(found, "patients", "A-0001", "P01")


@pytest.mark.parametrize(("field", "day", "kept"), [
    ("earliest", TUE, True), ("earliest", MON, False),
    ("latest", TUE, True), ("latest", WED, False),
])
def test_earliest_and_latest(field: str, day: str, kept: bool) -> None:
    found = run(_patient(base(), **{field: TUE}), appointment("A-0001", "P01", f"{day}T09:00"))
    if kept:
        assert found == []
    else:
        one(found, "patients", "A-0001", "P01", field, TUE, day)


@pytest.mark.parametrize(("second", "kept"), [("2026-12-10", True), (WED, False)])
def test_min_gap_days(second: str, kept: bool) -> None:
    data = _patient(base(), sessions=2, min_gap_days=3)
    found = run(data, appointment("A-0001", "P01", "09:00"),
                appointment("A-0002", "P01", f"{second}T09:00"))
    if kept:
        assert found == []
    else:
        one(found, "patients", "A-0002", "P01", MON, WED, "3")


@pytest.mark.parametrize(("day", "kept"), [(TUE, True), (MON, False)])
def test_min_gap_days_from_last_session(day: str, kept: bool) -> None:
    data = _patient(base(), last_session="2026-12-05", min_gap_days=3)
    found = run(data, appointment("A-0001", "P01", f"{day}T09:00"))
    if kept:
        assert found == []
    else:
        one(found, "patients", "A-0001", "P01", "2026-12-05", MON, "3")


@pytest.mark.parametrize("enrolled", [True, False, None], ids=["enrolled", "not", "absent"])
def test_rems_protocol_books_only_enrolled_patients(enrolled: bool | None) -> None:
    data = base()
    data["protocols"][0]["requires_rems"] = True
    if enrolled is not None:
        _patient(data, rems_enrolled=enrolled)
    found = run(data, appointment("A-0001", "P01", "09:00"))
    if enrolled:
        assert found == []
    else:
        one(found, "patients", "A-0001", "P01", "REMS")


# ------------------------------------------------------------------------------------ 7. fixed
def _with_fixed() -> Doc:
    data = base()
    data["staff"].append(person("N3", "nurse", qualifications=["spravato"]))
    data["fixed"] = [{"id": "A-0100", "patient": "P01", "start": f"{MON}T09:00", "room": "R1",
                      "staff": {"nurse": "N1"}}]
    return data


def test_fixed_kept_exactly() -> None:
    assert run(_with_fixed(), appointment("A-0100", "P01", "09:00")) == []


@pytest.mark.parametrize("moved", [
    appointment("A-0100", "P01", "09:30"),
    appointment("A-0100", "P01", "09:00", room="R2"),
    appointment("A-0100", "P01", "09:00", staff={"nurse": "N3"}),
    appointment("A-0100", "P02", "09:00"),
], ids=["start", "room", "staff", "patient"])
def test_fixed_moved(moved: Doc) -> None:
    one(run(_with_fixed(), moved), "fixed", "A-0100", "differs")


@pytest.mark.parametrize("schedule", [[], [appointment("A-0200", "P01", "09:00")]],
                         ids=["absent", "renamed"])
def test_fixed_missing(schedule: list[Doc]) -> None:
    assert run(_with_fixed(), *schedule) == [
        Violation("fixed", "A-0100", "the fixed appointment is missing")]


# ------------------------------------------------------------------ daylight saving (rule 1)
DST_PHASES = (("intake", 30), ("dosing", 30), ("monitoring", 90))  # 150 min


def _dst(tz: str, day: str) -> Doc:
    """One Sunday night, open 00:00-06:00 local, a 30+30+90 protocol."""
    data = base()
    night = {"sun": [["00:00", "06:00"]]}
    data["clinic"].update(timezone=tz, hours=night)
    data["horizon"] = {"start": day, "days": 1}
    esk = data["protocols"][0]
    esk["phases"] = [{"name": n, "minutes": m} for n, m in DST_PHASES]
    esk["staff"][0]["modes"] = {"intake": "hands_on", "dosing": "hands_on", "monitoring": "monitor"}
    for s in data["staff"]:
        s["shifts"] = night
    return data


def _written(phases: list[tuple[str, str, str]]) -> Doc:
    laid = [{"name": n, "start": s, "end": e} for n, s, e in phases]
    return {"id": "A-0001", "patient": "P01", "protocol": "esk", "room": "R1",
            "staff": {"nurse": "N1"}, "start": laid[0]["start"], "end": laid[-1]["end"],
            "phases": laid}


# New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST.
NY_KEPT = [("intake", "2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00"),
           ("dosing", "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00"),
           ("monitoring", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00")]  # 90 real
NY_BROKEN = [("intake", "2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00"),
             # dosing: written 30 wall-clock minutes after its start, but 90 real minutes long
             ("dosing", "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-05:00"),
             ("monitoring", "2026-11-01T01:30:00-05:00", "2026-11-01T03:00:00-05:00")]
# Berlin, 2027-03-28: 02:00 CET springs forward to 03:00 CEST.
BERLIN_KEPT = [("intake", "2027-03-28T00:30:00+01:00", "2027-03-28T01:00:00+01:00"),
               ("dosing", "2027-03-28T01:00:00+01:00", "2027-03-28T01:30:00+01:00"),
               ("monitoring", "2027-03-28T01:30:00+01:00", "2027-03-28T04:00:00+02:00")]  # 90 real
BERLIN_BROKEN = [("intake", "2027-03-28T00:30:00+01:00", "2027-03-28T01:00:00+01:00"),
                 ("dosing", "2027-03-28T01:00:00+01:00", "2027-03-28T01:30:00+01:00"),
                 ("monitoring", "2027-03-28T01:30:00+01:00",  # 90 wall, 30 real
                  "2027-03-28T03:00:00+02:00")]


@pytest.mark.parametrize(("tz", "day", "phases"), [
    (NY, "2026-11-01", NY_KEPT), (BERLIN, "2027-03-28", BERLIN_KEPT),
], ids=["new-york-fall-back", "berlin-spring-forward"])
def test_dst_session_lasts_absolute_minutes(tz: str, day: str,
                                            phases: list[tuple[str, str, str]]) -> None:
    written = _written(phases)
    assert appointment("A-0001", "P01", f"{day}T00:30", tz=tz, phases=DST_PHASES) == written
    assert run(_dst(tz, day), written) == []


@pytest.mark.parametrize(("tz", "day", "phases", "words"), [
    (NY, "2026-11-01", NY_BROKEN, ("dosing", "90", "30")),
    (BERLIN, "2027-03-28", BERLIN_BROKEN, ("monitoring", "30", "90")),
], ids=["new-york-fall-back", "berlin-spring-forward"])
def test_dst_phase_of_wall_clock_length_broken(tz: str, day: str,
                                              phases: list[tuple[str, str, str]],
                                              words: tuple[str, ...]) -> None:
    one(run(_dst(tz, day), _written(phases)), "phases", "A-0001", *words)
