"""The manager's pages, each test on SQLite and on PostgreSQL: signed in through the real form;
a front-desk account gets 403 on every page and chart, a signed-out browser the sign-in page;
a what-if run on a small clinic from the form to the job to the comparison and its charts; bad
variants come back beside the box with what was typed (422) and queue nothing; utilization
before and after a publish."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.api.app import create_app
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope
from scheduler.storage.tables import Job
from scheduler.usecases import plan_week
from scheduler.validate import validate_scenario
from scheduler.worker import JobRunner, run_job
from solver import Options
from tests.conftest import DEMO_CLOCK, password_hash
from tests.test_service import small_clinic

PASSWORD = "correct horse battery"
MANAGER_PAGES = ("/whatif", "/utilization")
ONE_MORE_CHAIR = """variants:
  - name: one more chair
    edits: [{add_chairs: {room: R1, chairs: 1}}]
"""


@dataclass
class Site:
    client: TestClient
    url: str
    data_dir: Path

    def sessions(self) -> Any:
        return self.client.app.state.sessions  # type: ignore[attr-defined]

    def csrf(self, path: str) -> str:
        html = self.client.get(path).text
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
        assert found, html
        return found.group(1)

    def sign_in(self, role: str) -> None:
        self.client.cookies.clear()
        answer = self.client.post("/login", data={
            "email": f"{role}@example.org", "password": PASSWORD, "next": "/board",
            "csrf": self.csrf("/login")}, follow_redirects=False)
        assert answer.status_code == 303, answer.text

    def run(self, **form: Any) -> Any:
        data = {"csrf": self.csrf("/whatif"), "time_limit": "1", **form}
        return self.client.post("/whatif", data=data, follow_redirects=False)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, time_limit=2,
                        clock=DEMO_CLOCK)
    app = create_app(settings, run_jobs=False)
    with TestClient(app) as client:
        with session_scope(app.state.sessions) as session:
            for role in ("front_desk", "manager"):
                repo.add_user(session, f"{role}@example.org", password_hash(PASSWORD), role)
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(small_clinic()))
        yield Site(client, database_url, tmp_path)


def _jobs(site: Site) -> int:
    with session_scope(site.sessions()) as session:
        return len(session.query(Job).all())


# ----------------------------------------------------------------------------- who may
def test_signed_out_browsers_are_sent_to_sign_in(site: Site) -> None:
    for path in (*MANAGER_PAGES, "/whatif/" + "0" * 32, f"/whatif/{'0' * 32}/charts/x.png"):
        answer = site.client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=/"), path


def test_front_desk_gets_403_on_every_manager_page_and_chart(site: Site) -> None:
    site.sign_in("manager")
    answer = site.run(variants=ONE_MORE_CHAIR)
    job = answer.headers["location"].removeprefix("/jobs/")
    site.sign_in("front_desk")
    for path in (*MANAGER_PAGES, f"/whatif/{job}", f"/whatif/{job}/charts/headroom.png",
                 f"/whatif/{job}/comparison.csv", f"/whatif?again={job}"):
        assert site.client.get(path).status_code == 403, path
    page = site.client.get("/whatif")
    assert "This page is for manager, admin" in page.text
    assert 'href="/whatif"' not in site.client.get("/board").text  # not in the menu either
    posted = site.client.post("/whatif", data={"csrf": site.csrf("/board"),
                                               "variants": ONE_MORE_CHAIR})
    assert posted.status_code == 403
    assert _jobs(site) == 1


def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    site.sign_in("manager")
    answer = site.client.post("/whatif", data={"variants": ONE_MORE_CHAIR, "time_limit": "1"})
    assert answer.status_code == 403
    assert _jobs(site) == 0


# ----------------------------------------------------------------------------- what-if
@pytest.mark.solve
@pytest.mark.slow
def test_whatif_from_the_form_to_the_comparison_and_its_charts(site: Site) -> None:
    site.sign_in("manager")
    form = site.client.get("/whatif")
    assert form.status_code == 200
    assert 'name="csrf"' in form.text and "/static/manager.css" in form.text
    assert "nurses 1:5" in form.text  # a preset that fits the small clinic is offered
    assert re.search(r'id="preset-0"[^>]*disabled', form.text)  # "one more chair" needs BAY
    for name in ("f-variants", "f-time_limit", "f-headroom", "f-bottleneck"):
        assert f'<label for="{name}"' in form.text

    answer = site.run(preset="3", variants=ONE_MORE_CHAIR, bottleneck="on")  # no headroom
    assert answer.status_code == 303
    job_id = answer.headers["location"].removeprefix("/jobs/")
    # not yet run: the result page sends the manager to the job's progress
    waiting = site.client.get(f"/whatif/{job_id}", follow_redirects=False)
    assert waiting.headers["location"] == f"/jobs/{job_id}"
    with session_scope(site.sessions()) as session:
        job = repo.job(session, job_id)
        assert job.kind == "whatif" and job.params["names"] == ["nurses 1:5", "one more chair"]
        assert job.params["out"] == str(site.data_dir / "whatif" / job_id)
        assert repo.claim_job(session, job_id)
    run_job(site.url, job_id)
    with session_scope(site.sessions()) as session:
        job = repo.job(session, job_id)
        assert (job.status, job.error) == ("done", None)
        assert job.progress is not None and job.progress["done"] == job.progress["total"]
    progress = site.client.get(f"/jobs/{job_id}/progress.json").json()
    assert progress["next"] == f"/whatif/{job_id}"

    result = site.client.get(f"/whatif/{job_id}")
    assert result.status_code == 200
    text = result.text
    assert "style=" not in text and "<script>" not in text
    for name in ("base", "nurses 1:5", "one more chair"):
        assert f'<th scope="row">{name}</th>' in text
    assert "The bottleneck is" in text or "No single resource" in text
    charts = re.findall(r'<img src="(/whatif/[0-9a-f]+/charts/[a-z0-9-]+\.png)" alt="([^"]+)"',
                        text)
    names = {src.rsplit("/", 1)[1] for src, _ in charts}
    assert {"headroom.png", "bottlenecks.png", "protocols.png", "usage-base.png",
            "usage-one-more-chair.png", "usage-nurses-1-5.png", "risk.png"} <= names
    # placed sessions and the simulated risk side by side, the figures as text too
    assert "Placed sessions against the day&#39;s risk" in text or \
        "Placed sessions against the day's risk" in text
    assert re.search(r'<td class="num">\d+ %</td>', text)
    assert all(len(alt) > 40 for _, alt in charts)
    for src, _ in charts:
        image = site.client.get(src)
        assert image.status_code == 200, src
        assert image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
    # the heat maps' numbers are there as text, in tables with captions and scoped headers
    assert '<caption id="rooms-1-caption">Rooms used, base</caption>' in text
    assert re.search(r'<td class="h\d+">\d+%</td>', text)
    csv = site.client.get(f"/whatif/{job_id}/comparison.csv")
    assert csv.status_code == 200 and csv.text.startswith("variant,edits,status")
    assert site.client.get(f"/whatif/{job_id}/charts/nothing.png").status_code == 404
    assert site.client.get(f"/whatif/{job_id}/charts/..%2Fcomparison.png").status_code == 404
    assert site.client.get(f"/whatif/{job_id}/secrets.txt").status_code == 404

    listed = site.client.get("/whatif").text
    assert f'href="/whatif/{job_id}"' in listed and "base, nurses 1:5, one more chair" in listed
    again = site.client.get(f"/whatif?again={job_id}").text
    assert "add_chairs: {room: R1, chairs: 1}" in again
    assert re.search(r'id="preset-3"[^>]*checked', again, re.S)


def test_bad_yaml_comes_back_beside_the_box_with_the_text_kept(site: Site) -> None:
    site.sign_in("manager")
    typed = "variants:\n  - name: broken\n    edits: [{add_chairs: {room: R1, chairs: 1}\n"
    answer = site.run(variants=typed, time_limit="5")
    assert answer.status_code == 422
    field = answer.text.split('<label for="f-variants"', 1)[1].split("</textarea>", 1)[0]
    assert '<span class="message" id="e-variants-1">is not YAML:' in field
    assert "line 4" in field
    assert typed.replace("\n", "&#10;") in field or typed in field.replace("&#39;", "'")
    assert 'value="5"' in answer.text  # the time limit typed is kept too
    assert _jobs(site) == 0


def test_a_bad_edit_is_named_by_its_path_beside_the_box(site: Site) -> None:
    site.sign_in("manager")
    typed = ("variants:\n  - name: good\n    edits: [{add_chairs: {room: R1, chairs: 1}}]\n"
             "  - name: wrong room\n    edits: [{add_chairs: {room: NOPE, chairs: 1}}]\n")
    answer = site.run(variants=typed, preset="3", time_limit="0")
    assert answer.status_code == 422
    field = answer.text.split('<label for="f-variants"', 1)[1].split("</textarea>", 1)[0]
    messages = re.findall(r'<span class="message" id="e-variants-\d">([^<]+)</span>', field)
    assert len(messages) == 1
    assert messages[0].startswith("variants[1] (wrong room).edits[0].add_chairs.room: ")
    assert "NOPE" in messages[0]
    assert "wrong room" in field and "NOPE" in field.split("<textarea", 1)[1]
    assert "give seconds between 1 and 600" in answer.text  # every problem at once
    assert re.search(r'id="preset-3"[^>]*checked', answer.text, re.S)  # the ticks are kept
    assert _jobs(site) == 0


def test_a_name_taken_by_a_ticked_preset_is_refused(site: Site) -> None:
    site.sign_in("manager")
    typed = "- name: nurses 1:5\n  edits: [{set_role: {role: nurse, max_patients: 3}}]\n"
    answer = site.run(variants=typed, preset="3")
    assert answer.status_code == 422
    assert "variants[0] (nurses 1:5).name: is the name of a preset you ticked" in answer.text
    assert site.run(preset="0").status_code == 422  # a preset this clinic cannot use
    assert _jobs(site) == 0


# ----------------------------------------------------------------------------- utilization
def test_utilization_before_and_after_a_publish(site: Site) -> None:
    site.sign_in("manager")
    empty = site.client.get("/utilization")
    assert empty.status_code == 200
    assert "Nothing published yet" in empty.text and "<table class=\"heat\"" not in empty.text

    with session_scope(site.sessions()) as session:
        version = repo.scenario_version(session, 1)
        planned = plan_week(repo.scenario_of(version),
                            Options(time_limit=2, workers=1, soft_goals=False))
        row = repo.add_schedule(session, 1, version, planned.schedule)
        repo.publish(session, row, row.row_version, None)
    page = site.client.get("/utilization")
    assert page.status_code == 200
    text = page.text
    assert "style=" not in text and "<script>" not in text
    assert "2026-12-07 (2 days): version 1" in text
    for kind in ("chairs", "nurses", "prescribers"):
        table = text.split(f'<table class="heat" id="heat-{kind}">', 1)[1].split("</table>")[0]
        assert "<caption" in table and '<th scope="row">Mon</th>' in table
        assert '<th scope="row">Tue</th>' in table and '<th scope="row">Wed</th>' not in table
        assert re.search(r'<td class="h\d+">\d+%</td>', table)
    # three patients, one session each, in two chairs over two days: all placed, none unmet
    unmet = text.split('id="unmet-caption"', 1)[1].split("</table>")[0]
    assert re.search(r'<td class="num">3</td><td class="num">3</td><td class="num">0</td>',
                     unmet)


def test_a_whatif_job_that_fails_says_why_on_the_job_and_its_page(site: Site) -> None:
    """The clinic's data changed between the form and the run: the job fails with the edit's
    path, and the result page shows it (nothing lost, no 500)."""
    site.sign_in("manager")
    job_id = "f" * 32
    with session_scope(site.sessions()) as session:
        repo.add_job(session, job_id, 1, "whatif", {
            "scenario_version": 2, "time_limit": 1, "headroom": False, "bottleneck": False,
            "out": str(site.data_dir / "whatif" / job_id), "names": ["gone"],
            "variants": {"variants": [{"name": "gone", "edits": [
                {"add_chairs": {"room": "GONE", "chairs": 1}}]}]}})
        assert repo.claim_job(session, job_id)
    run_job(site.url, job_id)
    with session_scope(site.sessions()) as session:
        job = repo.job(session, job_id)
        assert job.status == "failed"
        assert job.error is not None and "variants[0] (gone).edits[0]" in job.error
    page = site.client.get(f"/whatif/{job_id}")
    assert page.status_code == 200 and "This run failed: variants[0] (gone)" in page.text
    assert "failed: variants[0] (gone)" in site.client.get("/whatif").text


def test_a_running_whatif_shows_the_lp_first_answers_on_its_page(site: Site) -> None:
    """While the solves run, the result page shows the LP's first answers from the job's
    progress (names, no ids; a queued job still sends the manager to its progress)."""
    from scheduler.service.whatif import FIRST

    site.sign_in("manager")
    job_id = "e" * 32
    with session_scope(site.sessions()) as session:
        repo.add_job(session, job_id, 1, "whatif", {
            "scenario_version": 1, "time_limit": 1, "names": ["one more chair"],
            "out": str(site.data_dir / "whatif" / job_id), "variants": {"variants": []}})
    queued = site.client.get(f"/whatif/{job_id}", follow_redirects=False)
    assert queued.status_code == 303 and queued.headers["location"] == f"/jobs/{job_id}"
    with session_scope(site.sessions()) as session:
        assert repo.claim_job(session, job_id)
    waiting = site.client.get(f"/whatif/{job_id}")
    assert waiting.status_code == 200 and "their first answers come here in seconds" in \
        waiting.text
    sentence = ("LP estimate: rooms/chairs binds first (a room of each kind ~+77.3, one more "
                "patient at a time ~+0.6, shared hands-on time ~+4.8).")
    with session_scope(site.sessions()) as session:
        repo.job(session, job_id).progress = {"stage": "what-if", "done": 2, "total": 30,
                                              f"{FIRST}, base": sentence}
    running = site.client.get(f"/whatif/{job_id}").text
    assert "2 of 30 solves done" in running
    assert f"<strong>base</strong>: {sentence}" in running
    assert f'href="/jobs/{job_id}"' in running


class _Process:
    """A worker process that runs until told (the runner's scheduling, without solving)."""

    def __init__(self, **_: Any) -> None:
        self.alive = True
        self.exitcode: int | None = None
        self.pid: int | None = None  # never started: the runner only logs it

    def start(self) -> None: ...

    def is_alive(self) -> bool:
        return self.alive

    def join(self, timeout: float | None = None) -> None: ...

    def terminate(self) -> None:
        self.alive = False


def test_a_whatif_runs_beside_the_desks_solves_never_instead(site: Site) -> None:
    """With one solve at a time, a queued re-plan still starts while a what-if runs, and a
    second what-if waits for the first."""
    engine = connect(site.url)
    runner = JobRunner(engine, site.url, max_solves=1)
    runner._context = type("Spawn", (), {"Process": _Process})()
    with session_scope(site.sessions()) as session:
        for job_id, kind in (("a", "whatif"), ("b", "whatif"), ("c", "solve"), ("d", "solve")):
            repo.add_job(session, job_id * 32, 1, kind, {})

    def states() -> str:
        with session_scope(site.sessions()) as session:
            return "".join(repo.job(session, j * 32).status[0] for j in "abcd")

    runner._tick()
    assert states() == "rqrq"  # a what-if and a solve: r(unning), q(ueued)
    finished = runner.running["a" * 32]
    assert isinstance(finished, _Process)
    finished.alive, finished.exitcode = False, 0
    runner._tick()
    assert states() == "rrrq"  # the next what-if; the second solve still waits its turn
    engine.dispose()


def test_report_html_opens_in_the_browser_instead_of_downloading(site: Site) -> None:
    """``report.html`` came as an attachment (and the pages' policy would have unstyled it):
    it opens inline, under a policy that allows its own style and charts and no script."""
    from scheduler.pages.whatif import REPORT_CSP

    job_id = "ab" * 16
    with session_scope(site.sessions()) as session:
        repo.add_job(session, job_id, 1, "whatif", {}).status = "done"
    folder = site.data_dir / "whatif" / job_id
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<!doctype html><style>p{color:red}</style><p>What if")
    (folder / "comparison.csv").write_text("variant,edits,status\n")
    site.sign_in("manager")
    report = site.client.get(f"/whatif/{job_id}/report.html")
    assert report.status_code == 200 and "<p>What if" in report.text
    assert report.headers["content-type"] == "text/html; charset=utf-8"
    assert report.headers["content-disposition"].startswith("inline")
    assert report.headers["content-security-policy"] == REPORT_CSP
    assert "script-src" not in REPORT_CSP and "'unsafe-inline'" in REPORT_CSP
    csv = site.client.get(f"/whatif/{job_id}/comparison.csv")
    assert csv.headers["content-disposition"].startswith("attachment")
    assert site.client.get("/whatif").headers["content-security-policy"] != REPORT_CSP
