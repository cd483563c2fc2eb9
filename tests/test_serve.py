"""The README's first command, ``bash scripts/serve``: the service on the demo clinic with a
published demo week, signed in with the one-time password it prints, once per data folder."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

PASSWORD = re.compile(r"one-time password: (\S+) \(shown once; it must be changed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CHAIRTIME_DATABASE_URL", "CHAIRTIME_DATA_DIR")}
    env["COLUMNS"] = "250"  # the log's lines unwrapped
    with log.open("wb") as out:
        return subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "serve"), "--port", str(port), "--data-dir",
             str(data_dir), "--time-limit", "3", "--no-install"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait(proc: subprocess.Popen[bytes], port: int, log: Path, seconds: float = 120) -> str:
    """The log once the service answers (it fails the test when the script ends first)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if proc.poll() is not None:
            pytest.fail(f"scripts/serve ended ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return log.read_text()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"scripts/serve did not answer in {seconds} s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
@pytest.mark.solve
@pytest.mark.db
def test_the_first_command_serves_a_published_demo_week(tmp_path: Path) -> None:
    """A fresh data folder: the script prints the address and the first admin's one-time
    password; signed in with it (and made to change it), the API has a published schedule of
    the demo clinic. A second start on the same folder publishes nothing more."""
    data_dir, port = tmp_path / "data", _free_port()
    proc = _start(port, data_dir, tmp_path / "first.log")
    try:
        text = _wait(proc, port, tmp_path / "first.log")
        assert f"http://127.0.0.1:{port}/" in text
        assert str(data_dir) in text
        found = PASSWORD.search(text)
        assert found is not None, text
        once = found.group(1)
        api = f"http://127.0.0.1:{port}/api/v1"
        with httpx.Client(base_url=api, timeout=30) as client:
            signed = client.post("/auth/token", data={"username": "admin@chairtime.local",
                                                      "password": once})
            assert signed.status_code == 200, signed.text
            auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            blocked = client.get("/clinics/1/schedules/published", headers=auth)
            assert blocked.status_code == 403  # the one-time password must be changed first
            changed = client.post("/users/me/password", headers=auth, json={
                "current_password": once, "new_password": "a new and long secret"})
            assert changed.status_code == 204, changed.text
            live = client.get("/clinics/1/schedules/published", headers=auth)
            assert live.status_code == 200, live.text
            assert live.json()["number"] == 1
            assert live.json()["schedule"]["appointments"]
    finally:
        _stop(proc)
    proc = _start(port, data_dir, tmp_path / "second.log")
    try:
        text = _wait(proc, port, tmp_path / "second.log")
        assert "published the demo week" not in text
        assert "one-time password:" not in text  # shown once, at the first start
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
            signed = client.post("/auth/token", data={"username": "admin@chairtime.local",
                                                      "password": "a new and long secret"})
            auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            listed = client.get("/clinics/1/schedules", headers=auth).json()
            assert [s["status"] for s in listed] == ["published"]
    finally:
        _stop(proc)
