"""Every change is a version: the versions page and its diffs, whether the published week still
keeps every rule under the clinic's current data (and the re-plan it offers), and the manager's
audit page and API (roles, another clinic, filters, pages), on SQLite and on PostgreSQL; the
audit log's clinic (migration 0009)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, column, table, text
from sqlalchemy import inspect as sa_inspect

from scheduler.api.app import create_app
from scheduler.api.routes.audit import Kind
from scheduler.check import check
from scheduler.service import clinics
from scheduler.service.versions import AUDIT_KINDS
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, downgrade, session_scope, upgrade
from scheduler.storage.tables import Organization, User
from scheduler.usecases import plan_week
from scheduler.worker import run_job
from solver import Options
from tests.conftest import DEMO_CLOCK, fresh_database, password_hash
from tests.test_service import small_clinic

PASSWORD = "correct horse battery"
ROLES = ("front_desk", "manager", "admin")


def named_clinic() -> dict[str, Any]:
    """The small clinic (Mon-Tue, R1 and R2, N1, D1, three patients) with names."""
    data = small_clinic()
    data["staff"][0]["name"] = "Dana Fischer"
    data["rooms"][1]["name"] = "Room 2"
    for p, name in zip(data["patients"], ("Ada Byrne", "Bo Chen", "Gia Hayes"), strict=True):
        p["name"] = name
    return data


@dataclass
class Site:
    client: TestClient
    url: str
    published: int
    """The published schedule's id."""
    signed: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """Each role's cookies after its first sign-in (argon2 is slow on purpose)."""

    def sessions(self) -> Any:
        return self.client.app.state.sessions  # type: ignore[attr-defined]

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', self.client.get(path).text)
        assert found
        return found.group(1)

    def sign_in(self, role: str) -> None:
        self.client.cookies.clear()
        if role in self.signed:
            for name, value in self.signed[role].items():
                self.client.cookies.set(name, value)
            return
        answer = self.client.post("/login", data={
            "email": f"{role}@example.org", "password": PASSWORD, "next": "/board",
            "csrf": self.csrf("/login")}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        self.signed[role] = dict(self.client.cookies.items())

    def api(self, path: str, role: str) -> Any:
        with session_scope(self.sessions()) as session:
            user = repo.user_by_email(session, f"{role}@example.org")
            assert user is not None
            token = repo.issue_token(session, user, 30)[0]
        return self.client.get("/api/v1" + path, headers={"Authorization": f"Bearer {token}"})

    def change(self, role: str, edit: Any) -> None:
        """A change of N1 (Dana Fischer) by ``role``'s account, as the pages would store it."""
        with session_scope(self.sessions()) as session:
            user = repo.user_by_email(session, f"{role}@example.org")
            assert user is not None
            nurse = clinics.item(session, 1, "staff", "staff member", "N1")
            edit(nurse)
            clinics.replace_item(session, 1, "staff", "staff member", "N1", nurse, user, None)


@pytest.fixture(scope="module")
def site(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The named small clinic with its week published, and another organization's clinic (2)
    with a change of its own; no data change after the publish yet (the tests make them)."""
    folder = tmp_path_factory.mktemp("versions")
    with fresh_database(database_kind, folder) as url:
        app = create_app(Settings(data_dir=folder, database_url=url, time_limit=2,
                                  clock=DEMO_CLOCK),
                         run_jobs=False)
        with TestClient(app) as client:
            with session_scope(app.state.sessions) as session:
                for role in ROLES:
                    repo.add_user(session, f"{role}@example.org", password_hash(PASSWORD), role)
                manager = repo.user_by_email(session, "manager@example.org")
                version = repo.add_scenario_version(session, repo.clinic(session, 1),
                                                    named_clinic(), manager)
                planned = plan_week(repo.scenario_of(version),
                                    Options(time_limit=1, workers=1, soft_goals=False))
                row = repo.add_schedule(session, 1, version, planned.schedule, manager)
                repo.publish(session, row, row.row_version, manager)
                other = Organization(name="Other Ketamine Inc.")
                session.add(other)
                session.flush()
                theirs = repo.add_clinic(session, "other", small_clinic(),
                                         organization_id=other.id)
                repo.add_scenario_version(session, theirs, small_clinic())
                published = row.id
            yield Site(client, url, published)


def _monday_off(nurse: dict[str, Any]) -> None:
    nurse["time_off"] = ["2026-12-07"]


# ----------------------------------------------------------------------------- versions
def test_versions_kept_then_broken_by_a_nurses_day_off_with_the_replan_one_click_away(
        site: Site) -> None:
    """Before the change: no banner, the published week keeps every rule. After N1's day off
    on Monday: the versions page lists who changed what, the diff in the clerk's words, the
    broken sessions by date, time and patient with the checker's words, and the board says
    so; the re-plan queues the existing re-plan job of the published week, with no events."""
    site.sign_in("front_desk")
    assert 'id="published-broken"' not in site.client.get("/board").text
    kept = site.client.get("/versions").text
    assert "Nothing: the published week was made from today's data." in kept
    assert "Re-plan the published week" not in kept

    site.change("manager", _monday_off)
    page = site.client.get("/versions")
    assert page.status_code == 200
    html = page.text
    assert "Dana Fischer (N1) off Monday 7 Dec" in html  # since the published week
    assert "manager@example.org" in html
    broken = re.search(r'<table class="broken">.*?</table>', html, re.S)
    assert broken is not None
    rows = re.findall(r"<tr><td>(Mon 07 Dec)</td>\s*<td>(\d\d:\d\d)</td>\s*<td>([^<]+)</td>",
                      broken.group(0))
    with session_scope(site.sessions()) as session:
        schedule = repo.to_schedule(repo.schedule_row(session, site.published))
        current = repo.scenario_of(repo.scenario_version(session, 1))
    monday = [a for a in schedule.appointments if a.start.date().isoformat() == "2026-12-07"]
    assert monday and len(rows) == len(monday)
    names = {"P01": "Ada Byrne", "P02": "Bo Chen", "P03": "Gia Hayes"}
    assert sorted(r[2] for r in rows) == sorted(names[a.patient] for a in monday)
    words = {v.what for v in check(current, schedule.to_json())}
    assert any(w in broken.group(0) for w in words)
    assert 'id="published-broken"' in site.client.get("/board").text

    queued = site.client.post("/versions/replan", data={"csrf": site.csrf("/versions")},
                              follow_redirects=False)
    assert queued.status_code == 303
    job_id = queued.headers["location"].removeprefix("/jobs/")
    with session_scope(site.sessions()) as session:
        job = repo.job(session, job_id)
        assert (job.kind, job.params["schedule_id"], job.params["events"]) == \
            ("replan", site.published, [])
        assert repo.claim_job(session, job_id)
    run_job(site.url, job_id)
    with session_scope(site.sessions()) as session:
        draft = repo.schedule_row(session, repo.job(session, job_id).result_schedule_id or 0)
        assert check(current, repo.to_schedule(draft).to_json()) == []


def test_two_versions_compared_and_a_version_it_never_had(site: Site) -> None:
    site.sign_in("front_desk")
    site.change("admin", lambda n: n.update(max_patients=3))
    latest = site.api("/clinics/1", "admin").json()["scenario_version"]
    html = site.client.get(f"/versions?old={latest - 1}&new={latest}").text
    assert f"From version {latest - 1} to version {latest}" in html
    assert "Dana Fischer (N1) takes 3 patients at once (was 4)" in html
    assert "admin@example.org" in html
    missing = site.client.get(f"/versions?old=1&new={latest + 5}")
    assert missing.status_code == 422
    assert f"the clinic has versions 1 to {latest}" in missing.text


def test_another_clinics_versions_are_not_found(site: Site) -> None:
    site.sign_in("manager")
    assert site.client.get("/versions?clinic=2").status_code == 404
    assert site.client.post("/versions/replan?clinic=2",
                            data={"csrf": site.csrf("/versions")}).status_code == 404


# ----------------------------------------------------------------------------- the audit log
def test_the_audit_page_is_the_managers_of_their_own_clinic(site: Site) -> None:
    site.sign_in("front_desk")
    assert site.client.get("/audit").status_code == 403
    assert 'href="/audit"' not in site.client.get("/board").text
    assert site.api("/clinics/1/audit", "front_desk").status_code == 403
    for role in ("manager", "admin"):
        site.sign_in(role)
        page = site.client.get("/audit")
        assert page.status_code == 200, role
        assert "Published version 1 (schedule #" in page.text
        assert site.client.get("/audit?clinic=2").status_code == 404
        assert site.api("/clinics/2/audit", role).status_code == 404


def test_the_audit_log_by_kind_and_date_and_page(site: Site) -> None:
    site.sign_in("manager")
    published = site.client.get("/audit?kind=publish").text
    assert "Published version 1" in published and "Clinic data: version" not in published
    assert "manager@example.org" in published
    future = site.client.get("/audit?since=2999-01-01").text
    assert "No entries match these filters." in future
    bad = site.client.get("/audit?since=yesterday&until=2026-01-01&kind=nope")
    assert bad.status_code == 422
    for field, message in (("since", "&#39;yesterday&#39; is not a date (YYYY-MM-DD)"),
                           ("kind", "&#39;nope&#39; is not one of")):
        assert re.search(rf'id="e-{field}-1">{re.escape(message)}', bad.text), field
    assert 'value="yesterday"' in bad.text  # what was typed is kept

    everything = site.api("/clinics/1/audit", "manager").json()
    assert everything["total"] >= 4  # the data version, the draft, the job, the publish
    scenario = site.api("/clinics/1/audit?kind=scenario", "manager").json()
    assert {e["entity_id"] for e in scenario["entries"]} == {"1"}  # never clinic 2's
    first = site.api("/clinics/1/audit?per_page=2", "manager").json()
    second = site.api("/clinics/1/audit?per_page=2&page=2", "manager").json()
    assert (first["pages"], len(first["entries"])) == ((everything["total"] + 1) // 2, 2)
    assert first["entries"][0] == everything["entries"][0]
    assert second["entries"][0] == everything["entries"][2]
    for bad_day in ("2026-13-01", "0", "1733443200"):  # pydantic alone took seconds
        assert site.api(f"/clinics/1/audit?until={bad_day}", "manager").status_code == 422


def test_the_api_kinds_are_the_pages(site: Site) -> None:
    assert set(Kind.__args__) == set(AUDIT_KINDS)  # type: ignore[attr-defined]


def test_a_deleted_clinics_entries_lose_it(site: Site) -> None:
    """Its ids may come again (SQLite): its entries must never show in the next clinic's."""
    with site.sessions()() as session:  # the service commits
        admin = session.get(User, 1)
        assert admin is not None
        created = clinics.create(session, "gone", admin, small_clinic())
        gone = created.id
        clinics.delete(session, gone, "gone", admin)
    with session_scope(site.sessions()) as session:
        rows = session.execute(text("SELECT action, clinic_id FROM audit_log WHERE "
                                    "entity = 'clinic' AND entity_id = :id"),
                               {"id": str(gone)}).all()
    assert sorted(rows) == [("create", None), ("delete", None)]


def test_migration_0009_traces_each_audit_entry_to_its_clinic(database_url: str) -> None:
    """A scenario's, a schedule's, a job's, a feed link's and a membership's entries get their
    clinic; an account's own (a password change) and a deleted clinic's get none; down and up
    again keeps the log."""
    engine = connect(database_url)
    upgrade(engine, "0007")
    with engine.begin() as db:
        db.execute(text("INSERT INTO organizations (id, name, created_at) VALUES "
                        "(2, 'o', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO clinics (id, organization_id, slug, name, created_at) "
                        "VALUES (7, 2, 'c', 'c', '2026-12-01 00:00:00'), "
                        "(8, 2, 'd', 'd', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO scenario_versions (id, clinic_id, number, data, created_at)"
                        " VALUES (7, 8, 1, '{}', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO schedules (id, clinic_id, scenario_version_id, status, "
                        "row_version, meta, created_at) VALUES (70, 8, 7, 'draft', 1, '{}', "
                        "'2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO jobs (id, clinic_id, kind, status, params, created_at) "
                        "VALUES ('j1', 7, 'solve', 'done', '{}', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO feed_tokens (id, clinic_id, kind, subject, token_hash, "
                        "created_at) VALUES (5, 8, 'patient', 'P1', 'h', "
                        "'2026-12-01 00:00:00')"))
        entries = [(1, "change", "scenario", "7", None), (2, "publish", "schedule", "70", None),
                   (3, "queue", "job", "j1", None), (4, "issue", "feed_token", "5", None),
                   (5, "membership", "user", "3", {"clinic_id": 8, "role": "manager"}),
                   (6, "change_password", "user", "3", None),
                   (7, "delete", "clinic", "99", None), (8, "create", "schedule", "71", None)]
        log = table("audit_log", column("id"), column("at"), column("action"),
                    column("entity"), column("entity_id"), column("after", JSON()))
        db.execute(log.insert(), [
            {"id": id_, "at": "2026-12-01 00:00:00", "action": action, "entity": entity,
             "entity_id": entity_id, "after": after} for id_, action, entity, entity_id, after
            in entries])
    upgrade(engine, "0009")
    with engine.connect() as db:
        found: dict[int, int | None] = dict(db.execute(text(
            "SELECT id, clinic_id FROM audit_log")).all())
    assert found == {1: 7, 2: 8, 3: 7, 4: 8, 5: 8, 6: None, 7: None, 8: None}
    with engine.begin() as db:  # a deleted clinic's entries keep what was done, not the clinic
        db.execute(text("DELETE FROM jobs WHERE clinic_id = 7"))
        db.execute(text("DELETE FROM clinics WHERE id = 7"))
        assert db.execute(text("SELECT clinic_id FROM audit_log WHERE id = 1")).scalar() is None
    downgrade(engine, "0007")
    with engine.connect() as db:
        assert "clinic_id" not in {c["name"] for c in sa_inspect(db).get_columns("audit_log")}
        assert db.execute(text("SELECT COUNT(*) FROM audit_log")).scalar() == 8
    upgrade(engine, "0009")
    engine.dispose()
