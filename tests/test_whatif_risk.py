"""What-if variants for the day's risk: overbooking for no-shows and room before closing, each
variant's schedule replayed (placed sessions and risk side by side)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scheduler.usecases.whatif import WhatIfOptions, local_pool, read_plan, run_whatif
from scheduler.usecases.whatif.report import write_report
from scheduler.validate import validate_scenario
from tests.test_whatif import _edited, _problems, _week


def test_overbook_adds_one_session_of_the_protocol_per_open_day() -> None:
    week = _week()
    edited = _edited({"overbook": {"protocol": "esk", "extra": 1}})
    added = [p for p in edited.patients if p.id not in {q.id for q in week.patients}]
    assert len(added) == 2  # Monday and Tuesday open
    assert all(p.protocol == "esk" and p.sessions == 1 and "-ob" in p.id for p in added)
    assert _problems({"overbook": {"protocol": "nope", "extra": 0}}) == [
        "variants[0] (v).edits[0].overbook.extra: input should be greater than or equal to 1"]


def test_overbook_names_an_unknown_protocol() -> None:
    assert _problems({"overbook": {"protocol": "iv"}}) == [
        "variants[0] (v).edits[0].overbook.protocol: unknown protocol 'iv' (known: esk)"]


def test_buffer_ends_the_clinics_hours_and_every_shift_earlier_on_its_days() -> None:
    edited = _edited({"buffer": {"minutes": 30, "days": ["mon"]}})
    assert [list(s) for s in edited.clinic.hours["mon"]] == [["08:00", "17:30"]]
    assert [list(s) for s in edited.clinic.hours["tue"]] == [["08:00", "18:00"]]
    assert all([list(s) for s in p.shifts.get("mon", [])] in ([], [["08:00", "17:30"]])
               for p in edited.staff)


@pytest.mark.solve
def test_the_what_if_weighs_placed_sessions_against_the_days_risk(tmp_path: Path) -> None:
    week = _week()
    plan = read_plan({"variants": [
        {"name": "overbook esk by one", "edits": [{"overbook": {"protocol": "esk"}}]},
        {"name": "room before closing", "edits": [{"buffer": {"minutes": 30}}]}]}, week)
    result = run_whatif(week, plan, WhatIfOptions(time_limit=2, headroom=False,
                                                  bottleneck=False, risk_runs=300),
                        local_pool(1))
    rows = {o.name: o.row() for o in result.outcomes}
    for row in rows.values():
        assert 0 <= row["risk_overtime_15"] <= 1 and 0 <= row["risk_worst_day"] <= 1
        assert row["risk_worst_day"] <= row["risk_overtime_15"]
    assert rows["overbook esk by one"]["wanted"] == rows["base"]["wanted"] + 2
    write_report(result, tmp_path)
    assert (tmp_path / "charts" / "risk.png").stat().st_size > 1000
    with (tmp_path / "comparison.csv").open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert {"risk_overtime_15", "risk_worst_day", "risk_overtime_minutes",
            "risk_idle_chair_minutes"} <= set(header)
    quiet = run_whatif(week, read_plan({"variants": []}, week),
                       WhatIfOptions(time_limit=2, headroom=False, bottleneck=False,
                                     risk_runs=0), local_pool(1))
    assert quiet.outcomes[0].row()["risk_overtime_15"] == ""


@pytest.mark.solve
def test_room_before_closing_is_judged_by_the_real_hours_not_the_booking_rule() -> None:
    """The patient comes at 10:30 for a session that ends at closing (13:00). The variant opens
    half an hour longer but keeps that half hour free of bookings: the same session, now 30
    minutes from the real closing, where only a delay of more than 45 minutes makes overtime
    beyond 15. Judged by the booking rule's hours instead, both would carry the same risk."""
    from tests.test_robust import _late_patient

    clinic = validate_scenario(_late_patient())
    plan = read_plan({"variants": [{"name": "room", "edits": [
        {"add_hours": {"days": ["mon"], "hours": [["13:00", "13:30"]], "staff": ["N1", "D1"]}},
        {"buffer": {"minutes": 30, "days": ["mon"]}}]}]}, clinic)
    result = run_whatif(clinic, plan, WhatIfOptions(time_limit=2, headroom=False,
                                                    bottleneck=False, risk_runs=2000),
                        local_pool(1))
    base, room = (o.row() for o in result.outcomes)
    assert base["placed"] == room["placed"] == 1
    assert room["risk_worst_day"] < base["risk_worst_day"] / 2
