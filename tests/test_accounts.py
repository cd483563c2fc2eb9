"""Many clinics and real accounts (issue 21, findings 1, 2 and part of 9), each test on SQLite
and on PostgreSQL: clinics kept apart by memberships, the account's lifecycle (one-time
passwords, changing, resetting, deactivating, signing out everywhere, ending one token), staff
feed links that end with the account's staff link, a clinic exported and deleted whole, and the
migration that moved the accounts of one clinic into memberships.

The table of every API operation by role and by clinic (own, another organization's) is
``test_service.py``'s role table; the pages' half is here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from scheduler.storage import repo
from scheduler.storage.db import connect, downgrade, session_scope, sessions, upgrade
from scheduler.storage.tables import (
    AccessToken,
    AppointmentRow,
    FeedToken,
    Job,
    Membership,
    ScenarioVersion,
    ScheduleRow,
)
from tests.test_service import API, OTHER_CLINIC, OTHER_JOB, Service, _service, small_clinic

PASSWORD = "correct horse battery"


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from _service(database_url, tmp_path, run_jobs=False)


def _sessions(service: Service) -> Any:
    return service.client.app.state.sessions  # type: ignore[attr-defined]


def _token(service: Service, email: str, password: str = PASSWORD) -> str:
    answer = service.client.post(f"{API}/auth/token", data={"username": email,
                                                             "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _second_clinic(service: Service) -> int:
    """A second clinic of the first organization (the front desk and manager are not members)."""
    made = service.call("POST", "/clinics", json={"slug": "east", "name": "East Side"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


# ----------------------------------------------------------------------------- finding 1
def test_no_separation_between_clinics(service: Service) -> None:
    """A front desk of clinic 1 can neither read nor change a clinic it is not a member of, in
    its own organization or another: the 404 of an id that does not exist, every time."""
    east = _second_clinic(service)
    other = service.draft(OTHER_CLINIC)
    for clinic in (east, OTHER_CLINIC):
        for method, path, body in [
                ("GET", f"/clinics/{clinic}/patients", None),
                ("PUT", f"/clinics/{clinic}/patients/P01", {"id": "P01", "protocol": "esk"}),
                ("POST", f"/clinics/{clinic}/patients/P01/feed-link", None),
                ("GET", f"/clinics/{clinic}/schedules", None),
                ("POST", f"/clinics/{clinic}/solve", {"time_limit": 1})]:
            answer = service.call(method, path, "front_desk", json=body)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json() == {"detail": f"no clinic '{clinic}'"}
    published = service.call("POST", f"/schedules/{other['id']}/publish", "front_desk",
                             json={"version": other["version"]})
    assert published.status_code == 404
    assert published.json() == {"detail": f"no schedule '{other['id']}'"}
    assert service.call("GET", f"/jobs/{OTHER_JOB}", "front_desk").status_code == 404
    own = service.draft()  # a diff with another clinic's schedule: as if it did not exist
    across = service.call("GET", f"/schedules/{own['id']}/diff/{other['id']}", "front_desk")
    assert across.status_code == 404
    assert across.json() == {"detail": f"no schedule '{other['id']}'"}
    listed = service.call("GET", "/clinics", "front_desk").json()
    assert [c["id"] for c in listed] == [1]
    assert {c["id"] for c in service.call("GET", "/clinics").json()} == {1, east}
    with session_scope(_sessions(service)) as session:  # nothing of the other clinic changed
        assert repo.scenario_version(session, OTHER_CLINIC).number == 1
        assert repo.schedule_row(session, other["id"]).status == "draft"


def test_staff_links_are_per_clinic(service: Service) -> None:
    """A front desk linked to N1 in clinic 1 and a member of clinic 2 too, without a staff link
    there, gets no link to clinic 2's N1, another person."""
    east = _second_clinic(service)
    me = service.call("GET", "/users/me", "front_desk").json()
    assert service.call("PUT", f"/users/{me['id']}/memberships/1",
                        json={"role": "front_desk", "staff_id": "N1"}).status_code == 200
    assert service.call("PUT", f"/users/{me['id']}/memberships/{east}",
                        json={"role": "front_desk"}).status_code == 200
    assert service.call("POST", "/clinics/1/staff/me/feed-link", "front_desk").status_code == 201
    theirs = service.call("POST", f"/clinics/{east}/staff/me/feed-link", "front_desk")
    assert theirs.status_code == 409, theirs.text
    wrong = service.call("PUT", f"/users/{me['id']}/memberships/1",
                         json={"role": "front_desk", "staff_id": "N99"})
    assert wrong.status_code == 422
    assert [d["path"] for d in wrong.json()["detail"]] == ["staff_id"]


def test_roles_are_per_clinic(service: Service) -> None:
    """A manager of clinic 1 who is a front desk of clinic 2 is a manager only in clinic 1."""
    east = _second_clinic(service)
    me = service.call("GET", "/users/me", "manager").json()
    service.call("PUT", f"/users/{me['id']}/memberships/{east}", json={"role": "front_desk"})
    room = {"id": "R8", "features": ["recliner"]}
    assert service.call("POST", "/clinics/1/rooms", "manager", json=room).status_code == 201
    assert service.call("POST", f"/clinics/{east}/rooms", "manager", json=room).status_code == 403
    assert service.call("GET", f"/clinics/{east}/rooms", "manager").status_code == 200
    service.call("DELETE", f"/users/{me['id']}/memberships/{east}")
    assert service.call("GET", f"/clinics/{east}/rooms", "manager").status_code == 404


def test_a_front_desk_cannot_cancel_a_managers_whatif_job(service: Service) -> None:
    with session_scope(_sessions(service)) as session:
        repo.add_job(session, "a" * 32, 1, "whatif", {})
        repo.add_job(session, "b" * 32, 1, "solve", {})
    assert service.call("POST", f"/jobs/{'a' * 32}/cancel", "front_desk").status_code == 403
    assert service.call("POST", f"/jobs/{'a' * 32}/cancel", "manager").status_code == 200
    assert service.call("POST", f"/jobs/{'b' * 32}/cancel", "front_desk").status_code == 200


# ----------------------------------------------------------------------------- finding 2
def test_accounts_cannot_be_managed(service: Service) -> None:
    """The lifecycle: an account added with a one-time password must change it before anything
    else; it changes its own (the current one required); an admin resets and deactivates it
    (every token ends at once); it lists and ends its own tokens and signs out everywhere."""
    added = service.call("POST", "/users", json={
        "email": "new@example.org", "password": "Temporary pass 1", "role": "front_desk"})
    assert added.status_code == 201, added.text
    user_id = added.json()["id"]
    reset = service.call("POST", f"/users/{user_id}/reset-password")
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    once = reset.json()["password"]
    token = _token(service, "new@example.org", once)
    me = service.client.get(f"{API}/users/me", headers=_as(token))
    assert me.status_code == 200 and me.json()["must_change_password"] is True
    blocked = service.client.get(f"{API}/clinics/1/patients", headers=_as(token))
    assert blocked.status_code == 403 and "one-time password" in blocked.json()["detail"]
    weak = service.client.post(f"{API}/users/me/password", headers=_as(token), json={
        "current_password": "not it at all", "new_password": "short"})
    assert weak.status_code == 422
    assert {d["path"] for d in weak.json()["detail"]} >= {"body.new_password"}
    wrong = service.client.post(f"{API}/users/me/password", headers=_as(token), json={
        "current_password": "not it at all", "new_password": "a new and long secret"})
    assert wrong.status_code == 422
    assert [d["path"] for d in wrong.json()["detail"]] == ["current_password"]
    changed = service.client.post(f"{API}/users/me/password", headers=_as(token), json={
        "current_password": once, "new_password": "a new and long secret"})
    assert changed.status_code == 204, changed.text
    assert service.client.get(f"{API}/clinics/1/patients", headers=_as(token)).status_code == 200
    second = _token(service, "new@example.org", "a new and long secret")
    mine = service.client.get(f"{API}/auth/tokens", headers=_as(second)).json()
    assert sum(t["current"] for t in mine) == 1 and len(mine) == 2
    first_id = next(t["id"] for t in mine if not t["current"])
    assert service.client.delete(f"{API}/auth/tokens/{first_id}",
                                 headers=_as(second)).status_code == 204
    assert service.client.get(f"{API}/users/me", headers=_as(token)).status_code == 401
    listed = {u["email"]: u for u in service.call("GET", "/users").json()}
    assert listed["new@example.org"]["memberships"] == [
        {"clinic_id": 1, "role": "front_desk", "staff_id": None}]
    assert "other@example.org" not in listed  # another organization's
    assert service.call("POST", f"/users/{user_id}/deactivate").status_code == 200
    assert service.client.get(f"{API}/users/me", headers=_as(second)).status_code == 401
    assert service.client.post(f"{API}/auth/token", data={
        "username": "new@example.org", "password": "a new and long secret"}).status_code == 400
    assert service.call("POST", f"/users/{user_id}/activate").status_code == 200
    third = _token(service, "new@example.org", "a new and long secret")
    ended = service.client.post(f"{API}/auth/signout-everywhere", headers=_as(third))
    assert ended.status_code == 200 and ended.json()["ended"] == 1
    assert service.client.get(f"{API}/users/me", headers=_as(third)).status_code == 401
    fourth = _token(service, "new@example.org", "a new and long secret")
    assert service.client.post(f"{API}/auth/signout", headers=_as(fourth)).status_code == 204
    assert service.client.get(f"{API}/users/me", headers=_as(fourth)).status_code == 401


def test_the_first_admins_one_time_password_must_be_changed(tmp_path: Path,
                                                            database_url: str) -> None:
    from scheduler.api.app import create_app
    from scheduler.service.accounts import FIRST_ADMIN
    from scheduler.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, database_url=database_url), run_jobs=False)
    with TestClient(app) as client:
        once = app.state.first_password
        token = client.post(f"{API}/auth/token", data={"username": FIRST_ADMIN,
                                                       "password": once}).json()["access_token"]
        assert client.get(f"{API}/users", headers=_as(token)).status_code == 403
        assert client.post(f"{API}/users/me/password", headers=_as(token), json={
            "current_password": once, "new_password": "my own admin secret"}).status_code == 204
        assert client.get(f"{API}/users", headers=_as(token)).status_code == 200
    with TestClient(create_app(Settings(data_dir=tmp_path, database_url=database_url),
                               run_jobs=False)) as again:  # a restart: the one-time one is gone
        assert again.post(f"{API}/auth/token", data={"username": FIRST_ADMIN,
                                                     "password": once}).status_code == 400


def test_passwords_are_long_and_not_common(service: Service) -> None:
    for password, ok in (("short", False), ("x" * 11, False), ("password1234", False),
                         ("a long enough phrase", True)):
        answer = service.call("POST", "/users", json={
            "email": f"p{len(password)}@example.org", "password": password, "role": "manager"})
        assert (answer.status_code == 201) == ok, answer.text
        if not ok:
            assert [d["path"].removeprefix("body.") for d in answer.json()["detail"]] == [
                "password"]


# ----------------------------------------------------------------------------- staff links
def test_staff_links_end_with_the_accounts_staff_link(service: Service) -> None:
    me = service.call("GET", "/users/me", "front_desk").json()
    service.call("PUT", f"/users/{me['id']}/memberships/1",
                 json={"role": "front_desk", "staff_id": "N1"})
    feed = service.call("POST", "/clinics/1/staff/me/feed-link", "front_desk").json()["url"]
    path = "/feeds/" + feed.rsplit("/feeds/", 1)[1]
    assert service.client.get(path).status_code == 200
    service.call("PUT", f"/users/{me['id']}/memberships/1", json={"role": "front_desk"})
    assert service.client.get(path).status_code == 404  # unlinked: the link ended with it
    service.call("PUT", f"/users/{me['id']}/memberships/1",
                 json={"role": "front_desk", "staff_id": "N1"})
    feed = service.call("POST", "/clinics/1/staff/me/feed-link", "front_desk").json()["url"]
    path = "/feeds/" + feed.rsplit("/feeds/", 1)[1]
    assert service.call("POST", f"/users/{me['id']}/deactivate").status_code == 200
    assert service.client.get(path).status_code == 404  # deactivated: ended too
    service.call("POST", f"/users/{me['id']}/activate")


def test_managers_can_revoke_any_link_of_their_clinic(service: Service) -> None:
    me = service.call("GET", "/users/me", "front_desk").json()
    service.call("PUT", f"/users/{me['id']}/memberships/1",
                 json={"role": "front_desk", "staff_id": "N1"})
    feed = service.call("POST", "/clinics/1/staff/me/feed-link", "front_desk").json()["url"]
    service.call("POST", "/clinics/1/patients/P01/feed-link", "front_desk")
    live = service.call("GET", "/clinics/1/feed-links", "manager").json()
    assert {(x["kind"], x["subject"]) for x in live} == {("staff", "N1"), ("patient", "P01")}
    assert service.call("DELETE", "/clinics/1/staff/N1/feed-link", "front_desk").status_code == 403
    assert service.call("DELETE", "/clinics/1/staff/N1/feed-link", "manager").status_code == 204
    assert service.client.get("/feeds/" + feed.rsplit("/feeds/", 1)[1]).status_code == 404


# ----------------------------------------------------------------------------- clinics whole
def test_a_clinic_is_exported_and_deleted_whole(service: Service) -> None:
    east = _second_clinic(service)
    with session_scope(_sessions(service)) as session:
        repo.add_scenario_version(session, repo.clinic(session, east), small_clinic())
    draft = service.draft(east)
    service.call("POST", f"/schedules/{draft['id']}/publish", json={"version": draft["version"]})
    service.call("POST", f"/clinics/{east}/patients/P01/feed-link")
    service.call("POST", f"/clinics/{east}/solve", json={"time_limit": 1})
    me = service.call("GET", "/users/me", "front_desk").json()
    service.call("PUT", f"/users/{me['id']}/memberships/{east}", json={"role": "front_desk"})
    exported = service.call("GET", f"/clinics/{east}/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    data = exported.json()
    assert data["clinic"]["slug"] == "east" and len(data["scenario_versions"]) == 2
    assert [s["status"] for s in data["schedules"]] == ["published"]
    assert data["schedules"][0]["schedule"]["appointments"]
    assert [j["kind"] for j in data["jobs"]] == ["solve"]
    assert [(f["kind"], f["subject"]) for f in data["feed_links"]] == [("patient", "P01")]
    assert "token" not in str(data["feed_links"])
    assert data["memberships"] == [{"email": "front_desk@example.org", "role": "front_desk",
                                    "staff_id": None}]
    assert service.call("GET", f"/clinics/{east}/export", "front_desk").status_code == 403
    refused = service.call("DELETE", f"/clinics/{east}?confirm=west")
    assert refused.status_code == 422 and refused.json()["detail"][0]["path"] == "confirm"
    assert service.call("DELETE", f"/clinics/{east}?confirm=east").status_code == 204
    assert service.call("GET", f"/clinics/{east}").status_code == 404
    with session_scope(_sessions(service)) as session:
        for table in (ScenarioVersion, ScheduleRow, Job, FeedToken, Membership):
            count = session.scalar(select(func.count()).select_from(table).where(
                table.clinic_id == east))
            assert count == 0, table
        assert session.scalar(select(func.count()).select_from(AppointmentRow).join(
            ScheduleRow).where(ScheduleRow.clinic_id == east)) == 0
        assert repo.scenario_version(session, 1).number >= 1  # the others are untouched


# ----------------------------------------------------------------------------- migration
def test_migration_0006_keeps_accounts_roles_and_tokens(database_url: str) -> None:
    """Accounts of one clinic become members of every clinic with their role and staff link;
    admins stay admins; tokens and audit rows survive (SQLite alters by copying tables)."""
    engine = connect(database_url)
    upgrade(engine, "0005")
    with engine.begin() as c:
        c.execute(text("INSERT INTO clinics (id, slug, name, created_at) VALUES "
                       "(1, 'a', 'A', CURRENT_TIMESTAMP), (2, 'b', 'B', CURRENT_TIMESTAMP)"))
        c.execute(text("INSERT INTO users (id, email, password_hash, role, active, created_at, "
                       "staff_id) VALUES (1, 'ad@x.org', 'h', 'admin', true, CURRENT_TIMESTAMP, "
                       "NULL), (2, 'd@x.org', 'h', 'front_desk', true, CURRENT_TIMESTAMP, 'N1')"))
        c.execute(text("INSERT INTO access_tokens (user_id, token_hash, expires_at) VALUES "
                       "(2, 'abc', CURRENT_TIMESTAMP)"))
        c.execute(text("INSERT INTO audit_log (at, user_id, action, entity, entity_id) VALUES "
                       "(CURRENT_TIMESTAMP, 1, 'create', 'user', '2')"))
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        admin, desk = repo.user(session, 1), repo.user(session, 2)
        assert admin.admin and not admin.memberships
        assert [(m.clinic_id, m.role, m.staff_id) for m in desk.memberships] == [
            (1, "front_desk", "N1"), (2, "front_desk", "N1")]
        assert session.scalar(select(func.count()).select_from(AccessToken)) == 1
    downgrade(engine, "0005")
    with engine.begin() as c:
        assert c.execute(text("SELECT role, staff_id FROM users ORDER BY id")).all() == [
            ("admin", None), ("front_desk", "N1")]
    downgrade(engine)
    engine.dispose()


def test_user_add_names_its_clinics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from scheduler.cli import main

    monkeypatch.setenv("CHAIRTIME_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    assert main(["-q", "user", "add", "m@example.org", "--role", "manager",
                 "--clinic", "1"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    assert main(["-q", "user", "add", "n@example.org", "--role", "manager",
                 "--clinic", "7"]) == 2
    engine = connect(f"sqlite:///{tmp_path / 'chairtime.db'}")
    with session_scope(sessions(engine)) as session:
        found = repo.user_by_email(session, "m@example.org")
        assert found is not None and [m.clinic_id for m in found.memberships] == [1]
        assert repo.user_by_email(session, "n@example.org") is None
    engine.dispose()



def test_pages_of_another_clinic_are_the_404_of_ids_that_do_not_exist(service: Service
                                                                       ) -> None:
    """Every page that names a clinic, a schedule or a job, opened with another organization's
    id: the page of an id that does not exist, for every role."""
    from scheduler.pages.web import COOKIE

    other = service.draft(OTHER_CLINIC)
    first = other["schedule"]["appointments"][0]["id"]
    paths = [f"/board?clinic={OTHER_CLINIC}", f"/patients?clinic={OTHER_CLINIC}",
             f"/patients/P01?clinic={OTHER_CLINIC}", f"/utilization?clinic={OTHER_CLINIC}",
             f"/whatif?clinic={OTHER_CLINIC}", f"/schedules/{other['id']}/appointments/{first}",
             f"/schedules/{other['id']}/unplaced", f"/schedules/{other['id']}/replan",
             f"/schedules/{other['id']}/changes", f"/jobs/{OTHER_JOB}",
             f"/jobs/{OTHER_JOB}/progress.json", f"/whatif/{OTHER_JOB}"]
    for role in ("front_desk", "manager", "admin"):
        service.client.cookies.set(COOKIE, service.tokens[role])
        for path in paths:
            answer = service.client.get(path, follow_redirects=False)
            assert answer.status_code == 404, (role, path, answer.status_code)
            assert "Not found" in answer.text or "no " in answer.text, path
        assert service.client.get("/board", follow_redirects=False).status_code == 200
    service.client.cookies.clear()
