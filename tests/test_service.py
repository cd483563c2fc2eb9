"""The HTTP service and its storage, each test on SQLite and on PostgreSQL: migrations, sign-in
and roles on every route, clinic data with field-path 422s, jobs, drafts and publishing (all or
nothing, also when the process is killed), and concurrent edits of one draft."""

from __future__ import annotations

import copy
import dataclasses
import json
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect as sa_inspect

from scheduler.api.app import create_app
from scheduler.check import check
from scheduler.cli import main
from scheduler.errors import Conflict
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, downgrade, session_scope, sessions, upgrade
from scheduler.storage.tables import Organization
from scheduler.usecases import plan_week
from scheduler.validate import validate_scenario
from solver import Options
from tests.conftest import DEMO_CLOCK, fresh_database, password_hash, patients, scenario_dict

API = "/api/v1"
ROLES = ("front_desk", "manager", "admin")
OTHER_CLINIC = 2
"""A clinic of another organization, which no role of the first may see (the table's
"other clinic" half)."""
OTHER_JOB = "f" * 32
OTHER_USER = 5
"""The other organization's admin (ids: the first admin, the three roles, then it)."""


def small_clinic() -> dict[str, Any]:
    """Mon-Tue, two recliner rooms (one chair each), one nurse, one prescriber, 3 patients."""
    data = scenario_dict(patients=patients(3, rems_enrolled=True))
    days = {d: [["08:00", "18:00"]] for d in ("mon", "tue")}
    data["clinic"]["hours"] = days
    data["horizon"] = {"start": "2026-12-07", "days": 2}
    data["rooms"].append({"id": "R2", "features": ["recliner"], "chairs": 1})
    for s in data["staff"]:
        s["shifts"] = days
    return data


@dataclass
class Service:
    client: TestClient
    tokens: dict[str, str]
    url: str
    other: dict[str, Any] = dataclasses.field(default_factory=dict)
    """A draft of the other organization's clinic (set by the tables' shared service)."""

    def auth(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def call(self, method: str, path: str, role: str | None = "admin", **kwargs: Any) -> Any:
        return self.client.request(method, API + path, headers=self.auth(role), **kwargs)

    def draft(self, clinic_id: int = 1) -> dict[str, Any]:
        """A solved draft of the small clinic (or of the other organization's clinic, 2), stored
        as a job would store it."""
        factory = self.client.app.state.sessions  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            version = repo.scenario_version(session, clinic_id)
            planned = plan_week(repo.scenario_of(version),
                                Options(time_limit=2, workers=1, soft_goals=False))
            row = repo.add_schedule(session, clinic_id, version, planned.schedule)
            schedule_id = row.id
        body: dict[str, Any] = self.call("GET", f"/schedules/{schedule_id}",
                                         "other" if clinic_id == OTHER_CLINIC else "admin").json()
        return body


def _service(database_url: str, tmp_path: Path, run_jobs: bool) -> Iterator[Service]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, time_limit=2,
                        clock=DEMO_CLOCK)
    app = create_app(settings, run_jobs=run_jobs)
    with TestClient(app) as client:
        factory = app.state.sessions
        tokens = {}
        with session_scope(factory) as session:
            for role in ROLES:
                user = repo.add_user(session, f"{role}@example.org", password_hash(), role)
                tokens[role] = repo.issue_token(session, user, 30)[0]
            clinic = repo.clinic(session, 1)
            repo.add_scenario_version(session, clinic, validate_scenario(small_clinic()))
            # Another organization: its clinic (2), its admin, a job of its clinic.
            other = Organization(name="Other Ketamine Inc.")
            session.add(other)
            session.flush()
            repo.add_clinic(session, "other", small_clinic(), organization_id=other.id)
            theirs = repo.add_user(session, "other@example.org", password_hash(), "admin",
                                   organization_id=other.id)
            tokens["other"] = repo.issue_token(session, theirs, 30)[0]
            repo.add_job(session, OTHER_JOB, OTHER_CLINIC, "solve", {})
        yield Service(client, tokens, database_url)


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from _service(database_url, tmp_path, run_jobs=False)


@pytest.fixture
def service_with_jobs(database_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from _service(database_url, tmp_path, run_jobs=True)


def _shared(kind: str, folder: Path) -> Iterator[tuple[Service, dict[str, Any]]]:
    """One service and one solved draft for every row of a table (a service per row spent
    minutes starting apps and hashing passwords): each row must not mind the rows before it."""
    with fresh_database(kind, folder) as url:
        for service in _service(url, folder, run_jobs=False):
            service.other = service.draft(OTHER_CLINIC)
            yield service, service.draft()


@pytest.fixture(scope="module")
def role_table(database_kind: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Service, dict[str, Any]]]:
    yield from _shared(database_kind, tmp_path_factory.mktemp("roles"))


@pytest.fixture(scope="module")
def bad_writes(database_kind: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Service, dict[str, Any]]]:
    yield from _shared(database_kind, tmp_path_factory.mktemp("bad-writes"))


# ----------------------------------------------------------------------------- storage
def test_every_migration_runs_up_and_down(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    assert {"schedules", "appointments", "jobs", "users", "audit_log"} <= set(
        sa_inspect(engine).get_table_names())
    downgrade(engine)
    assert set(sa_inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    engine.dispose()


def test_instants_are_stored_in_utc_and_read_back_aware(service: Service) -> None:
    draft = service.draft()
    first = draft["schedule"]["appointments"][0]
    factory = service.client.app.state.sessions  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        row = repo.schedule_row(session, draft["id"])
        stored = min(row.appointments, key=lambda a: a.start_at)
        assert stored.start_at.utcoffset() == timedelta(0)
        assert stored.start_at == datetime.fromisoformat(first["start"])


# ----------------------------------------------------------------------------- sign-in, roles
def test_sign_in_gives_a_short_lived_bearer_token(service: Service) -> None:
    bad = service.client.post(f"{API}/auth/token", data={"username": "admin@example.org",
                                                          "password": "wrong"})
    assert bad.status_code == 400
    good = service.client.post(f"{API}/auth/token", data={"username": "admin@example.org",
                                                           "password": "correct horse battery"})
    assert good.status_code == 200
    token = good.json()["access_token"]
    expires = datetime.fromisoformat(good.json()["expires_at"])
    assert timedelta(minutes=25) < expires - datetime.now(expires.tzinfo) <= timedelta(minutes=30)
    me = service.client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "admin"
    assert service.client.get(f"{API}/users/me",
                              headers={"Authorization": "Bearer nope"}).status_code == 401


def test_openapi_declares_the_password_flow(service: Service) -> None:
    schemes = service.client.get("/openapi.json").json()["components"]["securitySchemes"]
    (scheme,) = schemes.values()
    assert scheme["flows"]["password"]["tokenUrl"] == f"{API}/auth/token"


ANY, DESK, MANAGER, ADMIN = set(ROLES), set(ROLES), {"manager", "admin"}, {"admin"}
ROUTES: list[tuple[str, str, set[str], Any]] = [
    ("GET", "/users/me", ANY, None),
    ("POST", "/users", ADMIN, {"email": "new@example.org", "password": "a long enough phrase",
                               "role": "front_desk"}),
    ("GET", "/users", ADMIN, None),
    ("PUT", "/users/1/memberships/1", ADMIN, {"role": "front_desk"}),
    ("DELETE", "/users/1/memberships/1", ADMIN, None),
    ("POST", "/users/1/deactivate", ADMIN, None),
    ("POST", "/users/1/activate", ADMIN, None),
    ("POST", "/users/1/reset-password", ADMIN, None),
    ("GET", "/clinics", ANY, None),
    ("POST", "/clinics", ADMIN, {"slug": "third"}),
    ("GET", "/clinics/1/export", ADMIN, None),
    ("DELETE", "/clinics/1?confirm=not-its-slug", ADMIN, None),
    ("GET", "/clinics/1/feed-links", MANAGER, None),
    ("DELETE", "/clinics/1/staff/N1/feed-link", MANAGER, None),
    ("GET", "/clinics/1", ANY, None),
    ("GET", "/clinics/1/scenario", ANY, None),
    ("PUT", "/clinics/1/scenario", MANAGER, {"scenario": small_clinic()}),
    ("GET", "/clinics/1/rooms", ANY, None),
    ("GET", "/clinics/1/rooms/R1", ANY, None),
    ("POST", "/clinics/1/rooms", MANAGER, {"id": "R7", "features": ["recliner"]}),
    ("PUT", "/clinics/1/rooms/R2", MANAGER, {"id": "R2", "features": ["recliner"]}),
    ("DELETE", "/clinics/1/rooms/R2", MANAGER, None),
    ("GET", "/clinics/1/staff", ANY, None),
    ("POST", "/clinics/1/staff", MANAGER, {"id": "N7", "role": "nurse"}),
    ("GET", "/clinics/1/protocols", ANY, None),
    ("GET", "/clinics/1/protocols/esk", ANY, None),
    ("GET", "/clinics/1/patients", ANY, None),
    ("POST", "/clinics/1/patients", DESK, {"id": "P77", "protocol": "esk",
                                           "rems_enrolled": True}),
    ("DELETE", "/clinics/1/patients/P03", DESK, None),
    ("POST", "/clinics/1/solve", DESK, {"time_limit": 1}),
    ("GET", "/clinics/1/schedules", ANY, None),
    ("GET", "/schedules/{draft}", ANY, None),
    ("GET", "/schedules/{draft}/unplaced", ANY, None),
    ("GET", "/schedules/{draft}/diff/{draft}", ANY, None),
    ("GET", "/schedules/{draft}/whom-to-tell", DESK, None),
    ("POST", "/schedules/{draft}/replan", DESK, {"events": []}),
    ("POST", "/schedules/{draft}/simulate", DESK, {"runs": 100}),
    ("POST", "/schedules/{draft}/appointments/{first}/cancel", DESK, {"version": 1}),
    ("POST", "/schedules/{draft}/publish", DESK, {"version": 1}),
    ("PUT", "/users/1/staff", ADMIN, {"staff_id": "N1"}),
    ("POST", "/clinics/1/scenario/file", MANAGER, None),
    ("POST", "/clinics/1/patients/file", DESK, None),
    ("GET", "/jobs/0123456789abcdef0123456789abcdef", ANY, None),
    ("POST", "/jobs/0123456789abcdef0123456789abcdef/cancel", DESK, None),
    ("GET", "/clinics/1/schedules/published", ANY, None),
    ("POST", "/schedules/{draft}/appointments/{first}/move", DESK,
     {"version": 1, "start": "2026-12-07T09:00:00-05:00"}),
    ("GET", "/clinics/1/staff/N1", ANY, None),
    ("PUT", "/clinics/1/staff/N1", MANAGER, {"id": "N1", "role": "nurse"}),
    ("DELETE", "/clinics/1/staff/N9", MANAGER, None),
    ("POST", "/clinics/1/protocols", MANAGER, None),
    ("PUT", "/clinics/1/protocols/esk", MANAGER, None),
    ("DELETE", "/clinics/1/protocols/nope", MANAGER, None),
    ("GET", "/clinics/1/patients/P01", ANY, None),
    ("PUT", "/clinics/1/patients/P01", DESK, {"id": "P01", "protocol": "esk",
                                              "rems_enrolled": True}),
    ("POST", "/clinics/1/appointments", DESK,
     {"number": 1, "patient": "P01", "start": "2026-12-08T15:00:00-05:00"}),
    ("POST", "/clinics/1/appointments/A-0001/move", DESK,
     {"number": 1, "start": "2026-12-08T15:00:00-05:00"}),
    ("POST", "/clinics/1/appointments/A-0001/cancel", DESK, {"number": 1}),
    ("POST", "/clinics/1/undo", DESK, {"number": 1}),
    ("POST", "/clinics/1/appointments/A-0001/mark", DESK, {"mark": "no_show"}),
    ("GET", "/clinics/1/patients/P01/slots", DESK, None),
    ("GET", "/clinics/1/audit", MANAGER, None),
    *[(method, f"/clinics/1/{feed}/feed-link{tail}", allowed, None)
      for feed, allowed in (("patients/P01", DESK), ("staff/me", ANY), ("rooms/R1", MANAGER),
                            ("", MANAGER))
      for method, tail in (("POST", ""), ("GET", ""), ("POST", "/rotate"), ("DELETE", ""))],
]
ROUTES = [(m, p.replace("//", "/"), a, b) for m, p, a, b in ROUTES]
PUBLIC = {("POST", "/auth/token")}
"""Routes anyone may call (the feeds and robots.txt live outside /api/v1)."""
OWN_ACCOUNT = {("POST", "/auth/signout"), ("POST", "/auth/signout-everywhere"),
               ("GET", "/auth/tokens"), ("DELETE", "/auth/tokens/{token_id}"),
               ("POST", "/users/me/password")}
"""Routes about the caller's own account, the same for every role (test_accounts.py)."""


def test_the_role_table_covers_every_operation_of_the_api(service: Service) -> None:
    """Each operation the OpenAPI document lists under /api/v1 has a row above (or is public):
    a route added without saying who may call it fails here."""
    paths = service.client.get("/openapi.json").json()["paths"]
    missing = []
    for template, operations in paths.items():
        if not template.startswith(API):
            continue
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+",
                                          re.escape(template.removeprefix(API))) + "$")
        for method in operations:
            rows = [p for m, p, _, _ in ROUTES if m == method.upper() and pattern.match(
                p.replace("{draft}", "1").replace("{first}", "A-0001"))]
            if not rows and (method.upper(), template.removeprefix(API)) not in (
                    PUBLIC | OWN_ACCOUNT):
                missing.append(f"{method.upper()} {template}")
    assert missing == []


@pytest.mark.parametrize(("method", "path", "allowed", "body"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_each_route_lets_each_role_do_what_the_table_says(
        role_table: tuple[Service, dict[str, Any]], method: str, path: str, allowed: set[str],
        body: Any) -> None:
    """Each role, in its own clinic, may do what the table says (else 403); in a clinic of
    another organization it may do nothing, and learns nothing: every id there (the clinic's, a
    schedule's, a job's, an account's) answers the 404 of an id that does not exist."""
    service, draft = role_table  # shared: an earlier row's write may give 404 or 409, never 403
    other = _other_clinics(path, service.other)
    if "{draft}" in path:
        path = path.format(draft=draft["id"], first=draft["schedule"]["appointments"][0]["id"])
    assert service.call(method, path, None, json=body).status_code == 401
    if other is not None:
        for role in ROLES:
            answer = service.call(method, other, role, json=copy.deepcopy(body))
            expected = 403 if other.startswith("/users/") and role != "admin" else 404
            assert answer.status_code == expected, (role, other, answer.text)
            if expected == 404:
                assert answer.json() == _missing(service, method, other, role, body), other
    for role in ROLES:
        code = service.call(method, path, role, json=copy.deepcopy(body)).status_code
        if role in allowed:
            assert code not in (401, 403), (role, code)
        else:
            assert code == 403, (role, code)
        if role in allowed and method != "GET":
            break  # the first allowed write changed the state; the table is about roles


def _other_clinics(path: str, other: dict[str, Any]) -> str | None:
    """The row's path with every id in it of the other organization (None: it names none)."""
    appointments = other["schedule"]["appointments"]
    if path.startswith("/clinics/1"):
        return f"/clinics/{OTHER_CLINIC}" + path.removeprefix("/clinics/1")
    if "{draft}" in path:
        return path.format(draft=other["id"],
                           first=appointments[0]["id"] if appointments else "A-0001")
    if path.startswith("/jobs/"):
        return f"/jobs/{OTHER_JOB}" + ("/cancel" if path.endswith("/cancel") else "")
    if path.startswith("/users/1/"):
        return f"/users/{OTHER_USER}/" + path.removeprefix("/users/1/").replace(
            "memberships/1", f"memberships/{OTHER_CLINIC}")
    return None


def _missing(service: Service, method: str, other: str, role: str, body: Any) -> Any:
    """What the same call answers with ids that exist nowhere, those ids then read as the
    other organization's: the 404s must not differ."""
    schedule = re.match(r"^/schedules/(\d+)", other)
    real = {"99991": str(OTHER_CLINIC), "99993": str(OTHER_USER), "e" * 32: OTHER_JOB,
            "99992": schedule.group(1) if schedule else "99992"}
    unknown = re.sub(r"^/schedules/\d+", "/schedules/99992", other)
    unknown = (unknown.replace(f"/clinics/{OTHER_CLINIC}", "/clinics/99991")
               .replace(f"/users/{OTHER_USER}/", "/users/99993/")
               .replace(f"memberships/{OTHER_CLINIC}", "memberships/99991")
               .replace(OTHER_JOB, "e" * 32))
    answer = service.call(method, unknown, role, json=copy.deepcopy(body))
    assert answer.status_code == 404, (unknown, answer.text)
    text = answer.text
    for fake, id_ in real.items():
        text = text.replace(fake, id_)
    return json.loads(text)


# ----------------------------------------------------------------------------- clinic data
def test_clinic_data_rejects_bad_input_naming_the_field_and_stores_nothing(
        service: Service) -> None:
    before = service.call("GET", "/clinics/1/scenario").json()["version"]
    cases = [
        ("POST", "/clinics/1/rooms", {"id": "R9", "chairs": 0}, "rooms[2].chairs"),
        ("PUT", "/clinics/1/staff/N1", {"id": "N1", "role": "nurse",
                                        "shifts": {"mon": [["12:00", "09:00"]]}},
         "staff[0].shifts.mon[0]"),
        ("POST", "/clinics/1/patients", {"id": "P9", "protocol": "esk-85"},
         "patients[3].protocol"),
        ("PUT", "/clinics/1/scenario", {"scenario": {**small_clinic(), "horizon": {}}},
         "horizon.start"),
        ("DELETE", "/clinics/1/protocols/esk", None, "patients[0].protocol"),
    ]
    for method, path, body, field in cases:
        response = service.call(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert field in [d["path"] for d in response.json()["detail"]], response.json()
    assert service.call("GET", "/clinics/1/scenario").json()["version"] == before


def test_clinic_data_changes_are_versioned_and_a_stale_writer_gets_409(
        service: Service) -> None:
    version = service.call("GET", "/clinics/1/scenario").json()["version"]
    added = service.call("POST", f"/clinics/1/rooms?version={version}",
                         json={"id": "R3", "features": ["recliner"]})
    assert added.status_code == 201
    stale = service.call("POST", f"/clinics/1/rooms?version={version}",
                         json={"id": "R4", "features": ["recliner"]})
    assert stale.status_code == 409
    assert service.call("GET", "/clinics/1/scenario").json()["version"] == version + 1
    assert [r["id"] for r in service.call("GET", "/clinics/1/rooms").json()] == \
        ["R1", "R2", "R3"]


def test_scenario_and_patients_import_from_files(service: Service) -> None:
    import yaml

    text = yaml.safe_dump(small_clinic())
    ok = service.call("POST", "/clinics/1/scenario/file",
                      files={"file": ("clinic.yaml", text, "application/yaml")})
    assert ok.status_code == 200
    csv = "id,protocol,sessions,rems_enrolled\nP1,esk,1,yes\nP2,esk-85,1,yes\n"
    bad = service.call("POST", "/clinics/1/patients/file",
                       files={"file": ("desk.csv", csv, "text/csv")})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["path"] == "desk.csv row 3.protocol"
    good = service.call("POST", "/clinics/1/patients/file",
                        files={"file": ("desk.csv", csv.replace("esk-85", "esk"), "text/csv")})
    assert [p["id"] for p in good.json()["scenario"]["patients"]] == ["P1", "P2"]


def test_unknown_ids_are_404(service: Service) -> None:
    for path in ("/clinics/9", "/clinics/9/rooms", "/clinics/1/rooms/R9", "/schedules/999",
                 "/jobs/nope", "/schedules/999/unplaced"):
        assert service.call("GET", path).status_code == 404, path



@pytest.mark.parametrize("spelling", ["%C2%85{id}", "%20{id}", "{id}%20", "0{id}", "+{id}",
                                      "%EF%BC%92"])
def test_another_spelling_of_a_clinic_id_is_no_way_past_the_clinic_check(
        service: Service, spelling: str) -> None:
    """A path id with a leading Unicode space (U+0085), a blank, a leading zero or sign, or a
    full-width digit names no clinic (the other organization's, 2, here): the access check and
    the route must not read two ids from one path (schemathesis found
    ``/clinics/%C2%854/rooms`` answered 200, the route reading 4 where the check read none)."""
    for path in (f"/clinics/{spelling.format(id=OTHER_CLINIC)}/rooms",
                 f"/clinics/{spelling.format(id=OTHER_CLINIC)}"):
        for role in ("admin", "front_desk"):
            answer = service.call("GET", path, role)
            assert answer.status_code in (404, 422), (path, role, answer.status_code)
    assert service.call("GET", f"/clinics/{spelling.format(id=1)}/rooms").status_code in (404,
                                                                                          422)


# ----------------------------------------------------------------------------- jobs
def _wait(service: Service, url: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job: dict[str, Any] = service.client.get(url, headers=service.auth("admin")).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job still {job['status']} after {seconds} s")


@pytest.mark.solve
def test_solve_runs_as_a_job_in_a_worker_process(service_with_jobs: Service) -> None:
    service = service_with_jobs
    accepted = service.call("POST", "/clinics/1/solve", "front_desk", json={"time_limit": 2})
    assert accepted.status_code == 202
    job = _wait(service, accepted.headers["Location"])
    assert job["status"] == "done", job
    draft = service.client.get(job["result_url"], headers=service.auth("front_desk")).json()
    assert draft["status"] == "draft" and draft["placed"] == 3
    scenario = validate_scenario(service.call("GET", "/clinics/1/scenario").json()["scenario"])
    assert check(scenario, draft["schedule"]) == []


def test_a_cancelled_job_stores_nothing(service_with_jobs: Service) -> None:
    service = service_with_jobs
    service.call("PUT", "/clinics/1/rooms/R2", json={"id": "R2", "features": ["recliner"]})
    accepted = service.call("POST", "/clinics/1/solve", json={"time_limit": 30})
    cancelled = service.call("POST", f"/jobs/{accepted.json()['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(1.5)
    job = service.call("GET", f"/jobs/{accepted.json()['id']}").json()
    assert job["status"] == "cancelled" and job["result_schedule_id"] is None
    assert service.call("POST", f"/jobs/{job['id']}/cancel").status_code == 409
    assert service.call("GET", "/clinics/1/schedules").json() == []


@pytest.mark.solve
def test_replan_runs_as_a_job_and_lists_the_changes(service_with_jobs: Service) -> None:
    service = service_with_jobs
    draft = service.draft()
    first = draft["schedule"]["appointments"][0]
    bad = service.call("POST", f"/schedules/{draft['id']}/replan",
                       json={"events": [{"type": "cancel", "appointment": "A-9999"}]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["path"] == "events[0].appointment"
    accepted = service.call("POST", f"/schedules/{draft['id']}/replan", json={
        "events": [{"type": "cancel", "appointment": first["id"], "drop": True}],
        "now": "2026-12-01T00:00:00Z", "time_limit": 2})
    job = _wait(service, accepted.headers["Location"])
    assert job["status"] == "done", job
    result = service.client.get(job["result_url"], headers=service.auth("admin")).json()
    assert result["based_on"] == draft["id"]
    assert [c["id"] for c in result["changes"]] == [first["id"]]
    # its first answer, stored as a draft as soon as it existed, says the same here
    early = service.client.get(job["first_answer"]["url"], headers=service.auth("admin")).json()
    assert early["status"] == "draft" and early["based_on"] == draft["id"]
    assert [c["id"] for c in early["changes"]] == [first["id"]]
    assert job["first_answer"]["moved"] == 1 and early["id"] != result["id"]


# ----------------------------------------------------------------------------- drafts
def _free_slot(draft: dict[str, Any]) -> str:
    """A start on Tuesday 2026-12-08 that no appointment's room R2 uses."""
    return "2026-12-08T15:00:00-05:00"


def test_a_move_that_breaks_a_rule_is_refused_with_the_checkers_words(
        service: Service) -> None:
    draft = service.draft()
    a, b = draft["schedule"]["appointments"][:2]
    refused = service.call("POST", f"/schedules/{draft['id']}/appointments/{a['id']}/move",
                           json={"version": draft["version"], "start": b["start"],
                                 "room": b["room"]})
    assert refused.status_code == 422
    (issue,) = [d for d in refused.json()["detail"] if "rooms rule" in d["message"]][:1]
    assert issue["path"] == f"appointments.{a['id']}"
    assert "holds more than 1 session(s)" in issue["message"]
    after = service.call("GET", f"/schedules/{draft['id']}").json()
    assert after["version"] == draft["version"]


def test_a_move_and_a_cancel_change_the_draft_and_its_version(service: Service) -> None:
    draft = service.draft()
    a = draft["schedule"]["appointments"][0]
    moved = service.call("POST", f"/schedules/{draft['id']}/appointments/{a['id']}/move",
                         json={"version": draft["version"], "start": _free_slot(draft),
                               "room": "R2"})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["version"] == draft["version"] + 1
    mine = next(x for x in body["schedule"]["appointments"] if x["id"] == a["id"])
    assert (mine["start"], mine["room"]) == (_free_slot(draft), "R2")
    stale = service.call("POST", f"/schedules/{draft['id']}/appointments/{a['id']}/cancel",
                         json={"version": draft["version"]})
    assert stale.status_code == 409
    cancelled = service.call("POST", f"/schedules/{draft['id']}/appointments/{a['id']}/cancel",
                             json={"version": body["version"]})
    assert cancelled.status_code == 200
    assert a["patient"] in [u["patient"] for u in cancelled.json()["schedule"]["unplaced"]]
    diff = service.call("GET", f"/schedules/{draft['id']}/diff/{draft['id']}").json()
    assert diff["changes"] == []


def test_two_concurrent_moves_into_the_last_free_chair_one_wins(service: Service) -> None:
    """Two front-desk clerks move two different appointments into the same free chair at the
    same time, each from the version they read: exactly one move is stored."""
    draft = service.draft()
    a, b = draft["schedule"]["appointments"][:2]
    barrier = threading.Barrier(2)
    codes: list[int] = []
    original = repo.claim_draft

    def synchronised(session: Any, row: Any, expected: int) -> None:
        barrier.wait(timeout=10)  # both have read and validated; now both write
        original(session, row, expected)

    def move(ref: str) -> None:
        response = service.call("POST", f"/schedules/{draft['id']}/appointments/{ref}/move",
                                json={"version": draft["version"], "start": _free_slot(draft),
                                      "room": "R2"})
        codes.append(response.status_code)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repo, "claim_draft", synchronised)
        threads = [threading.Thread(target=move, args=(ref,)) for ref in (a["id"], b["id"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert sorted(codes) == [200, 409]
    final = service.call("GET", f"/schedules/{draft['id']}").json()
    assert final["version"] == draft["version"] + 1
    in_slot = [x for x in final["schedule"]["appointments"]
               if x["room"] == "R2" and x["start"] == _free_slot(draft)]
    assert len(in_slot) == 1


# ----------------------------------------------------------------------------- publishing
def test_publish_makes_numbered_immutable_versions(service: Service) -> None:
    draft = service.draft()
    published = service.call("POST", f"/schedules/{draft['id']}/publish",
                             json={"version": draft["version"]})
    assert published.status_code == 200 and published.json()["number"] == 1
    again = service.call("POST", f"/schedules/{draft['id']}/publish",
                         json={"version": published.json()["version"]})
    assert again.status_code == 409
    first = draft["schedule"]["appointments"][0]["id"]
    frozen = service.call("POST", f"/schedules/{draft['id']}/appointments/{first}/cancel",
                          json={"version": published.json()["version"]})
    assert frozen.status_code == 409
    latest = service.call("GET", "/clinics/1/schedules/published").json()
    assert latest["id"] == draft["id"]


def test_an_error_inside_publish_leaves_the_last_published_version(service: Service) -> None:
    first = service.draft()
    service.call("POST", f"/schedules/{first['id']}/publish", json={"version": first["version"]})
    second = service.draft()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    client = TestClient(service.client.app, raise_server_exceptions=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repo, "audit", boom)
        failed = client.post(f"{API}/schedules/{second['id']}/publish",
                             json={"version": second["version"]},
                             headers=service.auth("admin"))
    assert failed.status_code == 500
    latest = service.call("GET", "/clinics/1/schedules/published").json()
    assert (latest["id"], latest["number"]) == (first["id"], 1)
    assert service.call("GET", f"/schedules/{second['id']}").json()["status"] == "draft"


def _publish_and_hang(url: str, schedule_id: int, version: int, ready: Any) -> None:
    """Begin publishing inside a transaction, flush it, tell the parent, and wait to die."""
    factory = sessions(connect(url))
    with session_scope(factory) as session:
        repo.publish(session, repo.schedule_row(session, schedule_id), version)
        session.flush()
        ready.set()
        time.sleep(60)


def test_a_process_killed_mid_publish_leaves_the_last_published_version(
        service: Service) -> None:
    first = service.draft()
    service.call("POST", f"/schedules/{first['id']}/publish", json={"version": first["version"]})
    second = service.draft()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_publish_and_hang,
                              args=(service.url, second["id"], second["version"], ready))
    process.start()
    assert ready.wait(timeout=60)
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=10)
    engine = connect(service.url)  # as after a restart: a new connection
    with session_scope(sessions(engine)) as session:
        latest = repo.published(session, 1)
        assert (latest.id, latest.number) == (first["id"], 1)
        assert repo.schedule_row(session, second["id"]).status == "draft"
    engine.dispose()


# ----------------------------------------------------------------------------- command line
def test_user_add_reads_the_password_from_standard_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("CHAIRTIME_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    assert main(["-q", "user", "add", "desk@example.org", "--role", "front_desk"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    assert main(["-q", "user", "add", "desk@example.org", "--role", "front_desk"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["-q", "user", "add", "other@example.org", "--role", "admin"]) == 2
    engine = connect(f"sqlite:///{tmp_path / 'chairtime.db'}")
    with session_scope(sessions(engine)) as session:
        assert repo.count_users(session) == 1
        with pytest.raises(Conflict):
            repo.add_user(session, "DESK@example.org", "x", "admin")
    engine.dispose()


BAD_WRITES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/users", {"email": "not-an-email", "password": "x" * 12, "role": "admin"},
     "body.email"),
    ("POST", "/users", {"email": "a@example.org", "password": "short", "role": "admin"},
     "body.password"),
    ("PUT", "/clinics/1/scenario", {"scenario": {}}, "clinic"),
    ("POST", "/clinics/1/rooms", {"id": "R 9"}, "rooms[2].id"),
    ("PUT", "/clinics/1/rooms/R2", {"id": "R2", "features": "recliner"}, "rooms[1].features"),
    ("POST", "/clinics/1/staff", {"id": "N9", "role": "nurse", "max_patients": -1},
     "staff[2].max_patients"),
    ("PUT", "/clinics/1/protocols/esk", {"id": "esk", "name": "E", "phases": []},
     "protocols[0].phases"),
    ("POST", "/clinics/1/patients", {"id": "P9", "protocol": "esk", "priority": 9},
     "patients[3].priority"),
    ("POST", "/clinics/1/solve", {"time_limit": -1}, "body.time_limit"),
    ("POST", "/schedules/{draft}/replan", {"events": [{"type": "teleport"}]}, "events[0]"),
    ("POST", "/schedules/{draft}/publish", {}, "body.version"),
    ("POST", "/schedules/{draft}/appointments/{first}/cancel", {"version": "one"},
     "body.version"),
    ("POST", "/schedules/{draft}/appointments/{first}/move",
     {"version": 1, "start": "2026-12-08T09:00"}, "body.start"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_WRITES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in BAD_WRITES])
def test_bad_input_on_each_write_route_is_a_422_naming_the_field_and_stores_nothing(
        bad_writes: tuple[Service, dict[str, Any]], method: str, path: str, body: dict[str, Any],
        field: str) -> None:
    service, draft = bad_writes  # shared: every row stores nothing, or fails saying so
    if "{draft}" in path:
        path = path.format(draft=draft["id"], first=draft["schedule"]["appointments"][0]["id"])
    before = (service.call("GET", "/clinics/1/scenario").json(),
              service.call("GET", "/clinics/1/schedules").json())
    response = service.call(method, path, json=body)
    assert response.status_code == 422, response.text
    paths = [d["path"] for d in response.json()["detail"]]
    assert any(p == field or p.startswith(field) for p in paths), paths
    after = (service.call("GET", "/clinics/1/scenario").json(),
             service.call("GET", "/clinics/1/schedules").json())
    assert after == before


# Found by schemathesis (tests/test_openapi.py), each a value the OpenAPI document's types
# refuse, which the server took, converting it (or crashed on).
WRONG_JSON_TYPES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/schedules/{draft}/simulate", {"seed": False}, "body.seed"),
    ("POST", "/schedules/{draft}/simulate", {"runs": "2000"}, "body.runs"),
    ("POST", "/schedules/{draft}/replan", {"events": [], "now": 0}, "body.now"),
    ("POST", "/schedules/{draft}/appointments/{first}/move", {"version": 1, "start": 0},
     "body.start"),
    ("POST", "/clinics/1/rooms", {"id": "R9", "features": ["recliner"], "chairs": True},
     "rooms[2].chairs"),
    ("PUT", "/clinics/1/staff/N1", {"id": "N1", "role": "nurse", "max_patients": "4"},
     "staff[0].max_patients"),
    ("POST", "/clinics/1/patients", {"id": "P9", "protocol": "esk", "rems_enrolled": 1},
     "patients[3].rems_enrolled"),
    ("PUT", "/clinics/1/patients/P01", {"protocol": "esk", "earliest": 0},
     "patients[0].earliest"),
    ("PUT", "/clinics/1/scenario", {"scenario": {**small_clinic(), "version": True}},
     "version"),
    ("PUT", "/clinics/1/scenario", {"scenario": {**small_clinic(), "horizon": {
        "start": "2026-12-07", "days": True}}}, "horizon.days"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_JSON_TYPES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in WRONG_JSON_TYPES])
def test_a_value_of_another_json_type_than_documented_is_a_422_naming_it(
        bad_writes: tuple[Service, dict[str, Any]], method: str, path: str, body: dict[str, Any],
        field: str) -> None:
    """``true`` for a number, ``"4"`` for a number, ``1`` for a flag, ``0`` for a date: pydantic
    converts them, a scenario file written by hand may rely on it; a JSON request is held to
    the types its OpenAPI document gives."""
    test_bad_input_on_each_write_route_is_a_422_naming_the_field_and_stores_nothing(
        bad_writes, method, path, body, field)


def test_a_problem_of_type_comes_with_the_items_other_problems(service: Service) -> None:
    answer = service.call("POST", "/clinics/1/patients",
                          json={"id": "P9", "protocol": "esk-85", "sessions": "2"})
    assert answer.status_code == 422
    assert {d["path"] for d in answer.json()["detail"]} == {"patients[3].sessions",
                                                             "patients[3].protocol"}
    # JSON Schema's integer includes 3.0: accepted, as the document says
    assert service.call("POST", "/clinics/1/rooms",
                        json={"id": "R9", "features": ["recliner"], "chairs": 2.0}
                        ).status_code == 201


def test_a_scenario_section_that_is_not_a_list_is_a_422_naming_it(
        bad_writes: tuple[Service, dict[str, Any]]) -> None:
    """Found by schemathesis: ``courses: {}`` (any section) was a KeyError, a 500."""
    for section in ("courses", "rooms"):
        test_bad_input_on_each_write_route_is_a_422_naming_the_field_and_stores_nothing(
            bad_writes, "PUT", "/clinics/1/scenario",
            {"scenario": {**small_clinic(), section: {}}}, section)


def test_a_nul_in_an_email_or_a_job_id_is_refused_not_a_500(
        bad_writes: tuple[Service, dict[str, Any]]) -> None:
    """Found by schemathesis on PostgreSQL, whose text cannot hold a NUL: the query failed."""
    service, _ = bad_writes
    sign_in = service.client.post(f"{API}/auth/token", data={"username": "admin\x00@example.org",
                                                            "password": "x"})
    assert sign_in.status_code == 400, sign_in.text
    added = service.call("POST", "/users", json={"email": "new\x00@example.org",
                                                 "password": "x" * 12, "role": "admin"})
    assert added.status_code == 422, added.text
    assert added.json()["detail"][0]["path"] == "body.email"
    for method, path in (("GET", "/jobs/0123%00"), ("POST", "/jobs/0123%00/cancel")):
        assert service.call(method, path).status_code == 404, path


def test_a_version_beyond_the_databases_integer_is_a_422_not_a_500(
        bad_writes: tuple[Service, dict[str, Any]]) -> None:
    """Found by schemathesis: publishing ``version: 2**74`` was "integer out of range" on
    PostgreSQL (past 2**63 on SQLite too), a 500; so was the largest it may be, 2**31 - 1 (the
    UPDATE's new version was a parameter, one more)."""
    service, draft = bad_writes
    largest = service.call("POST", f"/schedules/{draft['id']}/publish",
                           json={"version": 2**31 - 1})
    assert largest.status_code == 409, largest.text
    for path, body in (("/schedules/{draft}/publish", {}),
                       ("/schedules/{draft}/appointments/{first}/cancel", {}),
                       ("/clinics/1/scenario", {"scenario": small_clinic()})):
        test_bad_input_on_each_write_route_is_a_422_naming_the_field_and_stores_nothing(
            bad_writes, "PUT" if "scenario" in path else "POST", path,
            {**body, "version": 2**74}, "body.version")


def test_an_item_is_stored_as_sent_without_defaults(service: Service) -> None:
    """The typed bodies describe an item; what is stored is the item as the client wrote it,
    in the scenario file's format (contract v1), as a file would keep it."""
    room = {"id": "R9", "features": ["recliner"], "closures": [{"date": "2026-12-08",
                                                                 "from": "12:00"}]}
    assert service.call("POST", "/clinics/1/rooms", json=room).status_code == 201
    replaced = {"role": "nurse", "qualifications": ["spravato"]}
    assert service.call("PUT", "/clinics/1/staff/N1", json=replaced).status_code == 200
    stored = service.call("GET", "/clinics/1/scenario").json()["scenario"]
    assert stored["rooms"][-1] == room
    assert stored["staff"][0] == {**replaced, "id": "N1"}


def test_a_stored_schedule_keeps_each_rems_forms_due_date(service: Service) -> None:
    """What schedule.json says of REMS paperwork survives the database (migration 0003)."""
    data = small_clinic()
    data["protocols"][0]["requires_rems"] = True  # esketamine under the REMS program
    assert service.call("PUT", "/clinics/1/scenario", json={"scenario": data}).status_code == 200
    draft = service.draft()
    appointments = draft["schedule"]["appointments"]
    assert appointments
    for a in appointments:
        session_day = datetime.fromisoformat(a["start"]).date()
        assert a["rems_form_due"] == (session_day + timedelta(days=7)).isoformat(), a
