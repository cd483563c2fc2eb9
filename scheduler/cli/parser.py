"""The command line's arguments: one sub-parser per command, flags named as the contract has
them."""

from __future__ import annotations

import argparse
from pathlib import Path

from scheduler.settings import SEED_MAX
from scheduler.usecases import MAX_WEEKS

DESCRIPTION = """``python -m scheduler`` / ``chairtime``: the contract's command line, a thin
adapter over ``scheduler.usecases`` (argument parsing and output only; nothing imports this
module).

Exit codes: 0 done; 2 invalid input (every problem listed, no traceback); 3 ``check`` found
violations; 1 internal error.
"""


def seed(text: str) -> int:
    """A CP-SAT seed: an int32 from 0 (a larger one would fail inside the solver)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and {SEED_MAX}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Every command and its flags."""
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True)

    def search(p: argparse.ArgumentParser) -> None:
        p.add_argument("--time-limit", type=float,
                       help="seconds (default CHAIRTIME_TIME_LIMIT, else 20)")
        p.add_argument("--seed", type=seed, help="CP-SAT random seed (default 0)")
        p.add_argument("--workers", type=int,
                       help="CP-SAT search workers (default: the machine's cores, at least 2)")
        p.add_argument("--deterministic", action="store_true",
                       help="limit searches by work done, not seconds: with --workers 1 and "
                            "--seed N the same schedule on every machine")
        p.add_argument("--lns", type=float, default=0.0, metavar="SHARE",
                       help="share of the placement time for large-neighbourhood search "
                            "(0..0.9, default 0)")

    s = sub.add_parser("solve", help="solve a scenario into DIR/schedule.json")
    s.add_argument("scenario", type=Path, nargs="?",
                   help="scenario file (YAML or JSON); default: the embedded demo clinic")
    s.add_argument("--out", type=Path, required=True, help="output folder")
    search(s)
    s.add_argument("--patients", type=Path, help="CSV of patients replacing the scenario's")
    s.add_argument("--json", action="store_true", help="print a JSON summary to stdout")
    s.add_argument("--now", help="publication time for feeds (ISO 8601; default: now)")
    s.add_argument("--weeks", type=int, help=f"plan this many calendar weeks (1-{MAX_WEEKS}) "
                   "from the horizon's first day instead of its own length")
    s.add_argument("--risk", type=float, metavar="P",
                   help="a robust plan: keep each day's chance of overtime (simulated) under P "
                        "(0-1) where room before closing can, and say what that costs")
    s.add_argument("--runs", type=int, default=2000,
                   help="replays behind --risk (default 2,000)")

    e = sub.add_parser("expand", help="write the plain contract scenario for a horizon: "
                       "courses turned into sessions, gaps, priorities and per-week limits")
    e.add_argument("scenario", type=Path, nargs="?",
                   help="scenario file (YAML or JSON); default: the embedded demo clinic")
    e.add_argument("--weeks", type=int, help=f"horizon in calendar weeks (1-{MAX_WEEKS}); "
                   "default: the scenario's own")
    e.add_argument("--patients", type=Path, help="CSV of patients replacing the scenario's")
    e.add_argument("--out", type=Path, required=True, help="file to write (YAML, or JSON "
                   "when it ends in .json)")

    f = sub.add_parser("feeds", help="(re)publish DIR/feeds/ for a schedule")
    f.add_argument("scenario", type=Path)
    f.add_argument("schedule", type=Path)
    f.add_argument("--out", type=Path, required=True, help="folder holding feeds/")
    f.add_argument("--now", help="publication time (ISO 8601; default: now)")

    m = sub.add_parser("simulate", help="replay a schedule against overruns, late arrivals, "
                       "no-shows and absences: will the day hold?")
    m.add_argument("scenario", type=Path)
    m.add_argument("schedule", type=Path)
    m.add_argument("--runs", type=int, default=10_000, help="replays (default 10,000)")
    m.add_argument("--seed", type=int, default=0, help="the same seed gives the same figures")
    m.add_argument("--settings", type=Path, help="simulation settings (YAML or JSON; defaults "
                   "and their sources: scheduler/usecases/simulate/settings.py)")
    m.add_argument("--weeks", type=int, help="the horizon in calendar weeks, as solve had it")
    m.add_argument("--json", action="store_true", help="print the figures as JSON")
    m.add_argument("--out", type=Path, help="folder for simulation.json")

    c = sub.add_parser("check", help="re-check a schedule against the hard rules")
    c.add_argument("scenario", type=Path)
    c.add_argument("schedule", type=Path)
    c.add_argument("--patients", type=Path, help="CSV of patients replacing the scenario's")
    c.add_argument("--weeks", type=int, help=f"the horizon in calendar weeks (1-{MAX_WEEKS}), "
                   "as solve --weeks had it")
    c.add_argument("--json", action="store_true", help="print violations as JSON")

    r = sub.add_parser("replan", help="apply events to a solved week, keeping what can stay")
    r.add_argument("scenario", type=Path)
    r.add_argument("previous", type=Path, help="the schedule.json patients already know")
    r.add_argument("events", type=Path, help="events file (YAML or JSON)")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    r.add_argument("--now", help="appointments starting before this never change (ISO 8601 "
                                 "with offset; default: now)")
    search(r)
    r.add_argument("--weeks", type=int, help=f"the horizon in calendar weeks (1-{MAX_WEEKS}), "
                   "as solve --weeks had it")
    r.add_argument("--json", action="store_true", help="print the changes as JSON")

    o = sub.add_parser("roll", help="fold the last published schedule into the patients' "
                       "course history, keep its sessions ahead as fixed, plan the next week")
    o.add_argument("scenario", type=Path, nargs="?",
                   help="scenario with courses (YAML or JSON); default: the embedded demo")
    o.add_argument("previous", type=Path, help="the schedule.json last published for it")
    o.add_argument("--out", type=Path, required=True, help="output folder: scenario.yaml "
                   "(next week's roll starts from it), schedule.json, feeds/")
    o.add_argument("--weeks", type=int, help=f"the new horizon in calendar weeks (1-{MAX_WEEKS});"
                   " default: the previous horizon's length")
    o.add_argument("--start", help="the new horizon's first day (YYYY-MM-DD); default: one "
                   "week after the previous horizon's")
    o.add_argument("--now", help="when the roll is made (ISO 8601 with offset, not after the "
                   "new horizon starts; default: its start); also the feeds' publication time")
    o.add_argument("--missed", default="", help="published appointments that did not take "
                   "place, comma-separated (A-0012,A-0031): the course continues without them")
    search(o)
    o.add_argument("--json", action="store_true", help="print a JSON summary to stdout")

    w = sub.add_parser("whatif", help="solve the base and every variant side by side: "
                       "headroom, bottleneck, charts and DIR/report.html")
    w.add_argument("scenario", type=Path, help="scenario file; '-' for the embedded demo")
    w.add_argument("variants", type=Path, help="variants file (YAML or JSON); '-' for the "
                   "embedded demo's variants")
    w.add_argument("--out", type=Path, required=True, help="output folder")
    w.add_argument("--time-limit", type=float, help="seconds per solve (default 10)")
    w.add_argument("--seed", type=seed, help="CP-SAT random seed (default CHAIRTIME_SEED, 0)")
    w.add_argument("--processes", type=int, help="solves at once on this machine, one CP-SAT "
                   "worker each (default: every core)")
    w.add_argument("--cluster", metavar="ADDRESS", help="run the solves on a Dask cluster "
                   "instead (tcp://host:8786)")
    w.add_argument("--headroom-limit", type=int, help="most new patients tried (default: "
                   "twice the base's patients)")
    w.add_argument("--no-headroom", action="store_true", help="skip the headroom search")
    w.add_argument("--no-bottleneck", action="store_true", help="skip the bottleneck solves")
    w.add_argument("--json", action="store_true", help="print the comparison as JSON")

    v = sub.add_parser("serve", help="the HTTP API on the configured database "
                       "(CHAIRTIME_DATABASE_URL; default SQLite in CHAIRTIME_DATA_DIR)")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    v.add_argument("--port", type=int, default=8000, help="port (8000)")
    v.add_argument("--proxy-headers", action="store_true", default=None,
                   help="behind a reverse proxy (TLS ended there): the client's address and "
                        "https from its X-Forwarded-For and X-Forwarded-Proto (default "
                        "CHAIRTIME_PROXY_HEADERS, off)")
    v.add_argument("--forwarded-allow-ips", metavar="IPS",
                   help="the proxies believed: addresses or networks, comma-separated, or * "
                        "(default CHAIRTIME_FORWARDED_ALLOW_IPS, else 127.0.0.1)")
    v.add_argument("--demo-week", action="store_true",
                   help="before serving, plan the embedded demo clinic's week and publish it "
                        "when nothing is published for it yet, and say how to sign in "
                        "(scripts/serve)")
    v.add_argument("--demo-time-limit", type=float, default=5.0, metavar="S",
                   help="seconds the demo week's solve searches (5)")

    u = sub.add_parser("user", help="manage staff accounts")
    user_sub = u.add_subparsers(dest="user_command", required=True)
    ua = user_sub.add_parser("add", help="add a staff account; the password is read from "
                             "standard input")
    ua.add_argument("email")
    ua.add_argument("--role", required=True, choices=("front_desk", "manager", "admin"),
                    help="admin: the organization's admin (every clinic, and accounts); "
                    "front_desk or manager: that role in each --clinic")
    ua.add_argument("--clinic", type=int, action="append", metavar="ID",
                    help="a clinic the front desk or manager works in (repeat for more; may "
                    "be left out when there is one clinic)")

    d = sub.add_parser("demo", help="copy the embedded demo clinic's files into a folder")
    d.add_argument("--out", type=Path, required=True, help="folder for demo.yaml, "
                   "demo-events.yaml, demo-variants.yaml and protocols.yaml")

    sub.add_parser("schema", help="print the scenario format's JSON Schema")
    return parser
