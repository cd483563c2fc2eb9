"""Limits before work, and the service behind a proxy: each test is a finding of issue 21, named
after it. A body is refused while it streams (a real ``chairtime serve``, its memory read from
/proc); YAML bombs and deep nesting are 422s naming the field on the upload and on both pages
that read YAML; a CSV import does not stall other requests; forwarded headers are believed from
the proxy only; /docs loads nothing from a CDN and sends a CSP."""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from scheduler.nesting import MAX_DEPTH
from scheduler.service.accounts import first_clinic
from scheduler.storage import repo
from scheduler.storage.db import connect, session_scope, sessions, upgrade
from tests.conftest import password_hash
from tests.test_feeds_http import feeds_service, server
from tests.test_pages_desk import csrf, messages, sign_in
from tests.test_service import Service, small_clinic

MIB = 1024 * 1024
ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [{','.join(f'*{a}' for _ in range(9))}]"
       for a, b in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"
"""The classic billion laughs: 9^9 strings from 342 bytes."""
DEEP_YAML = "[" * 1000 + "]" * 1000


def nested_json(levels: int) -> str:
    return '{"clinic": ' + "[" * levels + "]" * levels + "}"


DEEP_JSON = nested_json(1000)


# ----------------------------------------------------------------------------- a real server
@dataclass
class Live:
    base: str
    pid: int
    token: str  # a front desk's bearer token
    log: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``chairtime serve --proxy-headers --forwarded-allow-ips 127.0.0.1`` on a fresh SQLite
    file (the demo clinic, loaded at start), one front-desk account with a token."""
    folder = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{folder / 'chairtime.db'}"
    engine = connect(url)
    upgrade(engine)
    with session_scope(sessions(engine)) as session:
        first_clinic(session)  # as the first start would: the desk is a member of it
        user = repo.add_user(session, "desk@example.org", password_hash(), "front_desk")
        token = repo.issue_token(session, user, 60)[0]
    engine.dispose()
    with server(url, folder, {"CHAIRTIME_SCHEDULER": "false"},
                args=["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
                ) as (base, process, log):
        yield Live(base, process.pid, token, log)


def rss(pid: int) -> int:
    """The process's resident memory, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found is not None
    return int(found.group(1)) * 1024


def stream(base: str, method: str, path: str, total: int, headers: dict[str, str]
           ) -> tuple[int, bytes]:
    """Send a chunked body of ``total`` bytes, stopping as soon as the server answers: how
    many bytes went out, and the answer."""
    host, port = base.removeprefix("http://").split(":")
    chunk = b"[" + b"1," * (32 * 1024 - 1) + b"1"  # 64 KiB
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as s:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
                  f"{head}\r\n".encode())
        try:
            while sent < total and not select.select([s], [], [], 0)[0]:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            else:
                s.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed meanwhile
        return sent, answer_on(s)


def answer_on(s: socket.socket) -> bytes:
    """The HTTP answer read off ``s``: its head and its Content-Length of body."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += s.recv(65536)
    head = answer.split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"content-length: (\d+)", head, re.I)
    assert found is not None, head
    while len(answer) < len(head) + 4 + int(found.group(1)):
        answer += s.recv(65536)
    return answer


@pytest.mark.slow
def test_a_big_body_without_a_token_is_refused_while_it_streams(live: Live) -> None:
    """Finding: a 200 MiB JSON to PUT /clinics/1/scenario without a token took the server from
    195 to 793 MiB before its 401 (the body was read and parsed before the token)."""
    before = rss(live.pid)
    sent, answer = stream(live.base, "PUT", "/api/v1/clinics/1/scenario", 50 * MIB,
                          {"Content-Type": "application/json"})
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert rest.endswith(b'{"detail":"The request is larger than the 5 MiB this address '
                         b'accepts."}')
    assert sent < 30 * MIB  # cut off past the limit (and what the sockets buffer), not read
    assert rss(live.pid) - before < 30 * MIB
    # announced: refused at once, before a byte of it is sent (and before the token)
    host, port = live.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(f"PUT /api/v1/clinics/1/scenario HTTP/1.1\r\nHost: {host}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {200 * MIB}\r\n\r\n"
                  .encode())
        announced = answer_on(s)
    assert announced.startswith(b"HTTP/1.1 413")
    assert announced.endswith(b'{"detail":"The request is larger than the 5 MiB this address '
                              b'accepts."}')
    # the default limit elsewhere, and a page's answer is a page
    sent, answer = stream(live.base, "POST", "/api/v1/clinics/1/rooms", 50 * MIB,
                          {"Content-Type": "application/json",
                           "Authorization": f"Bearer {live.token}"})
    assert answer.startswith(b"HTTP/1.1 413") and b"the 1 MiB this address" in answer
    form = httpx.post(f"{live.base}/login", content=b"x" * (2 * MIB),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 413
    assert form.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in form.headers
    assert "larger than the 1 MiB this address accepts" in form.text
    assert rss(live.pid) - before < 30 * MIB


@pytest.mark.slow
def test_the_csv_import_does_its_work_off_the_event_loop(live: Live) -> None:
    """Finding: the CSV import does CPU work on the event loop (a 4.6 MiB file stalled every
    request for 5.4 s). Here a request made while an import runs is answered before the import
    is, in a small part of its time."""
    rows = "".join(f"Q{i:06d},esk-84,1,yes\n" for i in range(40_000))
    csv = ("id,protocol,sessions,rems_enrolled\n" + rows).encode()
    done: dict[str, float] = {}

    def upload() -> None:
        answer = httpx.post(f"{live.base}/api/v1/clinics/1/patients/file", timeout=300,
                            headers={"Authorization": f"Bearer {live.token}"},
                            files={"file": ("desk.csv", csv, "text/csv")})
        done["status"] = answer.status_code
        done["at"] = time.monotonic()

    started = time.monotonic()
    thread = threading.Thread(target=upload)
    thread.start()
    waits = []  # of each request asked while the import ran
    while thread.is_alive():
        asked = time.monotonic()
        assert httpx.get(f"{live.base}/robots.txt", timeout=300).status_code == 200
        waits.append(time.monotonic() - asked)
        time.sleep(0.05)
    thread.join()
    took = done["at"] - started
    assert done["status"] in (200, 422)  # read and validated whole (the demo's fixed sessions
    assert took > 1.0, "the import is too quick to show anything"  # name its own patients)
    assert max(waits) < took / 4, f"a request waited {max(waits):.1f} s of the {took:.1f} s"
    assert len(waits) >= 5


@pytest.mark.slow
def test_serve_reads_forwarded_headers_from_its_proxy(live: Live) -> None:
    """Finding: the session cookie gets Secure only when the request itself is https (behind a
    TLS proxy it never is, since serve passed no proxy options)."""
    proxied = httpx.get(f"{live.base}/login", headers={"X-Forwarded-Proto": "https",
                                                      "X-Forwarded-For": "203.0.113.9"})
    assert "secure" in proxied.headers["set-cookie"].lower()
    plain = httpx.get(f"{live.base}/login")
    assert "secure" not in plain.headers["set-cookie"].lower()
    time.sleep(0.5)  # uvicorn writes its lines after answering
    assert "203.0.113.9" in live.log.read_text(encoding="utf-8", errors="replace")


# ----------------------------------------------------------------------------- behind a proxy
def test_forwarded_headers_are_believed_from_the_proxy_only(database_url: str, tmp_path: Path
                                                            ) -> None:
    """The same finding on the app itself (``create_app`` under any server): the client's
    address (the feeds' rate limit per address) and scheme (Secure cookies) are the forwarded
    ones from an allowed proxy, and the connection's own from anywhere else."""
    with feeds_service(database_url, tmp_path, proxy_headers=True,
                       forwarded_allow_ips="10.0.0.0/24", feed_address_limit=3,
                       feed_limit_seconds=3600) as service:
        app = service.client.app
        proxy = TestClient(app, client=("10.0.0.7", 40000), follow_redirects=False)
        other = TestClient(app, client=("192.0.2.1", 40000), follow_redirects=False)

        def via(address: str) -> dict[str, str]:
            return {"X-Forwarded-Proto": "https", "X-Forwarded-For": address}

        form = proxy.get("/login", headers=via("203.0.113.9"))
        assert "secure" in form.headers["set-cookie"].lower()
        seed = form.headers["set-cookie"].split(";")[0]  # a Secure cookie: httpx keeps it for
        signed_in = proxy.post("/login", headers={  # https, which the proxy's side is not
            **via("203.0.113.9"), "Cookie": seed}, data={
            "email": "front_desk@example.org", "password": "correct horse battery",
            "csrf": csrf(form.text), "next": "/board"})
        assert signed_in.status_code == 303
        session_cookie = next(c for c in signed_in.headers.get_list("set-cookie")
                              if c.startswith("chairtime_session="))
        assert "secure" in session_cookie.lower()
        unknown = [f"/feeds/{i:032d}.ics" for i in range(5)]
        first = [proxy.get(u, headers=via("203.0.113.9")).status_code for u in unknown]
        assert first == [404, 404, 404, 429, 429]  # that client's own bucket
        assert proxy.get(unknown[0], headers=via("203.0.113.10")).status_code == 404

        assert "secure" not in other.get("/login", headers=via("203.0.113.11")
                                         ).headers["set-cookie"].lower()
        spoofed = [other.get(u, headers=via(f"198.51.100.{i}")).status_code
                   for i, u in enumerate(unknown[:4])]
        assert spoofed == [404, 404, 404, 429]  # one bucket: the connection's address


# ----------------------------------------------------------------------------- YAML and JSON
@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The small clinic with a solved draft; the client signed in as a manager."""
    with feeds_service(database_url, tmp_path) as service:
        service.draft()
        sign_in(service.client, "manager")
        yield service


def test_yaml_alias_bomb_is_refused(desk: Service) -> None:
    """Finding: YAML alias bomb: 370 bytes to POST …/scenario/file took 25.5 s and 1.4 GiB,
    stalling every other request."""
    assert len(ALIAS_BOMB) < 400
    answer = desk.call("POST", "/clinics/1/scenario/file", role="manager",
                       files={"file": ("bomb.yaml", ALIAS_BOMB, "application/yaml")})
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["path"] == "bomb.yaml"
    assert problem["message"].startswith("is not valid YAML or JSON: expands through its "
                                         "aliases to more than 10,000 values")
    itself = desk.call("POST", "/clinics/1/scenario/file", role="manager",
                       files={"file": ("loop.yaml", "a: &a [*a]", "application/yaml")})
    assert "the alias *a is inside the value it names" in itself.json()["detail"][0]["message"]
    # aliases as PyYAML writes them for shared values are read
    shared = yaml.safe_dump(small_clinic())
    assert "&id001" in shared
    assert desk.call("POST", "/clinics/1/scenario/file", role="manager", files={
        "file": ("clinic.yaml", shared, "application/yaml")}).status_code == 200
    # the same on the pages that read YAML
    whatif = desk.client.post("/whatif", data={
        "csrf": csrf(desk.client.get("/whatif").text), "time_limit": "1",
        "variants": ALIAS_BOMB.replace("i:", "variants:")})
    assert whatif.status_code == 422
    assert any("expands through its aliases" in m for m in messages(whatif.text)["variants"])


def test_yaml_nested_1000_deep_is_a_422_on_the_upload_the_replan_page_and_the_whatif_page(
        desk: Service) -> None:
    """Finding: YAML nested 1,000 deep is a 500 (RecursionError) on the upload, the re-plan
    page and the what-if page. And JSON 1,000 deep, which Python's parser gives up on."""
    message = f"nests deeper than {MAX_DEPTH} levels"
    upload = desk.call("POST", "/clinics/1/scenario/file", role="manager",
                       files={"file": ("deep.yaml", DEEP_YAML, "application/yaml")})
    assert upload.status_code == 422
    assert upload.json()["detail"][0]["path"] == "deep.yaml"
    assert message in upload.json()["detail"][0]["message"]
    as_json = desk.call("POST", "/clinics/1/scenario/file", role="manager",
                        files={"file": ("deep.json", DEEP_JSON, "application/json")})
    assert as_json.status_code == 422
    assert as_json.json()["detail"] == [{"path": "deep.json", "message": "is not valid YAML "
                                         f"or JSON: {message}"}]
    aliased = "a: &a " + "[" * 30 + "]" * 30 + "\nb: " + "[" * 15 + "*a" + "]" * 15
    deeper = desk.call("POST", "/clinics/1/scenario/file", role="manager",
                       files={"file": ("aliased.yaml", aliased, "application/yaml")})
    assert f"{message} (its aliases expanded)" in deeper.json()["detail"][0]["message"]
    json_body = {**desk.auth("manager"), "Content-Type": "application/json"}
    body = desk.client.put("/api/v1/clinics/1/scenario", content=DEEP_JSON, headers=json_body)
    assert body.status_code == 400  # past Python's parser: FastAPI's own answer, not a 500
    for path in ("/clinics/1/scenario", "/clinics/1/rooms"):  # 500 deep: parsed, then refused
        deep = desk.client.request("PUT" if path.endswith("scenario") else "POST",
                                   "/api/v1" + path, headers=json_body,
                                   content=nested_json(500))
        assert deep.status_code == 422, path
        assert deep.json()["detail"] == [{"path": "body", "message": message}]

    drafted = desk.call("GET", "/clinics/1/schedules").json()[-1]
    page = desk.client.get(f"/schedules/{drafted['id']}/replan")
    replan = desk.client.post(f"/schedules/{drafted['id']}/replan", data={
        "csrf": csrf(page.text), "type": "", "yaml": DEEP_YAML})
    assert replan.status_code == 422
    assert [m for m in messages(replan.text)["yaml"] if message in m]
    whatif = desk.client.post("/whatif", data={
        "csrf": csrf(desk.client.get("/whatif").text), "time_limit": "1",
        "variants": DEEP_YAML})
    assert whatif.status_code == 422
    assert [m for m in messages(whatif.text)["variants"] if message in m]
    # nesting a real file needs is read as before
    fine = desk.call("POST", "/clinics/1/scenario/file", role="manager",
                     files={"file": ("clinic.json", "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1),
                                     "application/json")})
    assert fine.status_code == 422
    assert "nests deeper" not in fine.text


# ----------------------------------------------------------------------------- /docs
def test_docs_load_nothing_from_a_cdn_and_send_a_csp(database_url: str, tmp_path: Path
                                                     ) -> None:
    """Finding: /docs loads swagger-ui from a CDN without an integrity hash and has no CSP."""
    with feeds_service(database_url, tmp_path) as service:
        client = service.client
        docs = client.get("/docs")
        assert docs.status_code == 200
        csp = docs.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "default-src 'none'" in csp
        assert "<script>" not in docs.text  # no inline script: every one is a file of ours
        sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert sources and all(s.startswith("/") for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
        assert client.get("/redoc").status_code == 404  # it would need inline styles and a CDN
        assert client.get("/openapi.json").json()["info"]["title"] == "Chairtime"


@pytest.mark.slow
@pytest.mark.browser
def test_docs_render_under_their_csp_in_a_browser(live: Live, browser: Any) -> None:
    """The same page in Chromium: Swagger UI lists the operations, with no request off this
    origin and no Content-Security-Policy violation."""
    page = browser.new_page()
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{live.base}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 30
    assert [u for u in requests if not u.startswith((live.base, "data:"))] == []
    assert [m for m in console if "Content Security Policy" in m] == []
    page.close()


