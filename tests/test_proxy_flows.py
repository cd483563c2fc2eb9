"""The README's flows behind a TLS-terminating proxy (issue 21): ``chairtime serve
--proxy-headers --forwarded-allow-ips 127.0.0.1`` on a fresh SQLite file, every request carrying
the headers a proxy adds (``X-Forwarded-For``, ``-Proto``) and the ``Host`` it was asked for.
The first admin changes the one-time password, signs in, adds a front desk; the desk solves the
week, publishes it and takes a patient's feed link, whose address is the proxy's https one; the
calendar reads it; the desk's page session gets a Secure cookie; sign-in throttling counts the
client's forwarded address, not the proxy's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from tests.test_feeds_http import server

pytestmark = [pytest.mark.slow, pytest.mark.db]

API = "/api/v1"
CLIENT = "203.0.113.9"


def via(client: str = CLIENT) -> dict[str, str]:
    return {"X-Forwarded-For": client, "X-Forwarded-Proto": "https",
            "Host": "calendar.example.org"}  # a proxy passes the Host it was asked for


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("proxy")
    with server(f"sqlite:///{folder / 'chairtime.db'}", folder,
                {"CHAIRTIME_SCHEDULER": "false", "CHAIRTIME_TIME_LIMIT": "3"},
                args=["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
                ) as (base, _, log):
        yield base, log


def _token(client: httpx.Client, email: str, password: str, source: str = CLIENT) -> str:
    answer = client.post(f"{API}/auth/token", headers=via(source),
                         data={"username": email, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_the_readme_flows_behind_a_proxy(proxied: tuple[str, Path]) -> None:
    base, log = proxied
    once = re.search(r"one-time password: (\S+)", log.read_text())
    assert once is not None
    with httpx.Client(base_url=base, timeout=60) as client:
        admin = _token(client, "admin@chairtime.local", once.group(1))
        changed = client.post(f"{API}/users/me/password", headers={
            **via(), "Authorization": f"Bearer {admin}"}, json={
            "current_password": once.group(1), "new_password": "the admin's own secret"})
        assert changed.status_code == 204, changed.text
        added = client.post(f"{API}/users", headers={**via(), "Authorization": f"Bearer {admin}"},
                            json={"email": "desk@example.org", "password": "a desk's secret 42",
                                  "role": "front_desk", "clinic_ids": [1]})
        assert added.status_code == 201, added.text
        desk = {**via(), "Authorization": "Bearer " + _token(client, "desk@example.org",
                                                             "a desk's secret 42")}
        job = client.post(f"{API}/clinics/1/solve", headers=desk, json={"time_limit": 3})
        assert job.status_code == 202
        assert job.headers["location"].startswith("https://calendar.example.org/api/v1/jobs/")
        job_id = job.json()["id"]
        deadline = time.monotonic() + 240
        while (state := client.get(f"{API}/jobs/{job_id}", headers=desk).json())[
                "status"] in ("queued", "running"):
            assert time.monotonic() < deadline, state
            time.sleep(1)
        assert state["status"] == "done", state
        draft = client.get(f"{API}/schedules/{state['result_schedule_id']}", headers=desk).json()
        published = client.post(f"{API}/schedules/{draft['id']}/publish", headers=desk,
                                json={"version": draft["version"]})
        assert published.status_code == 200, published.text
        patient = draft["schedule"]["appointments"][0]["patient"]
        link = client.post(f"{API}/clinics/1/patients/{patient}/feed-link", headers=desk)
        assert link.status_code == 201
        url = link.json()["url"]
        assert url.startswith("https://calendar.example.org/feeds/"), url
        feed = client.get(url.removeprefix("https://calendar.example.org"), headers=via())
        assert feed.status_code == 200
        calendar = Calendar.from_ical(feed.content)
        assert isinstance(calendar, Calendar) and calendar.walk("VEVENT")

        page = client.get("/login", headers=via())
        assert "secure" in page.headers["set-cookie"].lower()

        for attempt in range(20):  # one address's failures, across e-mails
            wrong = client.post(f"{API}/auth/token", headers=via("198.51.100.7"), data={
                "username": f"nobody{attempt}@example.org", "password": "wrong password"})
            assert wrong.status_code == 400, (attempt, wrong.text)
        locked = client.post(f"{API}/auth/token", headers=via("198.51.100.7"), data={
            "username": "desk@example.org", "password": "a desk's secret 42"})
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
        # another client behind the same proxy is not locked out with it
        assert _token(client, "desk@example.org", "a desk's secret 42", "198.51.100.8")
