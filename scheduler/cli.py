"""``python -m scheduler``: the contract's command line (solve, check, schema).

Exit codes: 0 done; 2 invalid input (every problem listed, no traceback); 3 ``check`` found
violations; 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from scheduler.check import UnreadableSchedule, check, read_schedule
from scheduler.errors import InvalidScenario, Issue
from scheduler.patients_csv import read_patients_csv, relabel
from scheduler.publish import publish_feeds
from scheduler.replan import replan, validate_events
from scheduler.scenario import Scenario, load_scenario, read_data
from scheduler.usecases import log_progress, plan_week, write_json, write_schedule, write_yaml
from solver import Options

log = logging.getLogger("scheduler")
DEFAULT_DEMO = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_VIOLATIONS = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="solve a scenario into DIR/schedule.json")
    s.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_DEMO,
                   help="scenario file (YAML or JSON); default: the demo clinic")
    s.add_argument("--out", type=Path, required=True, help="output folder")
    s.add_argument("--time-limit", type=float, default=20.0, help="seconds (default 20)")
    s.add_argument("--seed", type=int, default=0, help="CP-SAT random seed")
    s.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2),
                   help="CP-SAT search workers (default: the machine's cores, at least 2)")
    s.add_argument("--patients", type=Path, help="CSV of patients replacing the scenario's")
    s.add_argument("--json", action="store_true", help="print a JSON summary to stdout")
    s.add_argument("--now", help="publication time for feeds (ISO 8601; default: now)")

    f = sub.add_parser("feeds", help="(re)publish DIR/feeds/ for a schedule")
    f.add_argument("scenario", type=Path)
    f.add_argument("schedule", type=Path)
    f.add_argument("--out", type=Path, required=True, help="folder holding feeds/")
    f.add_argument("--now", help="publication time (ISO 8601; default: now)")

    c = sub.add_parser("check", help="re-check a schedule against the hard rules")
    c.add_argument("scenario", type=Path)
    c.add_argument("schedule", type=Path)
    c.add_argument("--patients", type=Path, help="CSV of patients replacing the scenario's")
    c.add_argument("--json", action="store_true", help="print violations as JSON")

    r = sub.add_parser("replan", help="apply events to a solved week, keeping what can stay")
    r.add_argument("scenario", type=Path)
    r.add_argument("previous", type=Path, help="the schedule.json patients already know")
    r.add_argument("events", type=Path, help="events file (YAML or JSON)")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    r.add_argument("--now", help="appointments starting before this never change (ISO 8601 "
                                 "with offset; default: now)")
    r.add_argument("--time-limit", type=float, default=20.0, help="seconds (default 20)")
    r.add_argument("--seed", type=int, default=0, help="CP-SAT random seed")
    r.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    r.add_argument("--json", action="store_true", help="print the changes as JSON")

    sub.add_parser("schema", help="print the scenario format's JSON Schema")
    return parser


def _load(path: Path, patients: Path | None) -> Scenario:
    if patients is None:
        return load_scenario(path)
    from scheduler.scenario import validate_scenario

    data = read_data(path)
    rows, problems = read_patients_csv(patients)
    if isinstance(data, dict):
        data = {**data, "patients": rows}
    try:
        scenario = validate_scenario(data)
    except InvalidScenario as exc:
        raise InvalidScenario(problems + relabel(exc.issues, patients)) from exc
    if problems:
        raise InvalidScenario(problems)
    return scenario


def _summary(document: dict[str, Any], console: Console) -> None:
    k = document["kpis"]
    sv = document["solver"]
    console.print(f"[bold]{document['scenario']}[/]: placed {k['placed']}/{k['wanted']} sessions "
                  f"(weighted {sv['objective']}, bound {sv['bound']}, greedy "
                  f"{k['greedy_weighted']}), {sv['status']} in {sv['seconds']} s")
    t = Table(title="Sessions by protocol")
    for col in ("protocol", "wanted", "placed"):
        t.add_column(col, justify="left" if col == "protocol" else "right")
    for pid, row in k["by_protocol"].items():
        t.add_row(pid, str(row["wanted"]), str(row["placed"]))
    console.print(t)
    u = Table(title="Utilization")
    u.add_column("resource")
    u.add_column("used", justify="right")
    for rid, x in k["rooms"].items():
        u.add_row(f"room {rid}", f"{x:.0%}")
    for sid, x in k["nurses"].items():
        u.add_row(f"nurse {sid}", f"{x:.0%}")
    u.add_row("[bold]all rooms[/]", f"{k['room_utilization']:.0%}")
    u.add_row("[bold]all nurses[/]", f"{k['nurse_utilization']:.0%}")
    console.print(u)
    p = k["penalties"]
    console.print("soft goals (minutes): " + ", ".join(f"{n} {v}" for n, v in p.items()))
    if document["unplaced"]:
        n = Table(title="Not placed")
        n.add_column("patient")
        n.add_column("sessions", justify="right")
        n.add_column("why")
        for row in document["unplaced"]:
            n.add_row(row["patient"], str(row["sessions"]), row["reason"])
        console.print(n)


def _solve(args: argparse.Namespace, console: Console) -> int:
    scenario = _load(args.scenario, args.patients)
    options = Options(time_limit=args.time_limit, workers=args.workers, seed=args.seed)
    now = _now(args.now)
    planned = plan_week(scenario, options, None if args.quiet else log_progress, now)
    target = write_schedule(planned.document, args.out)
    log.info("wrote %s", target)
    publish_feeds(scenario, planned.document, args.out, now)
    if args.json:
        doc = planned.document
        sys.stdout.write(json.dumps({"schedule": str(target), "solver": doc["solver"],
                                     "kpis": doc["kpis"], "unplaced": doc["unplaced"]},
                                    indent=2) + "\n")
    else:
        _summary(planned.document, console)
    return EXIT_INTERNAL if planned.violations else EXIT_OK


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidScenario([Issue("--now", f"'{text}' is not an ISO 8601 time")]) from exc
    if value.tzinfo is None:
        raise InvalidScenario([Issue("--now", f"'{text}' needs a UTC offset, e.g. "
                                              "2026-12-08T07:00:00-05:00")])
    return value


def _read_schedule_file(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        read_schedule(document)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, UnreadableSchedule) as exc:
        raise InvalidScenario([Issue(str(path), f"cannot be read as a schedule: "
                                                f"{exc}")]) from exc
    return dict(document)


def _replan(args: argparse.Namespace, console: Console) -> int:
    scenario = load_scenario(args.scenario)
    previous = _read_schedule_file(args.previous)
    now = _now(args.now)
    events = validate_events(read_data(args.events), scenario, previous, now)
    options = Options(time_limit=args.time_limit, workers=args.workers, seed=args.seed)
    result = replan(scenario, previous, events, now, options,
                    None if args.quiet else log_progress)
    target = write_schedule(result.document, args.out)
    write_json(args.out / "changes.json", result.changes)
    write_yaml(args.out / "scenario.yaml",
               result.scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True))
    publish_feeds(result.scenario, result.document, args.out, now,
                  history=args.previous.parent / "feeds")
    log.info("wrote %s, changes.json and scenario.yaml (the scenario after the events)", target)
    if args.json:
        sys.stdout.write(json.dumps(result.changes, indent=2) + "\n")
    else:
        _changes_table(result.document, result.changes, console)
    return EXIT_INTERNAL if result.violations else EXIT_OK


def _when(a: dict[str, Any] | None) -> str:
    if a is None:
        return "—"
    start = datetime.fromisoformat(a["start"])
    staff = ",".join(a["staff"].values())
    return f"{start:%a %d %b %H:%M} {a['room']} {staff}"


def _changes_table(document: dict[str, Any], listed: list[dict[str, Any]],
                   console: Console) -> None:
    k = document["kpis"]
    console.print(f"re-planned: {k['placed']}/{k['wanted']} sessions placed, "
                  f"{len(listed)} appointment(s) changed")
    t = Table(title="Changes")
    for col in ("id", "patient", "before", "after", "why"):
        t.add_column(col)
    for c in listed:
        t.add_row(c["id"], c["patient"] or "", _when(c["before"]), _when(c["after"]),
                  c["reason"])
    console.print(t)
    for row in document["unplaced"]:
        console.print(f"not placed: {row['patient']} ({row['sessions']}): {row['reason']}",
                      markup=False)


def _feeds(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    document = _read_schedule_file(args.schedule)
    publish_feeds(scenario, document, args.out, _now(args.now))
    return EXIT_OK


def _check(args: argparse.Namespace, console: Console) -> int:
    scenario = _load(args.scenario, args.patients)
    try:
        document = json.loads(args.schedule.read_text(encoding="utf-8"))
        violations = check(scenario, document)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, UnreadableSchedule) as exc:
        console.print(f"{args.schedule}: cannot be read as a schedule: {exc}", markup=False)
        return EXIT_INVALID
    if args.json:
        sys.stdout.write(json.dumps([{"rule": v.rule, "appointment": v.appointment,
                                      "what": v.what} for v in violations], indent=2) + "\n")
    else:
        for v in violations:
            console.print(str(v), markup=False)
        if not violations:
            console.print(f"valid: {len(document['appointments'])} appointments keep every "
                          "hard rule")
    return EXIT_VIOLATIONS if violations else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )
    console = Console(soft_wrap=True)
    try:
        if args.command == "solve":
            return _solve(args, console)
        if args.command == "check":
            return _check(args, console)
        if args.command == "feeds":
            return _feeds(args)
        if args.command == "replan":
            return _replan(args, console)
        from scheduler.scenario import Scenario

        sys.stdout.write(json.dumps(Scenario.model_json_schema(), indent=2) + "\n")
        return EXIT_OK
    except InvalidScenario as exc:
        err = Console(stderr=True, soft_wrap=True)
        err.print(f"invalid input: {len(exc.issues)} problem(s)", markup=False)
        for issue in exc.issues:
            err.print(f"  {issue}", markup=False)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return EXIT_INTERNAL
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        log.error("internal error: %s (run with -v for details)", exc)
        return EXIT_INTERNAL
