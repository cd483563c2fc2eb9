"""Jobs and files under abuse (issue 21, 'Secrets and files' and 'Jobs'), each finding a test
named after it: no database URL or password in the stored scheduled jobs; a solver process ends
with the service killed by ``kill -9`` and ``max_solves`` holds across the restart; a per-user
cap on queued jobs (429 + Retry-After); seeds and time limits refused at the edge (422 naming
the field); a database outage is one warning and a back-off, not a flood; the data directory
0700 and every file the service writes 0600."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from scheduler.api.app import create_app
from scheduler.cli import main
from scheduler.jobs import ScheduledJobs
from scheduler.service.jobs import JobParams
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from scheduler.storage.tables import Job
from scheduler.validate import validate_scenario
from scheduler.worker import JobRunner, run_job
from tests.conftest import fresh_database, password_hash
from tests.test_feeds_http import free_port, server
from tests.test_jobs import _bodies, _published, clinic_only
from tests.test_pages_manager import ONE_MORE_CHAIR, PASSWORD, Site
from tests.test_service import ROLES, Service, small_clinic

PASSWORD_IN_URL = "s3cret-Pa55w0rd"


def with_password(url: str) -> str:
    """``url`` with a password in its userinfo (PostgreSQL's trust auth never asks for it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(username=parsed.username or "postgres",
                      password=PASSWORD_IN_URL).render_as_string(hide_password=False)


@pytest.fixture
def capped(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The service (no job runner: queued jobs stay queued) with at most two jobs per user,
    one signed-in user per role, on the small clinic."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, time_limit=2,
                        max_queued_per_user=2)
    app = create_app(settings, run_jobs=False)
    with TestClient(app) as client:
        tokens = {}
        with session_scope(app.state.sessions) as session:
            for role in ROLES:
                user = repo.add_user(session, f"{role}@example.org", password_hash(PASSWORD),
                                     role)
                tokens[role] = repo.issue_token(session, user, 30)[0]
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(small_clinic()))
        yield Service(client, tokens, database_url)


def job_count(service: Service) -> int:
    factory = service.client.app.state.sessions  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


# ----------------------------------------------------------------------------- secrets
def test_the_postgresql_password_is_stored_nowhere_in_the_scheduled_jobs(
        database_url: str, tmp_path: Path) -> None:
    """Every apscheduler_jobs row unpickled: the job's id and a context's name, no URL, no
    password, no path; and the stored jobs still run (one fired now, through the store)."""
    url = with_password(database_url)
    clinic_only(url)
    _published(url, feeds=False)  # the refresh-feeds job has work to do
    engine = connect(url)
    scheduled = ScheduledJobs(engine, Settings(data_dir=tmp_path, database_url=url))
    try:
        assert scheduled.start()
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, job_state FROM apscheduler_jobs")).all()
        assert {r.id for r in rows} >= {"weekly-draft", "refresh-feeds", "expire-cancelled"}
        for row in rows:
            state = pickle.loads(row.job_state)
            shown = repr(state) + bytes(row.job_state).decode("latin-1")
            for secret in (PASSWORD_IN_URL, "://", str(tmp_path), "database_url"):
                assert secret not in shown, (row.id, secret, state)
            assert state["kwargs"] == {"job": row.id, "context": scheduled.context}
        assert _bodies(url) == {}
        assert scheduled.scheduler is not None
        scheduled.scheduler.modify_job("refresh-feeds", next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 20
        while not _bodies(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ("clinic", "") in _bodies(url)  # run from the store, by its context's name
    finally:
        scheduled.stop()
        engine.dispose()


# ----------------------------------------------------------------------------- orphans
def alive(pid: int) -> bool:
    """Process ``pid`` runs (a zombie, dead but not yet reaped by whoever adopted it, does
    not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] not in ("Z", "X")


def workers_of(service: int) -> list[int]:
    """The job processes process ``service`` started (multiprocessing's spawned children, its
    resource tracker left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (ValueError, OSError, IndexError):
            continue
        if parent == service and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def worker_pid(service: int, log: Path, job_id: str) -> int:
    """The one job process of ``service``, which its log names as ``job_id``'s."""
    workers = workers_of(service)
    assert len(workers) == 1, workers
    logged = re.search(rf"job {job_id} \(solve\) runs in process (\d+)",
                       log.read_text(encoding="utf-8", errors="replace"))
    assert logged is not None and int(logged.group(1)) == workers[0]
    return workers[0]


def solving(base: str, token: str) -> str:
    """A long solve of the demo clinic queued and under way (progress reported)."""
    auth = {"Authorization": f"Bearer {token}"}
    queued = httpx.post(f"{base}/api/v1/clinics/1/solve", json={"time_limit": 600},
                        headers=auth, timeout=30)
    assert queued.status_code == 202, queued.text
    job_id: str = queued.json()["id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/api/v1/jobs/{job_id}", headers=auth, timeout=30).json()
        assert job["status"] in ("queued", "running"), job
        if job["progress"]:
            return job_id
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reported progress")


@pytest.mark.slow
def test_a_solver_process_ends_with_the_service_killed_and_max_solves_holds_after_restart(
        database_url: str, tmp_path: Path) -> None:
    engine = connect(database_url)
    upgrade(engine)
    with session_scope(sessions(engine)) as session:  # no clinic: the service loads the demo
        admin = repo.add_user(session, "admin@example.org", password_hash(), "admin")
        token = repo.issue_token(session, admin, 60)[0]
    engine.dispose()
    env = {"CHAIRTIME_MAX_SOLVES": "1"}
    started: list[int] = []
    try:
        with server(database_url, tmp_path, env) as (base, process, log):
            first = solving(base, token)
            started.extend(workers_of(process.pid))
            assert len(started) == 1 and alive(started[0])
            process.kill()  # kill -9: no lifespan's end, no runner.stop()
            process.wait()
            deadline = time.monotonic() + 5
            while alive(started[0]) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not alive(started[0]), "the solver outlived the service that started it"
        with server(database_url, tmp_path, env) as (base, process, log):
            second = solving(base, token)
            started.append(worker_pid(process.pid, log, second))
            auth = {"Authorization": f"Bearer {token}"}
            old = httpx.get(f"{base}/api/v1/jobs/{first}", headers=auth).json()
            assert old["status"] == "failed" and "service stopped" in old["error"]
            assert [alive(pid) for pid in started] == [False, True]  # one solve at a time
        deadline = time.monotonic() + 5  # a service stopped as usual ends its workers too
        while alive(started[1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(started[1])
    finally:
        for pid in started:  # the processes this test started, should they have survived
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- queue limits
def test_queued_jobs_per_user_are_capped_with_429_and_retry_after(capped: Service,
                                                                  tmp_path: Path) -> None:
    draft = capped.draft()
    queued = [capped.call("POST", "/clinics/1/solve", "front_desk", json={}) for _ in range(2)]
    assert [q.status_code for q in queued] == [202, 202]
    factory = capped.client.app.state.sessions  # type: ignore[attr-defined]
    with session_scope(factory) as session:  # one of them runs (as a runner would claim it)
        assert repo.claim_job(session, queued[1].json()["id"])
    refused = [capped.call("POST", "/clinics/1/solve", "front_desk", json={}),
               capped.call("POST", f"/schedules/{draft['id']}/simulate", "front_desk",
                           json={}),
               capped.call("POST", f"/schedules/{draft['id']}/replan", "front_desk",
                           json={"events": []})]
    for answer in refused:
        assert answer.status_code == 429, answer.text
        assert answer.headers["Retry-After"] in ("1", "2")  # the running solve's time left
        assert "at most 2 at once" in answer.json()["detail"]
    assert job_count(capped) == 2
    assert capped.call("POST", "/clinics/1/solve", "manager", json={}).status_code == 202
    mine = queued[0].json()["id"]
    assert capped.call("POST", f"/jobs/{mine}/cancel", "front_desk").status_code == 200
    assert capped.call("POST", "/clinics/1/solve", "front_desk", json={}).status_code == 202
    # and on the pages: the board's solve button answers a page saying so
    site = Site(capped.client, capped.url, tmp_path)
    site.sign_in("front_desk")
    page = capped.client.post("/solve", data={"csrf": site.csrf("/board")},
                              follow_redirects=False)
    assert page.status_code == 429 and page.headers["Retry-After"] in ("1", "2")
    assert "text/html" in page.headers["content-type"] and "at most 2 at once" in page.text
    assert job_count(capped) == 4


# ----------------------------------------------------------------------------- the edge
def test_a_seed_of_2_to_the_32_is_refused_at_the_edge_naming_the_field(capped: Service
                                                                        ) -> None:
    draft = capped.draft()

    def paths(answer: Any) -> set[str]:
        assert answer.status_code == 422, answer.text
        return {d["path"] for d in answer.json()["detail"]}

    for body in ({"seed": 2**32}, {"seed": 2**31}, {"seed": -1}):
        assert paths(capped.call("POST", "/clinics/1/solve", json=body)) == {"body.seed"}
        assert paths(capped.call("POST", f"/schedules/{draft['id']}/replan",
                                 json={"events": [], **body})) == {"body.seed"}
    for seconds in (0, -1, 3601):
        assert paths(capped.call("POST", "/clinics/1/solve", json={
            "time_limit": seconds})) == {"body.time_limit"}
    assert paths(capped.call("POST", "/clinics/1/solve", json={
        "seed": 2**32, "time_limit": 0})) == {"body.seed", "body.time_limit"}  # all at once
    assert job_count(capped) == 0
    for bad in ({"seed": 2**32}, {"seed": -1}, {"time_limit": 0}, {"time_limit": 86401},
                {"workers": 0}):
        with pytest.raises(ValidationError):
            JobParams(**bad)
    with pytest.raises(ValidationError):
        Settings(seed=2**32)
    # the largest seed there is goes through the solver
    largest = capped.call("POST", "/clinics/1/solve", json={"seed": 2**31 - 1,
                                                            "time_limit": 1})
    assert largest.status_code == 202, largest.text
    job_id = largest.json()["id"]
    factory = capped.client.app.state.sessions  # type: ignore[attr-defined]
    with session_scope(factory) as session:
        assert repo.claim_job(session, job_id)
    run_job(capped.url, job_id)
    done = capped.call("GET", f"/jobs/{job_id}").json()
    assert (done["status"], done["error"]) == ("done", None)


def test_a_seed_of_2_to_the_32_is_refused_on_the_command_line_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["solve", "--out", str(tmp_path)], ["whatif", "-", "-", "--out",
                                                       str(tmp_path)]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--seed", str(2**32)])
        assert exited.value.code == 2  # invalid input, before any solve
        assert "--seed: 4294967296 is not between 0 and 2147483647" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- outages
class Proxy:
    """A TCP forwarder in front of a database: ``down`` closes every connection and refuses
    new ones (a database that went away), ``up`` serves again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.open: list[socket.socket] = []
        self.mutex = threading.Lock()
        self.serving = threading.Event()
        self.thread: threading.Thread | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        self.serving.set()
        self.thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.thread.start()

    def down(self) -> None:
        self.serving.clear()
        if self.thread is not None:
            self.thread.join()
        with self.mutex:
            for s in self.open:
                _close(s)
            self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self.serving.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                upstream = socket.create_connection(self.target)
                with self.mutex:
                    self.open += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(sink)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


def test_a_database_outage_is_one_warning_and_a_back_off_not_a_flood(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        parsed = make_url(url)
        proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        via = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False)
        engine = connect(via)
        runner = JobRunner(engine, via, poll_seconds=0.05, max_backoff=0.8)
        caplog.set_level(logging.DEBUG, logger="scheduler.worker")
        try:
            runner.start()
            time.sleep(0.5)  # ten good ticks
            proxy.down()
            time.sleep(4)  # 80 ticks at the poll's pace
            proxy.up()
            deadline = time.monotonic() + 5
            while not any("working again" in r.getMessage() for r in caplog.records) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            runner.stop()
            proxy.down()
            engine.dispose()
    records = [r for r in caplog.records if r.name == "scheduler.worker"]
    shown = [(r.levelname, r.getMessage()) for r in records if r.levelno >= logging.INFO]
    assert [level for level, _ in shown] == ["WARNING", "INFO"], shown
    assert "the database is unavailable" in shown[0][1]
    assert "working again" in shown[1][1]
    assert not any(r.exc_info for r in records)  # no traceback
    retries = [r for r in records if "failed again" in r.getMessage()]
    assert 3 <= len(retries) <= 10, len(retries)  # 0.1, 0.2, 0.4, then 0.8 s apart


# ----------------------------------------------------------------------------- file modes
def modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.slow
def test_files_are_world_readable_no_more(tmp_path: Path) -> None:
    """Files are world-readable (database, WAL, backups, what-if reports: 0644, folders
    0755) no more: a data directory of an older service (0755, a database 0644) is made the
    owner's on start, and what the service writes then (WAL, lock, a nightly backup, a what-if
    report from a worker process) is 0600 in 0700 folders."""
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'chairtime.db'}"
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    (data / "older-report").mkdir()
    (data / "older-report" / "report.html").write_text("<p>an older what-if</p>")
    for path, mode in ((data, 0o755), (data / "chairtime.db", 0o644),
                       (data / "older-report", 0o755),
                       (data / "older-report" / "report.html", 0o644)):
        path.chmod(mode)
    before = os.umask(0o022)  # read the test's umask (and keep it)
    os.umask(before)
    settings = Settings(data_dir=data, database_url=url, time_limit=1, workers=1)
    app = create_app(settings)
    with TestClient(app) as client:
        with session_scope(app.state.sessions) as session:
            repo.add_user(session, "manager@example.org", password_hash(PASSWORD), "manager")
            repo.add_scenario_version(session, repo.clinic(session, 1),
                                      validate_scenario(small_clinic()))
        site = Site(client, url, data)
        site.sign_in("manager")
        asked = site.run(variants=ONE_MORE_CHAIR)
        assert asked.status_code == 303, asked.text
        job_id = asked.headers["location"].removeprefix("/jobs/")
        scheduled = app.state.scheduled.scheduler
        scheduled.modify_job("backup", next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with session_scope(app.state.sessions) as session:
                status = repo.job(session, job_id).status
            if status not in ("queued", "running") and list((data / "backups").glob("*.db")):
                break
            time.sleep(0.3)
        assert status == "done"
        found = modes(data)  # while the service runs: its WAL is there too
    assert {"chairtime.db", "chairtime.db-wal", "chairtime.db-shm", "chairtime.db.jobs.lock",
            f"whatif/{job_id}/report.html", f"whatif/{job_id}/comparison.csv",
            "older-report/report.html"} <= set(found), found
    assert any(name.startswith("backups/chairtime-") for name in found), found
    assert any(name.endswith(".png") for name in found), found
    wrong = {name: oct(mode) for name, mode in found.items()
             if mode != (0o700 if (data / name).is_dir() else 0o600)}
    assert wrong == {}
    after = os.umask(before)
    assert after == before  # the service's umask ended with it
