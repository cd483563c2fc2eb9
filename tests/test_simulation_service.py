"""The day's risk in the service, on SQLite and on PostgreSQL: the board's badge and fragile
sessions, and a simulation as a job of the API whose figures are its result."""

from __future__ import annotations

import re

from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.worker import run_job
from tests.test_pages_desk import desk  # noqa: F401  (the fixture)
from tests.test_service import Service


def test_the_board_marks_each_days_risk_and_its_fragile_sessions(desk: Service) -> None:  # noqa: F811
    board = desk.client.get("/board")
    assert board.status_code == 200
    badges = re.findall(r'<span class="risk (low|some|high)"\s+title="Simulated: (\d+) % chance',
                        board.text)
    assert badges, "a badge beside each day with sessions"
    assert all(0 <= int(p) <= 100 for _, p in badges)
    assert "% risk of overtime &gt; 15 min" in board.text
    again = desk.client.get("/board")  # the same schedule version: the same figures (cached)
    assert re.findall(r'class="risk [a-z]+"', again.text) == re.findall(
        r'class="risk [a-z]+"', board.text)


def test_a_simulation_is_a_job_whose_figures_are_its_result(desk: Service) -> None:  # noqa: F811
    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    path = f"/schedules/{drafted['id']}/simulate"
    assert desk.call("POST", path, role=None, json={}).status_code == 401
    bad = desk.call("POST", path, role="front_desk", json={"runs": 5, "seed": -1})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["detail"]} == {"body.runs", "body.seed"}
    assert desk.call("POST", "/schedules/999/simulate", role="front_desk",
                     json={}).status_code == 404
    queued = desk.call("POST", path, role="front_desk", json={"runs": 300, "seed": 7})
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["kind"] == "simulate" and job["status"] == "queued" and job["result"] is None
    with session_scope(desk.client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert repo.claim_job(session, job["id"])
    run_job(desk.url, job["id"])  # as the job runner does, in this process
    done = desk.call("GET", f"/jobs/{job['id']}", role="front_desk").json()
    assert done["status"] == "done", done
    result = done["result"]
    assert result["runs"] == 300 and result["seed"] == 7
    assert {"days", "weeks", "fragile", "settings"} <= set(result)
    assert all(0 <= d["p_overtime"] <= 1 for d in result["days"])
