"""``python -m bench live``: the time of a direct edit of the live schedule through the API.

For SQLite (a file) and PostgreSQL (when one answers), the demo clinic with a published week
(as ``bench serve`` prepares it), ``chairtime serve`` in a process of its own, and ``--edits``
direct edits on loopback, one at a time: a session cancelled, then booked back where it was
(``POST /clinics/1/appointments/{id}/cancel``, ``POST /clinics/1/appointments`` with its room
and staff), each judged by the checker and stored as a new published version with the
clinic's feeds regenerated. Prints p50 and p95 per database.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from rich.console import Console
from rich.table import Table

from bench.serve import PASSWORD, each_database

API = "/api/v1"


def _edits(base: str, count: int) -> list[float]:
    """``count`` direct edits (cancel, book back, …), each one's seconds."""
    with httpx.Client(base_url=base + API, timeout=120) as client:
        token = client.post("/auth/token", data={"username": "bench@example.org",
                                                 "password": PASSWORD}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        live = client.get("/clinics/1/schedules/published").json()
        # a nurse-run session (a course's later stage may be of another protocol than the
        # patient's own, which a booking places)
        chosen = [a for a in live["schedule"]["appointments"]
                  if a["protocol"].startswith("esk")][10]
        ref, number, seconds = chosen["id"], live["number"], []
        for i in range(count):
            t0 = time.perf_counter()
            if i % 2 == 0:
                answer = client.post(f"/clinics/1/appointments/{ref}/cancel",
                                     json={"number": number, "reason": "benchmark"})
            else:
                answer = client.post("/clinics/1/appointments", json={
                    "number": number, "patient": chosen["patient"], "start": chosen["start"],
                    "room": chosen["room"], "staff": chosen["staff"]})
            seconds.append(time.perf_counter() - t0)
            answer.raise_for_status()
            body = answer.json()
            number = body["number"]
            if i % 2 == 1:  # the booking's new id
                ref = next(a["id"] for a in body["schedule"]["appointments"]
                           if a["patient"] == chosen["patient"]
                           and a["start"] == chosen["start"])
    return seconds


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def live_bench(args: argparse.Namespace, console: Console) -> int:
    results = [(name, _edits(base, args.edits)) for name, base in each_database(console)]
    t = Table(title=f"A direct edit of the demo's live schedule through the API ({args.edits} "
                    "edits: cancel, book back, …; loopback)")
    for col in ("database", "edits", "p50 ms", "p95 ms", "mean ms", "max ms"):
        t.add_column(col, justify="left" if col == "database" else "right")
    for name, seconds in results:
        t.add_row(name, str(len(seconds)), f"{_quantile(seconds, 0.5):.0f}",
                  f"{_quantile(seconds, 0.95):.0f}", f"{statistics.mean(seconds) * 1000:.0f}",
                  f"{max(seconds) * 1000:.0f}")
    console.print(t)
    return 0
