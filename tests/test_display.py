"""Display bugs of issue 22, each on the smallest week that shows it: the board's geometry
(prescriber band, nurse rows, room closures, the axis), the utilization table's counts and a
course's next due day. The pages that show them are tests/test_pages_desk.py and
tests/test_pages_manager.py; the tablet width is tests/test_pages.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.check import check
from scheduler.documents import Schedule
from scheduler.service.board import day_panels
from scheduler.service.reports import count_week
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.validate import validate_scenario
from scheduler.worker import run_job
from tests.conftest import scenario_dict
from tests.test_feeds_http import feeds_service
from tests.test_pages_desk import csrf, sign_in
from tests.test_service import Service, small_clinic
from tests.test_video_and_steps import fixture

NY = ZoneInfo("America/New_York")
FRIDAY = date(2026, 12, 11)


def _esk(aid: str, patient: str, start: datetime, room: str = "R1") -> dict[str, Any]:
    """An esketamine session (10 + 15 + 120 + 5 minutes) with nurse N1, as schedule.json has it."""
    phases, t = [], start
    for name, minutes in (("intake", 10), ("dosing", 15), ("monitoring", 120),
                          ("discharge", 5)):
        phases.append({"name": name, "start": t.isoformat(),
                       "end": (t + timedelta(minutes=minutes)).isoformat()})
        t += timedelta(minutes=minutes)
    return {"id": aid, "patient": patient, "protocol": "esk", "room": room,
            "staff": {"nurse": "N1"}, "start": start.isoformat(), "end": t.isoformat(),
            "phases": phases}


def _friday(**staff: Any) -> dict[str, Any]:
    """The demo's Friday: open 08:00-18:00, Dr. Lin 07:45-16:30, Dr. Reyes off that day."""
    data = scenario_dict(patients=[{"id": "P01", "protocol": "esk", "sessions": 1,
                                    "name": "Ana Ruiz"}])
    data["clinic"]["hours"] = {"fri": [["08:00", "18:00"]]}
    data["horizon"] = {"start": FRIDAY.isoformat(), "days": 1}
    data["staff"] = [
        {"id": "N1", "name": "Dana Fischer", "role": "nurse", "qualifications": ["spravato"],
         "max_patients": 4, "shifts": {"fri": [["08:00", "18:00"]]}},
        {"id": "D1", "name": "Dr. Grace Lin", "role": "prescriber", "max_patients": 0,
         "shifts": {"fri": [["07:45", "16:30"]]}},
        {"id": "D2", "name": "Dr. Hugo Reyes", "role": "prescriber", "max_patients": 0,
         "shifts": {"fri": [["12:00", "18:00"]]}, "time_off": [FRIDAY.isoformat()]},
    ]
    data.update(staff)
    return data


def test_prescriber_band_is_the_checkers_cover_not_a_quarter_hour_short() -> None:
    """Friday 16:15-16:25 was red ("prescriber needed, none on shift") while Dr. Lin works to
    16:30 and ``check`` said valid: a shift starting before the doors was drawn ending early."""
    scenario = validate_scenario(_friday())
    start = datetime(2026, 12, 11, 14, 0, tzinfo=NY)  # monitoring 14:25-16:25
    doc = {"appointments": [_esk("A1", "P01", start)]}
    assert check(scenario, doc) == []
    [panel] = day_panels(scenario, Schedule.from_json(doc), [FRIDAY])
    assert [(s.x, s.x + s.w) for s in panel.prescribers] == [(0, 8 * 60 + 30)]  # to 16:30
    assert panel.needs_prescriber and panel.uncovered == []


def test_prescriber_band_shows_a_gap_where_check_finds_one() -> None:
    """The other way round: a session monitored past 16:30 is red on the board exactly when
    ``check`` names the on-site rule."""
    scenario = validate_scenario(_friday())
    start = datetime(2026, 12, 11, 14, 30, tzinfo=NY)  # monitoring 14:55-16:55
    doc = {"appointments": [_esk("A1", "P01", start)]}
    assert [v.rule for v in check(scenario, doc)] == ["on_site"]
    [panel] = day_panels(scenario, Schedule.from_json(doc), [FRIDAY])
    assert [(s.x, s.x + s.w) for s in panel.uncovered] == [(8 * 60 + 30, 8 * 60 + 55)]


def test_nurses_view_lists_no_prescriber_as_zero_of_zero() -> None:
    scenario = validate_scenario(_friday())
    doc = {"appointments": [_esk("A1", "P01", datetime(2026, 12, 11, 9, 0, tzinfo=NY))]}
    [panel] = day_panels(scenario, Schedule.from_json(doc), [FRIDAY])
    assert [(n.id, n.name, n.max_patients) for n in panel.nurses] == [("N1", "Dana Fischer", 4)]
    # a nurse's shift is as long as it is (it was drawn to its end minus its start's offset)
    assert [(s.x, s.w) for s in panel.nurses[0].shifts] == [(0, 600)]


def test_room_closures_are_shaded_on_the_board() -> None:
    """A closed afternoon looked free: the lane carries its closed stretches."""
    data = _friday()
    data["rooms"] = [{"id": "R1", "name": "Suite", "features": ["recliner"], "chairs": 2,
                      "closures": [{"date": FRIDAY.isoformat(), "from": "13:00"}]},
                     {"id": "R2", "features": ["recliner"],
                      "hours": {"fri": [["09:00", "17:00"]]}}]
    scenario = validate_scenario(data)
    [panel] = day_panels(scenario, Schedule.from_json({"appointments": []}), [FRIDAY])
    closed = {lane.label: [(s.x, s.x + s.w) for s in lane.closed] for lane in panel.lanes}
    assert closed == {"Suite · 1": [(300, 600)], "Suite · 2": [(300, 600)],
                      "R2": [(0, 60), (540, 600)]}


# ----------------------------------------------------------------------------- the pages
def named_clinic() -> dict[str, Any]:
    """The small clinic (Mon-Tue, P01-P03, N1, D1, R1, R2) with everyone and every room named,
    and R2 closed on Tuesday afternoon."""
    data = small_clinic()
    for p, name in zip(data["patients"], ("Ana Ruiz", "Ben Okafor", "Chen Wei"), strict=True):
        p["name"] = name
    data["staff"][0]["name"] = "Dana Fischer"
    data["staff"][1]["name"] = "Dr. Grace Lin"
    data["rooms"][0]["name"] = "Quiet suite"
    data["rooms"][1]["name"] = "Garden bay"
    data["rooms"][1]["closures"] = [{"date": "2026-12-08", "from": "13:00"}]
    return data


@pytest.fixture
def named(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The named small clinic with a solved draft, the front desk signed in."""
    with feeds_service(database_url, tmp_path) as service:
        with session_scope(service.client.app.state.sessions) as session:  # type: ignore[attr-defined]
            repo.add_scenario_version(session, repo.clinic(session, 1), named_clinic())
        service.draft()
        sign_in(service.client, "front_desk")
        yield service


def test_board_axis_ends_on_a_whole_18_00_and_closed_rooms_are_shaded(named: Service) -> None:
    """"18:00" was clipped to "18" at the right edge; a closed afternoon looked free."""
    day = named.client.get("/board?zoom=day&day=2026-12-08").text
    last = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', day)[-1]
    assert last == "18:00"
    assert re.search(r'<text class="tick" x="[\d.]+" y="\d+" text-anchor="end">18:00</text>', day)
    closed = re.findall(r'<rect class="closed" x="([\d.]+)"[^>]*width="([\d.]+)"[^>]*>'
                        r'<title>([^<]+)</title>', day)
    assert [(float(x), float(w), t) for x, w, t in closed] == [
        (150 + 300 * 1.25, 300 * 1.25, "Garden bay closed")]
    assert "room closed" in day
    monday = named.client.get("/board?zoom=day&day=2026-12-07").text
    assert '<rect class="closed"' not in monday


def test_nurses_view_shows_no_prescriber_as_zero_of_zero_page(named: Service) -> None:
    nurses = named.client.get("/board?view=nurses&zoom=day&day=2026-12-07").text
    labels = re.findall(r'<text class="lane-label"[^>]*>([^<]+)</text>', nurses)
    assert "(0/0)" not in nurses
    assert labels[0] == "Prescriber" and labels[1].startswith("Dana Fischer (")
    assert not any("Grace Lin" in label for label in labels)


def test_utilization_counts_kap_follow_ups_as_wanted_integration_sessions() -> None:
    """The KAP row said wanted 5, placed 9: follow-ups were counted as placed dosings and never
    as wanted, and ``kap-integration`` had no row."""
    scenario = validate_scenario(fixture())
    at = datetime(2026, 12, 7, 9, 0, tzinfo=NY)

    def appt(aid: str, patient: str, protocol: str, days: int) -> dict[str, Any]:
        t = at + timedelta(days=days)
        return {"id": aid, "patient": patient, "protocol": protocol, "room": None,
                "staff": {}, "start": t.isoformat(), "end": t.isoformat(), "phases": []}

    doc = Schedule.from_json({"appointments": [
        appt("A1", "P2", "kap", 0), appt("A2", "P2", "kap-integration", 2),
        appt("A3", "P3", "kap", 1)], "unplaced": [
        {"patient": "P3", "sessions": 1,
         "reason": "kap-integration follow-up: no open clinic day 1-3 days after Tue"}]})
    table: dict[str, dict[str, Any]] = {}
    count_week(table, scenario, doc)
    rows = {k: (v["wanted"], v["placed"], v["unplaced"]) for k, v in table.items()}
    assert rows == {"kap": (2, 2, 0), "kap-integration": (2, 1, 1)}
    assert table["kap-integration"]["reasons"] == {  # in names, as the page shows them
        "KAP integration (video) follow-up: no open clinic day 1-3 days after Tue": 1}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_replan_form_accepts_a_name_not_only_an_id(named: Service) -> None:
    """The re-plan form refused "Dana Fischer" and wanted "N4": people, rooms and patients are
    picked by name (selects whose options say "Name · ID"), and a name typed is read too."""
    drafted = named.call("GET", "/clinics/1/schedules").json()[-1]
    form = named.client.get(f"/schedules/{drafted['id']}/replan")
    assert '<option value="N1" >Dana Fischer · N1</option>' in form.text
    assert '<option value="R2" >Garden bay · R2</option>' in form.text
    assert re.search(r'<option value="P01" >Ana Ruiz · P01', form.text)
    answer = named.client.post(f"/schedules/{drafted['id']}/replan", data={
        "csrf": csrf(form.text),
        "type": "staff_absent", "staff": "Dana Fischer", "date": "2026-12-08"},
        follow_redirects=False)
    assert answer.status_code == 303, _text(answer.text)
    job = answer.headers["location"].removeprefix("/jobs/")
    with session_scope(named.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert repo.job(session, job).params["events"] == [
            {"type": "staff_absent", "staff": "N1", "date": "2026-12-08"}]


def test_chairs_view_day_sheet_and_appointment_show_names_not_codes(named: Service) -> None:
    """The chairs view, the printed day sheet and the appointment page said N4, R1, SUITE:
    names, with the id small beside where it helps."""
    day = named.client.get("/board?zoom=day&day=2026-12-07").text
    sheet = day.split('<table class="day-sheet">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", sheet)
    assert "Dana Fischer" in cells and ("Quiet suite" in cells or "Garden bay" in cells)
    assert not {"N1", "R1", "R2", "D1"} & set(cells)
    labels = re.findall(r'<text class="appt-label[^"]*"[^>]*>([^<]+)</text>', day)
    assert labels and all(" · N1" not in x for x in labels)
    assert any(x.endswith(" · Dana") for x in labels)
    link = re.search(r'href="(/schedules/\d+/appointments/[^"]+)"', day)
    assert link is not None
    page = _text(named.client.get(link.group(1)).text)
    assert re.search(r"Patient (Ana Ruiz|Ben Okafor|Chen Wei) P0\d", page)
    assert re.search(r"Room (Quiet suite R1|Garden bay R2)", page)
    assert "nurse: Dana Fischer N1" in page


def test_changes_table_shows_names_not_codes(named: Service) -> None:
    """A re-plan's changes table said "R1 · N1": rooms and staff by name."""
    drafted = named.call("GET", "/clinics/1/schedules").json()[-1]
    first = named.call("GET", f"/schedules/{drafted['id']}").json()["schedule"][
        "appointments"][0]
    form = named.client.get(f"/schedules/{drafted['id']}/replan")
    answer = named.client.post(f"/schedules/{drafted['id']}/replan", data={
        "csrf": csrf(form.text),
        "type": "cancel", "appointment": first["id"]}, follow_redirects=False)
    assert answer.status_code == 303, _text(answer.text)
    job = answer.headers["location"].removeprefix("/jobs/")
    with session_scope(named.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert repo.claim_job(session, job)
    run_job(named.url, job)
    newest = named.call("GET", "/clinics/1/schedules").json()[-1]
    assert newest["id"] != drafted["id"]
    table = named.client.get(f"/schedules/{newest['id']}/changes").text
    rows = " ".join(b.split("</tbody>", 1)[0] for b in table.split("<tbody>")[1:])
    assert "Dana Fischer" in rows and ("Quiet suite" in rows or "Garden bay" in rows)
    assert not re.search(r"· (R1|R2|N1) ", _text(rows))


def test_times_on_pages_are_the_clinics_local_time_not_utc(named: Service) -> None:
    """The schedules list and the feed-link notice were in UTC while the clinic runs on New
    York time."""
    board = named.client.get("/board").text
    schedules = board.split('<ul class="schedules">', 1)[1].split("</ul>", 1)[0]
    with session_scope(named.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        made = repo.schedules(session, 1)[-1].created_at
    assert f"{made.astimezone(NY):%a %d %b %H:%M}" in schedules and "UTC" not in schedules
    token = csrf(board)
    named.client.post("/patients/P01/feed", data={"csrf": token, "action": "issue"})
    notice = _text(named.client.get("/patients/P01").text)
    with session_scope(named.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        link = repo.live_feed_token(session, 1, "patient", "P01")
        assert link is not None
        issued = link.created_at
    assert f"in force since {issued.astimezone(NY):%a %d %b %Y %H:%M}." in notice
    assert "UTC" not in notice
