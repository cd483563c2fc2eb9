"""Calendar feeds, one test per line of ../shared/FEEDS.md's 'Feed content' (named in each
docstring), read back with icalendar 7, recurring-ical-events and Mozilla's ical.js."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import recurring_ical_events
from icalendar import Calendar

from calendars import Directory, FeedOptions, advance, render, render_all
from scheduler.model import Scenario
from scheduler.usecases import build_feeds, publish_feeds
from scheduler.validate import load_scenario
from tests.conftest import DEMO, TINY, shift, solve_data

FIXTURES = Path(__file__).parent / "fixtures"
JS = Path(__file__).parent / "js"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=5)


@pytest.fixture(scope="module")
def tiny() -> tuple[Scenario, dict[str, Any]]:
    return solve_data(load_scenario(TINY).model_dump(mode="json"))


@pytest.fixture(scope="module")
def dst() -> tuple[Scenario, dict[str, Any]]:
    return solve_data(load_scenario(FIXTURES / "dst_fall_back.yaml").model_dump(mode="json"))


def _parse(body: bytes) -> Calendar:
    calendar = Calendar.from_ical(body)
    assert isinstance(calendar, Calendar)
    for component in calendar.walk():
        assert component.errors == [], (component.name, component.errors)
    return calendar


def _events(body: bytes) -> dict[str, Any]:
    return {str(e["UID"]): e for e in _parse(body).walk("VEVENT")}


def _ical_js(paths: list[Path]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is installed by the test command"
    run = subprocess.run([node, str(JS / "read_feed.mjs"), *map(str, paths)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "Pacific/Auckland"})  # not the clinic's zone
    return dict(json.loads(run.stdout))


def test_calendar_identity_is_fixed(tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """Our own fixed PRODID, VERSION:2.0, and a calendar UID that never changes for a feed."""
    scenario, doc = tiny
    first, _ = build_feeds(scenario, doc, {}, NOW)
    second, _ = build_feeds(scenario, doc, {}, LATER)
    for name in ("patient-P001.ics", "staff-N1.ics", "clinic.ics"):
        a, b = _parse(first[name]), _parse(second[name])
        assert a["PRODID"] == "-//Chairtime//Chairtime feeds 1.0//EN"
        assert a["VERSION"] == "2.0"
        assert a["UID"] == b["UID"]
    assert len({str(_parse(body)["UID"]) for body in first.values()}) == len(first)


def test_event_uids_stable_and_anonymous(tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """Event UIDs derive from the appointment id, byte-identical, with no patient name or id."""
    scenario, doc = tiny
    first, _ = build_feeds(scenario, doc, {}, NOW)
    second, _ = build_feeds(scenario, doc, {}, LATER)
    for name, body in first.items():
        uids = sorted(_events(body))
        assert uids == sorted(_events(second[name]))
        for uid in uids:
            assert not re.search(r"P\d{3}", uid)
            assert all(p.id not in uid for p in scenario.patients)


def test_unchanged_schedule_gives_identical_bytes(tiny: tuple[Scenario, dict[str, Any]]
                                                  ) -> None:
    """DTSTAMP is the last change, not now: two fetches with no change are byte-identical."""
    scenario, doc = tiny
    files, state = build_feeds(scenario, doc, {}, NOW)
    again, state2 = build_feeds(scenario, doc, state, LATER)
    assert again == files
    assert state2 == state
    stamps = {e["DTSTAMP"].to_ical() for e in _parse(files["clinic.ics"]).walk("VEVENT")}
    assert stamps == {b"20261201T120000Z"}


def test_moving_one_appointment_changes_only_that_event(
        tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """SEQUENCE rises when start or end changes, with the same UID; nothing else moves."""
    scenario, doc = tiny
    files, state = build_feeds(scenario, doc, {}, NOW)
    moved = copy.deepcopy(doc)
    target = next(a for a in moved["appointments"] if a["id"] == "A-0002")
    shift(target, 30)
    files2, _ = build_feeds(scenario, moved, state, LATER)
    before, after = _events(files["clinic.ics"]), _events(files2["clinic.ics"])
    assert before.keys() == after.keys()
    changed = [uid for uid in before if before[uid].to_ical() != after[uid].to_ical()]
    assert len(changed) == 1
    event = after[changed[0]]
    assert event["SEQUENCE"] == before[changed[0]]["SEQUENCE"] + 1
    assert event.decoded("DTSTART") - before[changed[0]].decoded("DTSTART") == timedelta(
        minutes=30)
    assert event["DTSTAMP"].to_ical() == b"20261201T170000Z"
    patient = target["patient"]
    assert files2[f"patient-{patient}.ics"] != files[f"patient-{patient}.ics"]
    untouched = {a["patient"] for a in doc["appointments"]} - {patient}
    for p in untouched:
        assert files2[f"patient-{p}.ics"] == files[f"patient-{p}.ics"]


def test_staff_swap_keeps_sequence_but_moves_dtstamp(
        tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """SEQUENCE rises when start, end or status changes, and only then."""
    _, doc = tiny
    state = advance({}, doc["appointments"], NOW)
    swapped = copy.deepcopy(doc["appointments"])
    swapped[0]["room"] = "R1" if swapped[0]["room"] == "R2" else "R2"
    state2 = advance(state, swapped, LATER)
    aid = swapped[0]["id"]
    assert state2[aid]["sequence"] == state[aid]["sequence"]
    assert state2[aid]["stamp"] != state[aid]["stamp"]


def test_cancelled_stays_then_goes(tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """A cancelled appointment stays as STATUS:CANCELLED with a bumped SEQUENCE for a set
    number of days, then goes."""
    scenario, doc = tiny
    _files, state = build_feeds(scenario, doc, {}, NOW)
    gone = copy.deepcopy(doc)
    dropped = gone["appointments"].pop(1)
    files2, state2 = build_feeds(scenario, gone, state, LATER)
    events = _events(files2[f"patient-{dropped['patient']}.ics"])
    cancelled = [e for e in events.values() if e["STATUS"] == "CANCELLED"]
    assert len(cancelled) == 1
    assert cancelled[0]["SEQUENCE"] == 1
    assert not cancelled[0].walk("VALARM")
    days = scenario.feeds.cancelled_days
    _, state3 = build_feeds(scenario, gone, state2, LATER + timedelta(days=days - 1))
    assert state3[dropped["id"]]["status"] == "CANCELLED"
    files4, state4 = build_feeds(scenario, gone, state3, LATER + timedelta(days=days))
    assert dropped["id"] not in state4
    assert len(_events(files4["clinic.ics"])) == len(gone["appointments"])


def test_no_floating_times_and_a_vtimezone_for_every_tzid(
        tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """Each DTSTART/DTEND is UTC or has a TZID whose RRULE-style VTIMEZONE is in the file."""
    scenario, doc = tiny
    files, _ = build_feeds(scenario, doc, {}, NOW)
    for body in files.values():
        text = body.decode()
        tzids = set(re.findall(r"^DT(?:START|END);TZID=([^:;]+):", text, re.MULTILINE))
        events_part = text.split("END:VTIMEZONE", 1)[-1]  # VTIMEZONE DTSTARTs are local
        assert not re.findall(r"^DT(?:START|END):\d{8}T\d{6}\r$", events_part, re.MULTILINE)
        declared = set(re.findall(r"^TZID:(.+)\r$", text, re.MULTILINE))
        assert tzids <= declared
        assert "RDATE" not in text
        assert text.count("RRULE:FREQ=YEARLY") == 2  # one DAYLIGHT and one STANDARD rule


def test_dst_week_reads_back_right_in_both_parsers(
        dst: tuple[Scenario, dict[str, Any]], tmp_path: Path) -> None:
    """A fixture week that crosses a daylight-saving change reads back right in ical.js
    (Thunderbird's parser), icalendar and recurring-ical-events."""
    scenario, doc = dst
    publish_feeds(scenario, doc, tmp_path, NOW)
    path = tmp_path / "feeds" / "clinic.ics"
    expected = {a["id"]: (datetime.fromisoformat(a["start"]).astimezone(UTC),
                          datetime.fromisoformat(a["end"]).astimezone(UTC))
                for a in doc["appointments"]}
    parsed = _ical_js([path])[str(path)]
    got_js = sorted((datetime.fromisoformat(e["start"].replace("Z", "+00:00")),
                     datetime.fromisoformat(e["end"].replace("Z", "+00:00")))
                    for e in parsed["events"])
    assert got_js == sorted(expected.values())
    assert {e["tzid"] for e in parsed["events"]} == {"America/New_York"}
    calendar = _parse(path.read_bytes())
    window = recurring_ical_events.of(calendar).between(date(2026, 10, 31), date(2026, 11, 3))
    got_py = sorted((e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC))
                    for e in window)
    assert got_py == got_js
    local = sorted(e.decoded("DTSTART") for e in window)
    assert [(t.hour, t.utcoffset()) for t in local] == [  # 09:00 local on both sides
        (9, timedelta(hours=-4)), (9, timedelta(hours=-5)), (9, timedelta(hours=-5))]


def test_patient_without_appointments_gets_a_valid_calendar() -> None:
    """A patient with no appointments still gets a valid calendar (one component at least)."""
    options = FeedOptions(name="Test", timezone="Europe/Berlin")
    body = render("patient", "P404", {}, options, Directory())
    calendar = _parse(body)
    assert [c.name for c in calendar.subcomponents] == ["VTIMEZONE"]
    assert not calendar.walk("VEVENT")


def test_raw_text_crlf_and_fold_length() -> None:
    """CRLF line ends; lines ≤ 75 octets; a fold never splits a UTF-8 character."""
    options = FeedOptions(name="Klinik Fröhlich–Øresund " * 4, timezone="Europe/Berlin",
                          address="Straße " * 30, arrival="Bitte überprüfen " * 20)
    state = advance({}, [{"id": "A-1", "patient": "P1", "protocol": "x", "room": "R1",
                          "staff": {"nurse": "N1"}, "start": "2026-12-07T09:00:00+01:00",
                          "end": "2026-12-07T11:00:00+01:00", "phases": []}], NOW)
    body = render("patient", "P1", state, options, Directory())
    assert body.endswith(b"\r\n")
    lines = body.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    for line in lines:
        assert len(line) <= 75
        line.decode("utf-8")  # raises if a fold split a character
    assert _parse(body)["NAME"] == options.name


def test_refresh_name_and_ttl_and_no_method(tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """REFRESH-INTERVAL;VALUE=DURATION:PT1H, NAME, X-WR-CALNAME, X-PUBLISHED-TTL:PT1H as a
    duration; no METHOD in a subscription feed."""
    scenario, doc = tiny
    files, _ = build_feeds(scenario, doc, {}, NOW)
    for body in files.values():
        text = body.decode()
        assert "\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
        assert "\r\nX-PUBLISHED-TTL:PT1H\r\n" in text
        assert re.search(r"\r\nNAME:.+\r\n", text)
        assert re.search(r"\r\nX-WR-CALNAME:.+\r\n", text)
        assert "METHOD" not in text


BLOCKLIST = ("ketamine", "esketamine", "spravato", "esk", "iv", "im-", "kap", "infusion",
             "dosing", "monitoring", "injection", "mg", "depress", "psych", "room", "bay",
             "recliner")


@pytest.mark.solve
def test_patient_feeds_hold_no_health_information(tmp_path: Path) -> None:
    """No drug, procedure, diagnosis or telling room name in patient SUMMARY, DESCRIPTION or
    LOCATION; the demo clinic's own name mentions ketamine, so it sets a neutral feeds.name."""
    scenario = load_scenario(DEMO)
    _, doc = solve_data(scenario.model_dump(mode="json"), seconds=1)
    publish_feeds(scenario, doc, tmp_path, NOW)
    words = [*BLOCKLIST, *(p.name.lower() for p in scenario.protocols),
             *(p.id.lower() for p in scenario.protocols),
             *((r.name or r.id).lower() for r in scenario.rooms)]
    feeds = sorted((tmp_path / "feeds").glob("patient-*.ics"))
    assert len(feeds) == len(scenario.patients)
    checked = 0
    for path in feeds:
        for event in _parse(path.read_bytes()).walk("VEVENT"):
            for field in ("SUMMARY", "DESCRIPTION", "LOCATION"):
                text = str(event.get(field, "")).lower()
                for word in words:
                    assert not re.search(rf"\b{re.escape(word)}\b", text), (path.name, field,
                                                                           word)
            assert str(event["SUMMARY"]) == "Appointment — Riverside Clinic"
            checked += 1
    assert checked == len(doc["appointments"])
    everything = sorted((tmp_path / "feeds").glob("*.ics"))
    parsed = _ical_js(everything)  # the demo's feeds, every one, in Thunderbird's parser
    assert sum(len(parsed[str(p)]["events"]) for p in feeds) == len(doc["appointments"])
    staff = (tmp_path / "feeds" / "staff-N1.ics").read_text()
    assert "Esketamine" in staff or "IV ketamine" in staff  # staff feeds may say more


def test_patient_detail_is_opt_in(tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """A clinic may opt in to more detail per feed kind."""
    scenario, doc = tiny
    opted = scenario.model_copy(update={"feeds": scenario.feeds.model_copy(
        update={"patient_detail": True, "staff_detail": False})})
    files, _ = build_feeds(opted, doc, {}, NOW)
    summaries = {str(e["SUMMARY"]) for e in _parse(files["patient-P001.ics"]).walk("VEVENT")}
    assert summaries == {"Esketamine 84 mg — Tiny Clinic"}
    staff = {str(e["SUMMARY"]) for e in _parse(files["staff-N1.ics"]).walk("VEVENT")}
    assert all(s.startswith("Session — ") for s in staff)


def test_staff_feed_shows_hands_on_and_monitoring(tiny: tuple[Scenario, dict[str, Any]]
                                                  ) -> None:
    scenario, doc = tiny
    files, _ = build_feeds(scenario, doc, {}, NOW)
    events = list(_parse(files["staff-N1.ics"]).walk("VEVENT"))
    assert len(events) == len(doc["appointments"])
    esk = next(e for e in events if "Esketamine" in str(e["SUMMARY"]))
    description = str(esk["DESCRIPTION"])
    assert re.search(r"intake \d\d:\d\d–\d\d:\d\d \(hands-on\)", description)
    assert re.search(r"monitoring \d\d:\d\d–\d\d:\d\d \(monitor\)", description)
    assert re.search(r"discharge \d\d:\d\d–\d\d:\d\d \(hands-on\)", description)
    assert "prescriber" not in str(esk["SUMMARY"]).lower()
    assert not _events(files["staff-D1.ics"])  # on-site coverage is not an assignment


def test_patient_reminder_the_evening_before(tiny: tuple[Scenario, dict[str, Any]]) -> None:
    scenario, doc = tiny
    files, _ = build_feeds(scenario, doc, {}, NOW)
    for event in _parse(files["patient-P001.ics"]).walk("VEVENT"):
        (alarm,) = event.walk("VALARM")
        trigger = alarm.decoded("TRIGGER")
        local = trigger.astimezone(scenario.tz)
        start = event.decoded("DTSTART")
        assert local.date() == start.date() - timedelta(days=1)
        assert (local.hour, local.minute) == (18, 0)
    quiet = scenario.model_copy(update={"feeds": scenario.feeds.model_copy(
        update={"patient_reminder": None})})
    files, _ = build_feeds(quiet, doc, {}, NOW)
    assert b"VALARM" not in files["patient-P001.ics"]


def test_ical_js_reads_what_icalendar_reads(tiny: tuple[Scenario, dict[str, Any]],
                                            tmp_path: Path) -> None:
    """Round trip: same events, same instants, in icalendar 7 and in Mozilla's ical.js."""
    scenario, doc = tiny
    publish_feeds(scenario, doc, tmp_path, NOW)
    paths = sorted((tmp_path / "feeds").glob("*.ics"))
    parsed = _ical_js(paths)
    for path in paths:
        js = parsed[str(path)]
        assert js["prodid"] == "-//Chairtime//Chairtime feeds 1.0//EN" and js["method"] is None
        py = _events(path.read_bytes())
        assert {e["uid"] for e in js["events"]} == set(py)
        for e in js["events"]:
            event = py[e["uid"]]
            assert datetime.fromisoformat(e["start"].replace("Z", "+00:00")) == \
                event.decoded("DTSTART").astimezone(UTC)
            assert datetime.fromisoformat(e["end"].replace("Z", "+00:00")) == \
                event.decoded("DTEND").astimezone(UTC)
            assert e["summary"] == str(event["SUMMARY"])
            assert e["sequence"] == int(event["SEQUENCE"])


def test_render_all_covers_every_person_and_room(tiny: tuple[Scenario, dict[str, Any]]
                                                 ) -> None:
    scenario, doc = tiny
    files, _ = build_feeds(scenario, doc, {}, NOW)
    expected = {"clinic.ics", *(f"patient-{p.id}.ics" for p in scenario.patients),
                *(f"staff-{s.id}.ics" for s in scenario.staff),
                *(f"room-{r.id}.ics" for r in scenario.rooms)}
    assert set(files) == expected
    assert render_all({}, FeedOptions(name="x", timezone="UTC"), Directory()).keys() == {
        "clinic.ics"}


def test_failed_publish_keeps_the_last_feeds(tiny: tuple[Scenario, dict[str, Any]],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure mid-publish leaves the last published feeds intact."""
    scenario, doc = tiny
    publish_feeds(scenario, doc, tmp_path, NOW)
    before = {p.name: p.read_bytes() for p in (tmp_path / "feeds").iterdir()}
    moved = copy.deepcopy(doc)
    shift(moved["appointments"][1], 60)
    calls = {"n": 0}
    real = Path.write_bytes

    def flaky(self: Path, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError, match="disk full"):
        publish_feeds(scenario, moved, tmp_path, LATER)
    after = {p.name: p.read_bytes() for p in (tmp_path / "feeds").iterdir()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".feeds")] == []


# ----------------------------------------------------------------------------- issue 21
NAMES = {"P001": "Pat Example", "P002": "Quinn Rivers", "P003": "Sam Tate", "P004": "Uma Vance"}


def _named(scenario: Scenario, **feeds: Any) -> Scenario:
    """``scenario`` with its patients named (so initials can show) and ``feeds`` set."""
    patients = [p.model_copy(update={"name": NAMES[p.id]}) for p in scenario.patients]
    return scenario.model_copy(update={"patients": patients,
                                       "feeds": scenario.feeds.model_copy(update=feeds)})


def _texts(body: bytes) -> list[str]:
    return [str(e.get(field, "")) for e in _parse(body).walk("VEVENT")
            for field in ("SUMMARY", "DESCRIPTION", "LOCATION")]


def test_room_and_clinic_feeds_carry_no_drug_dose_or_initials_by_default(
        tiny: tuple[Scenario, dict[str, Any]]) -> None:
    """Issue 21: room and clinic feeds (links that a whole team shares) default to the minimum
    necessary: the room is busy, nothing of the treatment or the patient. Initials only where
    the clinic asks (feeds.room_initials, feeds.clinic_initials), the protocol only with
    room_detail / clinic_detail; a staff member's own feed keeps its detail."""
    scenario, doc = tiny
    telling = [*(p.name for p in scenario.protocols), *(p.id for p in scenario.protocols),
               "mg", *(ph.name for p in scenario.protocols for ph in p.phases)]
    initials = ["P.E.", "Q.R.", "S.T.", "U.V.", *NAMES.values()]
    shared = ["clinic.ics", *(f"room-{r.id}.ics" for r in scenario.rooms)]

    files, _ = build_feeds(_named(scenario), doc, {}, NOW)
    events = 0
    for name in shared:
        for text in _texts(files[name]):
            assert not [w for w in [*telling, *initials] if w.lower() in text.lower()], \
                (name, text)
        events += len(_events(files[name]))
    assert events == 2 * len(doc["appointments"])  # every session still in both
    assert {str(e["SUMMARY"]) for e in _parse(files["clinic.ics"]).walk("VEVENT")} == {
        "Session — Room 1", "Session — Bay 2"}
    staff = "\n".join(_texts(files["staff-N1.ics"]))
    assert "Esketamine 84 mg" in staff and "P.E." in staff  # the nurse's own feed says more

    files, _ = build_feeds(_named(scenario, room_initials=True, clinic_initials=True), doc, {},
                           NOW)
    for name in shared:
        texts = _texts(files[name])
        assert not [w for w in telling if any(w.lower() in t.lower() for t in texts)], name
        assert {t.split(" — ", 1)[1].split(" (")[0] for t in texts[::3]} <= {
            "P.E.", "Q.R.", "S.T.", "U.V."}, texts[::3]
    assert any(str(e["SUMMARY"]).startswith("Session — P.E. (")
               for e in _parse(files["clinic.ics"]).walk("VEVENT"))

    files, _ = build_feeds(_named(scenario, room_detail=True), doc, {}, NOW)  # opted in
    assert "Esketamine 84 mg — P.E." in _texts(files["room-R2.ics"])
    assert not any("Esketamine" in t for t in _texts(files["clinic.ics"]))


def test_a_newline_or_bare_cr_in_a_name_never_breaks_a_feed(
        tiny: tuple[Scenario, dict[str, Any]], tmp_path: Path) -> None:
    """Issue 21: a newline in a room, staff or clinic name made icalendar refuse the feed
    (publishing failed with a 500), and a bare CR reached NAME and X-WR-CALNAME unescaped.
    Validation refuses such names now; the renderer strips control characters regardless,
    so every feed parses in icalendar and in ical.js with each name intact but for them."""
    scenario, doc = tiny
    ugly = Directory(
        patients={"P001": "Pat\nExample", "P003": "Sam\x00\rTate"},
        protocols={"esk-84": "Esk\r84\x1b[2J", "iv-ketamine": "IV\u2028ket\x85amine"},
        rooms={"R1": "Room\n1\rA\x00B\x1bC", "R2": "Bay\r\n2\t"},
        staff={"N1": "Nurse\r\nOne\x07", "D1": "Doc\x7fOne"},
        modes={"esk-84": {"nurse": {"intake": "hands_on"}}})
    options = FeedOptions(name="Tiny\rClinic\n", timezone=scenario.clinic.timezone,
                          address="1 Main St\r\nSpringfield\x00", arrival="Ring\rthe\x1bbell",
                          detail={"patient": True, "staff": True, "room": True, "clinic": True})
    state = advance({}, doc["appointments"], NOW)
    files = render_all(state, options, ugly, patients=["P001", "P003"], staff=["N1", "D1"],
                       rooms=["R1", "R2"])
    titles = {"room-R1.ics": "Room 1 ABC — Tiny Clinic ",
              "room-R2.ics": "Bay 2  — Tiny Clinic ",
              "staff-N1.ics": "Nurse One — Tiny Clinic ", "patient-P001.ics": "Tiny Clinic ",
              "clinic.ics": "All sessions — Tiny Clinic "}
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
        assert body.endswith(b"\r\n")
        for line in body.split(b"\r\n"):
            assert not re.search(rb"[\x00-\x1f\x7f]", line), (name, line)
            assert b"\xc2\x85" not in line and "\u2028".encode() not in line
        calendar = _parse(body)
        if name in titles:
            assert str(calendar["NAME"]) == str(calendar["X-WR-CALNAME"]) == titles[name]
    room = {str(e["SUMMARY"]) for e in _parse(files["room-R1.ics"]).walk("VEVENT")}
    assert "IV ket amine — S.T." in room  # P003's IV sessions in Room 1
    assert room <= {"IV ket amine — S.T.", "IV ket amine — patient"}  # P004 has no name
    location = {str(e["LOCATION"]) for e in _parse(files["clinic.ics"]).walk("VEVENT")}
    assert location == {"Room 1 ABC", "Bay 2 "}
    patient = _parse(files["patient-P001.ics"]).walk("VEVENT")[0]
    assert str(patient["SUMMARY"]) == "Esk 84[2J — Tiny Clinic "
    assert str(patient["LOCATION"]) == "1 Main St Springfield"
    assert str(patient["DESCRIPTION"]) == "Ring\nthebell"  # a multi-line text keeps its lines
    staff = _parse(files["staff-N1.ics"]).walk("VEVENT")[0]
    assert "Nurse\nOne" in str(staff["DESCRIPTION"])
    paths = sorted(tmp_path.glob("*.ics"))
    parsed = _ical_js(paths)  # Thunderbird's parser reads the same names and events
    for path in paths:
        js, py = parsed[str(path)], _events(path.read_bytes())
        if path.name in titles:
            assert js["name"] == titles[path.name]
        assert {e["uid"] for e in js["events"]} == set(py)
        for e in js["events"]:
            assert e["summary"] == str(py[e["uid"]]["SUMMARY"])
            assert e["location"] == str(py[e["uid"]]["LOCATION"])
