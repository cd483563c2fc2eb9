"""``python -m bench abuse``: a signed-in request's latency and the server's memory while
wrong sign-ins and a large body arrive (issue 21, findings 3 and 7), for one or more source
trees (``--tree before=/path/to/old --tree after=.``), each measured in the same run.

For each tree and each load a fresh ``chairtime serve`` runs from that tree (its own
interpreter process, cwd and PYTHONPATH the tree, SQLite in a temporary data folder, an admin
added with that tree's ``chairtime user add``, else the first admin's logged password). The
signed-in client is this process: one ``GET /api/v1/clinics/1`` after another (20 ms apart),
for ``--seconds``. The loads come from processes of their own:

- **sign-ins**: ``--sign-ins`` (60) clients, each posting a wrong password for the admin's
  e-mail as soon as its last answer came, pausing ``--pause`` s after a refusal (429/503);
- **throttle off**: the same with the sign-in locks set out of reach
  (``CHAIRTIME_SIGN_IN_*_FAILURES``), so every attempt reaches the cap on password checks;
- **body**: ``--body-mib`` (200) MiB of JSON streamed (chunked) to
  ``PUT /api/v1/clinics/1/scenario`` without a token, again and again (the load lasts until
  one has been answered);
- **both**: sign-ins and body at once.

Memory is the server process's peak resident set during the load (``VmHWM`` reset at its start
through ``/proc/PID/clear_refs``; sampled every 20 ms where that is refused) plus the peak of
its child processes, sampled. Linux only. Prints a markdown table; p50 ratios are against the
same tree's unloaded row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

EMAIL = "bench-admin@example.org"
GET = "/api/v1/clinics/1"
TOKEN = "/api/v1/auth/token"
BODY_PATH = "/api/v1/clinics/1/scenario"
UNTHROTTLED = {"CHAIRTIME_SIGN_IN_ACCOUNT_FAILURES": "1000",
               "CHAIRTIME_SIGN_IN_ADDRESS_FAILURES": "1000000"}
LOADS = ("none", "sign-ins", "sign-ins, throttle off", "body", "sign-ins + body")


@dataclass
class Row:
    tree: str
    load: str
    latencies: list[float]
    errors: int
    start_mib: float
    peak_mib: float
    sign_ins: Counter[str] = field(default_factory=Counter)
    bodies: list[tuple[str, float]] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


# ----------------------------------------------------------------------------- the server
def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tree: Path, data: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "CHAIRTIME_DATA_DIR": str(data),
            "CHAIRTIME_DATABASE_URL": f"sqlite:///{data / 'chairtime.db'}",
            "CHAIRTIME_SCHEDULER": "false", "CHAIRTIME_LOG_LEVEL": "WARNING", **(extra or {})}


def _check_tree(tree: Path, data: Path) -> None:
    """The interpreter, run as the server will be, imports the tree's own package (not the
    installed one)."""
    found = subprocess.run([sys.executable, "-c", "import scheduler; print(scheduler.__file__)"],
                           cwd=tree, env=_env(tree, data), capture_output=True, text=True,
                           check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree}: imports {found}, not its own scheduler package")


def _add_admin(tree: Path, data: Path) -> tuple[str, str] | None:
    """An admin's e-mail and password, added through the tree's ``chairtime user add``
    (password on standard input); None when that fails (the first admin's one-time password is
    read from the first server's log instead)."""
    password = "bench " + secrets.token_urlsafe(18)
    done = subprocess.run([sys.executable, "-m", "scheduler", "-q", "user", "add", EMAIL,
                           "--role", "admin"], cwd=tree, env=_env(tree, data),
                          input=password + "\n", capture_output=True, text=True)
    return (EMAIL, password) if done.returncode == 0 else None


@dataclass
class Server:
    base: str
    pid: int
    log: Path


@contextlib.contextmanager
def _serve(tree: Path, data: Path, extra: dict[str, str]) -> Iterator[Server]:
    port = _port()
    log = data / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--port",
                                    str(port)], cwd=tree, env=_env(tree, data, extra),
                                   stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server of {tree} stopped: see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/robots.txt", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server of {tree} did not answer: see {log}")
            time.sleep(0.2)
        yield Server(base, process.pid, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_admin(server: Server) -> tuple[str, str]:
    found = re.search(r"first admin: (\S+), one-time password: (\S+) ",
                      server.log.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise SystemExit(f"no admin: neither `user add` nor a logged one ({server.log})")
    return found.group(1), found.group(2)


def _sign_in(server: Server, email: str, password: str) -> str:
    answer = httpx.post(server.base + TOKEN, data={"username": email, "password": password},
                        timeout=60)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


# ----------------------------------------------------------------------------- memory
def _status(pid: int) -> dict[str, int]:
    """``/proc/PID/status`` memory lines, in KiB ({} once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return {}
    return {k: int(v) for k, v in re.findall(r"^(Vm\w+):\s+(\d+) kB", text, re.M)}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found + [g for c in found for g in _children(c)]


class Memory:
    """The server's peak resident memory from now on: its own high-water mark (reset now),
    else sampled, plus its children's, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            self.exact = True
        except OSError:
            self.exact = False
        self.start = _status(pid).get("VmRSS", 0) / 1024
        self.sampled = self.start
        self.children = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.sampled = max(self.sampled, _status(self.pid).get("VmRSS", 0) / 1024)
            kids = sum(_status(c).get("VmRSS", 0) for c in _children(self.pid)) / 1024
            self.children = max(self.children, kids)

    def peak(self) -> float:
        """MiB, once the load is over."""
        self._stop.set()
        self._thread.join()
        own = _status(self.pid).get("VmHWM", 0) / 1024 if self.exact else self.sampled
        return max(own, self.sampled) + self.children


# ----------------------------------------------------------------------------- the loads
def _storm(base: str, email: str, clients: int, pause: float, stop: Event,
           results: Any) -> None:
    """``clients`` wrong sign-ins kept coming until ``stop``; the answers counted by status."""
    counts: Counter[str] = Counter()

    async def client(http: httpx.AsyncClient, i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                answer = await http.post(base + TOKEN, data={
                    "username": email, "password": f"wrong guess {i}-{n}"})
                counts[str(answer.status_code)] += 1
                refused = answer.status_code in (429, 503)
            except httpx.HTTPError:
                counts["error"] += 1
                refused = True
            if refused:
                await asyncio.sleep(pause)

    async def run() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(timeout=300, limits=limits) as http:
            await asyncio.gather(*(client(http, i) for i in range(clients)))

    asyncio.run(run())
    results.put(("sign-ins", dict(counts)))


def _json_body(mib: int) -> Iterator[bytes]:
    """About ``mib`` MiB of a scenario's JSON: patients with 1 KiB of notes each."""
    yield b'{"version": 1, "scenario": {"version": 1, "patients": ['
    notes = "x" * 1000
    size, i = 0, 0
    while size < mib * 2**20:
        chunk = ",".join(f'{{"id": "P{i + k:07d}", "protocol": "esk", "notes": "{notes}"}}'
                         for k in range(256))
        yield (("," if i else "") + chunk).encode()
        size += len(chunk)
        i += 256
    yield b"]}}"


def _bodies(base: str, mib: int, stop: Event, first: Event, results: Any) -> None:
    """The body, again and again until ``stop`` (at least once); each answer and its time."""
    answers: list[tuple[str, float]] = []
    with httpx.Client(timeout=600) as http:
        while True:
            t0 = time.perf_counter()
            try:
                answer = http.put(base + BODY_PATH, content=_json_body(mib),
                                  headers={"Content-Type": "application/json"})
                answers.append((str(answer.status_code), time.perf_counter() - t0))
            except httpx.HTTPError as exc:
                answers.append((type(exc).__name__, time.perf_counter() - t0))
            first.set()
            if stop.is_set():
                break
    results.put(("bodies", answers))


def _measure(tree: str, load: str, server: Server, email: str, token: str,
             args: argparse.Namespace) -> Row:
    context = multiprocessing.get_context("spawn")
    stop, first, results = context.Event(), context.Event(), context.Queue()
    workers = []
    if "sign-ins" in load:
        workers.append(context.Process(target=_storm, args=(
            server.base, email, args.sign_ins, args.pause, stop, results)))
    if "body" in load:
        workers.append(context.Process(target=_bodies, args=(
            server.base, args.body_mib, stop, first, results)))
    else:
        first.set()
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=server.base, timeout=300,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(5):  # warm
            http.get(GET)
        memory = Memory(server.pid)
        for worker in workers:
            worker.start()
        time.sleep(1.0 if workers else 0)  # the loads arrive
        end = time.monotonic() + args.seconds
        while time.monotonic() < end or not first.is_set():
            t0 = time.perf_counter()
            try:
                ok = http.get(GET).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1
            time.sleep(0.02)
        stop.set()
        got = dict(results.get(timeout=900) for _ in workers)
        for worker in workers:
            worker.join(timeout=60)
        peak = memory.peak()
    return Row(tree, load, latencies, errors, memory.start, peak,
               Counter(got.get("sign-ins", {})), list(got.get("bodies", [])))


# ----------------------------------------------------------------------------- the table
def _trees(specs: list[str] | None) -> list[tuple[str, Path]]:
    """``LABEL=PATH`` or ``PATH`` (labelled by its folder's name); default this tree."""
    out = []
    for spec in specs or [str(Path(__file__).resolve().parents[1])]:
        label, _, path = spec.rpartition("=")
        tree = Path(path).resolve()
        if not (tree / "scheduler" / "__init__.py").exists():
            raise SystemExit(f"{tree} is not a Chairtime source tree")
        out.append((label or tree.name, tree))
    return out


def _sign_ins(row: Row) -> str:
    if not row.sign_ins:
        return "—"
    return " / ".join(f"{n} × {code}" for code, n in sorted(row.sign_ins.items()))


def _body(row: Row) -> str:
    if not row.bodies:
        return "—"
    codes = Counter(code for code, _ in row.bodies)
    mean = statistics.mean(s for _, s in row.bodies)
    return ", ".join(f"{n} × {c}" for c, n in sorted(codes.items())) + f" ({mean:.1f} s each)"


def table(rows: list[Row], args: argparse.Namespace) -> str:
    base = {r.tree: r.quantile(0.5) for r in rows if r.load == "none"}
    lines = [f"GET {GET} (signed in) for {args.seconds:g} s under each load; sign-ins: "
             f"{args.sign_ins} clients; body: {args.body_mib} MiB; "
             f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores",
             "",
             "| tree | load | GETs | failed | p50 ms | p95 ms | × p50 | server MiB at start | "
             "peak MiB | sign-in answers | body answers |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ratio = r.quantile(0.5) / base[r.tree] if base.get(r.tree) else float("nan")
        lines.append(f"| {r.tree} | {r.load} | {len(r.latencies)} | {r.errors} | "
                     f"{r.quantile(0.5):.1f} | {r.quantile(0.95):.1f} | {ratio:.1f} | "
                     f"{r.start_mib:.0f} | {r.peak_mib:.0f} | {_sign_ins(r)} | {_body(r)} |")
    return "\n".join(lines)


def abuse_bench(args: argparse.Namespace, console: Console) -> int:
    rows: list[Row] = []
    for label, tree in _trees(args.tree):
        with tempfile.TemporaryDirectory(prefix="chairtime-abuse-") as tmp:
            data = Path(tmp)
            _check_tree(tree, data)
            admin = _add_admin(tree, data)
            for load in LOADS:
                console.print(f"  {label}: {load} …", style="dim")
                extra = UNTHROTTLED if "throttle off" in load else {}
                with _serve(tree, data, extra) as server:
                    admin = admin or _first_admin(server)
                    token = _sign_in(server, *admin)
                    rows.append(_measure(label, load, server, admin[0], token, args))
    console.print(table(rows, args), markup=False, highlight=False, soft_wrap=True)
    return 0 if all(r.latencies for r in rows) else 1
