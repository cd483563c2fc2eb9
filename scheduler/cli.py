"""``python -m scheduler`` / ``chairtime``: the contract's command line, a thin adapter over
``scheduler.usecases`` (argument parsing and output only; nothing imports this module).

Exit codes: 0 done; 2 invalid input (every problem listed, no traceback); 3 ``check`` found
violations; 1 internal error.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from scheduler.documents import Appointment, ChangeList, Schedule, changes_json, rems_forms
from scheduler.errors import Conflict, InvalidInput, Issue
from scheduler.library import DATA_FILES, data_text
from scheduler.model import Scenario
from scheduler.settings import Settings
from scheduler.usecases import (
    MAX_WEEKS,
    Progress,
    check_schedule,
    load_input,
    plain_scenario,
    plan_week,
    publish,
    publish_feeds,
    read_events,
    read_schedule_file,
    replan,
)
from scheduler.usecases.publish import read_state, write_json, write_yaml
from scheduler.usecases.roll import RollOptions, past_events, raw_scenario, roll
from scheduler.validate import read_data
from solver import Options

log = logging.getLogger("scheduler")

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_VIOLATIONS = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True)

    def search(p: argparse.ArgumentParser) -> None:
        p.add_argument("--time-limit", type=float,
                       help="seconds (default CHAIRTIME_TIME_LIMIT, else 20)")
        p.add_argument("--seed", type=int, help="CP-SAT random seed (default 0)")
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
    w.add_argument("--seed", type=int, help="CP-SAT random seed (default CHAIRTIME_SEED, 0)")
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

    u = sub.add_parser("user", help="manage staff accounts")
    user_sub = u.add_subparsers(dest="user_command", required=True)
    ua = user_sub.add_parser("add", help="add a staff account; the password is read from "
                             "standard input")
    ua.add_argument("email")
    ua.add_argument("--role", required=True, choices=("front_desk", "manager", "admin"))

    d = sub.add_parser("demo", help="copy the embedded demo clinic's files into a folder")
    d.add_argument("--out", type=Path, required=True, help="folder for demo.yaml, "
                   "demo-events.yaml, demo-variants.yaml and protocols.yaml")

    sub.add_parser("schema", help="print the scenario format's JSON Schema")
    return parser


def _options(args: argparse.Namespace, settings: Settings) -> Options:
    """Command-line flags first, then ``CHAIRTIME_*`` settings."""
    return Options(
        time_limit=args.time_limit if args.time_limit is not None else settings.time_limit,
        workers=args.workers if args.workers is not None else settings.workers,
        seed=args.seed if args.seed is not None else settings.seed,
        deterministic=args.deterministic, lns=min(max(args.lns, 0.0), 0.9))


def _progress(progress: Progress) -> None:
    """One line per better schedule: the placement value and its bound, or a later stage's
    own objective (weighted penalty, moves), whose bound says little to a reader."""
    if progress.stage in ("greedy", "bound", "placement"):
        log.info("%-12s %6.1fs  weighted %g  bound %g", progress.stage, progress.seconds,
                 progress.objective, progress.bound)
    else:
        log.info("%-12s %6.1fs  objective %g", progress.stage, progress.seconds,
                 progress.objective)


def _summary(schedule: Schedule, console: Console) -> None:
    k, sv = schedule.kpis, schedule.solver
    assert k is not None and sv is not None
    console.print(f"[bold]{schedule.scenario}[/]: placed {k.placed}/{k.wanted} sessions "
                  f"(weighted {sv.objective}, bound {sv.bound}, greedy "
                  f"{k.greedy_weighted}), {sv.status} in {sv.seconds} s")
    t = Table(title="Sessions by protocol")
    for col in ("protocol", "wanted", "placed"):
        t.add_column(col, justify="left" if col == "protocol" else "right")
    for pid, row in k.by_protocol.items():
        t.add_row(pid, str(row["wanted"]), str(row["placed"]))
    console.print(t)
    u = Table(title="Utilization")
    u.add_column("resource")
    u.add_column("used", justify="right")
    for rid, x in k.rooms.items():
        u.add_row(f"room {rid}", f"{x:.0%}")
    for sid, x in k.nurses.items():
        u.add_row(f"nurse {sid}", f"{x:.0%}")
    u.add_row("[bold]all rooms[/]", f"{k.room_utilization:.0%}")
    u.add_row("[bold]all nurses[/]", f"{k.nurse_utilization:.0%}")
    console.print(u)
    console.print("soft goals (minutes): " + ", ".join(f"{n} {v}"
                                                       for n, v in k.penalties.items()))
    if schedule.unplaced:
        n = Table(title="Not placed")
        n.add_column("patient")
        n.add_column("sessions", justify="right")
        n.add_column("why")
        for left in schedule.unplaced:
            n.add_row(left.patient, str(left.sessions), left.reason)
        console.print(n)


def _solve(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    scenario = load_input(args.scenario, args.patients, args.weeks)
    if args.scenario is None:
        log.info("solving the embedded demo clinic (chairtime demo --out DIR copies its files)")
    now = _now(args.now)
    planned = plan_week(scenario, _options(args, settings), None if args.quiet else _progress,
                        now)
    target = publish(scenario, planned.schedule, args.out, now)
    log.info("wrote %s", target)
    forms = rems_forms(planned.schedule)
    if forms:
        _write_csv(args.out / "rems.csv", forms)
        log.info("wrote %s (%d REMS monitoring forms)", args.out / "rems.csv", len(forms))
    if args.json:
        doc = planned.schedule.to_json()
        sys.stdout.write(json.dumps({"schedule": str(target), "solver": doc["solver"],
                                     "kpis": doc["kpis"], "unplaced": doc["unplaced"]},
                                    indent=2) + "\n")
    else:
        _summary(planned.schedule, console)
    return EXIT_INTERNAL if planned.violations else EXIT_OK


def _write_csv(target: Path, rows: list[dict[str, str]]) -> None:
    with target.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _expand(args: argparse.Namespace) -> int:
    """The plain scenario of a horizon, for ``check`` or an outside tool to read."""
    scenario = load_input(args.scenario, args.patients, args.weeks)
    data = plain_scenario(scenario)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                              default_flow_style=None, width=100)
    args.out.write_text(text, encoding="utf-8")
    log.info("wrote %s: %d patients, %d sessions wanted over %d days", args.out,
             len(scenario.patients), sum(p.sessions for p in scenario.patients),
             scenario.horizon.days)
    return EXIT_OK


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput([Issue("--now", f"'{text}' is not an ISO 8601 time")]) from exc
    if value.tzinfo is None:
        raise InvalidInput([Issue("--now", f"'{text}' needs a UTC offset, e.g. "
                                           "2026-12-08T07:00:00-05:00")])
    return value


def _replan(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    scenario = load_input(args.scenario, None, args.weeks)
    previous = read_schedule_file(args.previous)
    now = _now(args.now)
    events = [e for _, e in read_events(read_data(args.events), scenario, previous, now)]
    result = replan(scenario, previous, events, now, _options(args, settings),
                    None if args.quiet else _progress)
    target = publish(result.scenario, result.schedule, args.out, now,
                     history=args.previous.parent / "feeds", changes=result.changes)
    log.info("wrote %s, changes.json and scenario.yaml (the scenario after the events)", target)
    if args.json:
        sys.stdout.write(json.dumps(changes_json(result.changes), indent=2) + "\n")
    else:
        _changes_table(result.schedule, result.changes, console)
    return EXIT_INTERNAL if result.violations else EXIT_OK


def _roll(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Next week from the last published one: history folded, the rest kept, then solved."""
    if args.previous is None:  # one positional: the previous schedule, on the embedded demo
        args.scenario, args.previous = None, args.scenario
    data = raw_scenario(args.scenario)
    previous = read_schedule_file(args.previous)
    issues: list[Issue] = []
    start = None
    if args.start is not None:
        try:
            start = date.fromisoformat(args.start)
        except ValueError:
            issues.append(Issue("--start", f"'{args.start}' is not a date (YYYY-MM-DD)"))
    now = None
    if args.now is not None:
        try:
            now = _now(args.now)
        except InvalidInput as exc:
            issues += exc.issues
    if issues:
        raise InvalidInput(issues)
    missed = tuple(m.strip() for m in args.missed.split(",") if m.strip())
    options = RollOptions(weeks=args.weeks, start=start, now=now, missed=missed,
                          where=args.previous.name)
    at = now or datetime.now(UTC)
    result = roll(data, previous, options, _options(args, settings),
                  None if args.quiet else _progress, at)
    rolled, schedule = result.rolled, result.schedule
    history = args.previous.parent / "feeds"
    published = read_state(args.out / "feeds" if (args.out / "feeds" / "state.json").exists()
                           else history)
    document = schedule.to_json()
    feed_doc = {**document, "appointments": [*past_events(rolled, schedule, published),
                                             *document["appointments"]]}
    publish_feeds(rolled.scenario, feed_doc, args.out, at, history)
    write_yaml(args.out / "scenario.yaml", rolled.data)
    target = write_json(args.out / "schedule.json", document)
    forms = rems_forms(schedule)
    if forms:
        _write_csv(args.out / "rems.csv", forms)
    log.info("wrote %s, scenario.yaml (history up to %s) and feeds", target,
             rolled.scenario.horizon.start)
    if args.json:
        sys.stdout.write(json.dumps({
            "schedule": str(target), "scenario": str(args.out / "scenario.yaml"),
            "horizon": {"start": rolled.scenario.horizon.start.isoformat(),
                        "days": rolled.scenario.horizon.days},
            "folded": {pid: [d.isoformat() for d in days]
                       for pid, days in sorted(rolled.folded.items())},
            "kept": rolled.kept, "missed": rolled.missed,
            "solver": document["solver"], "kpis": document["kpis"],
            "unplaced": document["unplaced"]}, indent=2) + "\n")
    else:
        console.print(f"rolled to {rolled.scenario.horizon.start} "
                      f"({rolled.scenario.horizon.days} days): "
                      f"{sum(map(len, rolled.folded.values()))} session(s) folded into "
                      f"history, {len(rolled.kept)} kept as fixed, {len(rolled.missed)} missed")
        _summary(schedule, console)
    return EXIT_INTERNAL if result.violations else EXIT_OK


def _when(a: Appointment | None, scenario_tz: Any) -> str:
    if a is None:
        return "—"
    return (f"{a.start.astimezone(scenario_tz):%a %d %b %H:%M} {a.room or 'video'} "
            f"{','.join(a.staff.values())}")


def _changes_table(schedule: Schedule, listed: ChangeList, console: Console) -> None:
    k = schedule.kpis
    assert k is not None
    console.print(f"re-planned: {k.placed}/{k.wanted} sessions placed, "
                  f"{len(listed)} appointment(s) changed")
    t = Table(title="Changes")
    for col in ("id", "patient", "before", "after", "why"):
        t.add_column(col)
    tz = next((a.start.tzinfo for a in schedule.appointments), None)
    for c in listed:
        t.add_row(c.id, c.patient or "", _when(c.before, tz), _when(c.after, tz), c.reason)
    console.print(t)
    for row in schedule.unplaced:
        console.print(f"not placed: {row.patient} ({row.sessions}): {row.reason}", markup=False)


def _feeds(args: argparse.Namespace) -> int:
    scenario = load_input(args.scenario)
    publish_feeds(scenario, read_schedule_file(args.schedule), args.out, _now(args.now))
    return EXIT_OK


def _check(args: argparse.Namespace, console: Console) -> int:
    scenario = load_input(args.scenario, args.patients, args.weeks)
    try:
        document = json.loads(args.schedule.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"{args.schedule}: cannot be read as a schedule: {exc}", markup=False)
        return EXIT_INVALID
    violations = check_schedule(scenario, document, str(args.schedule))
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


def _demo(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        (args.out / name).write_text(data_text(name), encoding="utf-8")
    log.info("wrote %s to %s", ", ".join(DATA_FILES), args.out)
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from scheduler.api.app import create_app

    log.info("serving http://%s:%d/ (pages: sign in there) and the API at /api/v1 on %s "
             "(API documentation at /docs)", args.host, args.port,
             settings.database.split("@")[-1])
    uvicorn.run(create_app(settings), host=args.host, port=args.port,
                log_level=settings.log_level.lower())
    return EXIT_OK


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    from scheduler.security import hash_password
    from scheduler.storage import repo
    from scheduler.storage.db import connect, session_scope, sessions, upgrade

    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise InvalidInput([Issue("password", "must be at least 12 characters (read from "
                                              "standard input)")])
    engine = connect(settings.database)
    upgrade(engine)
    try:
        with session_scope(sessions(engine)) as session:
            user = repo.add_user(session, args.email, hash_password(password), args.role)
    except Conflict as exc:
        raise InvalidInput([Issue("email", str(exc))]) from exc
    log.info("added %s (%s), id %d", user.email, user.role, user.id)
    return EXIT_OK


def _whatif(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """What-if: the base and every variant solved side by side, with headroom, bottleneck,
    charts and a self-contained report; a progress bar on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from scheduler.library import DEMO_VARIANTS
    from scheduler.usecases.whatif import (
        RESOURCES,
        WhatIfOptions,
        WhatIfProgress,
        cluster_pool,
        local_pool,
        read_plan,
        run_whatif,
    )
    from scheduler.usecases.whatif.report import comparison_json, write_report
    from scheduler.validate import parse_text

    scenario = load_input(None if str(args.scenario) == "-" else args.scenario)
    variants = (parse_text(data_text(DEMO_VARIANTS)) if str(args.variants) == "-"
                else read_data(args.variants))
    plan = read_plan(variants, scenario)
    options = WhatIfOptions(
        time_limit=args.time_limit if args.time_limit is not None else 10.0,
        seed=args.seed if args.seed is not None else settings.seed,
        headroom=not args.no_headroom, headroom_limit=args.headroom_limit,
        bottleneck=not args.no_bottleneck)
    pool = cluster_pool(args.cluster) if args.cluster else local_pool(args.processes)
    if not args.verbose:  # hundreds of solves: their own progress lines would drown the bar
        logging.getLogger("solver").setLevel(logging.WARNING)
    log.info("what-if: %d variant(s)%s on %s, %g s per solve", len(plan.variants),
             f" and {len(plan.cells)} sweep cells" if plan.cells else "", pool.where,
             options.time_limit)
    err = Console(stderr=True)
    with Bar(TextColumn("what-if"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
             TextColumn("{task.description}"), console=err,
             disable=args.json or args.quiet or not err.is_terminal) as bar:
        task = bar.add_task("", total=None)

        def advance(p: WhatIfProgress) -> None:
            bar.update(task, completed=p.done, total=p.total,
                       description=f"best so far: {p.best}" if p.best else "")

        result = run_whatif(scenario, plan, options, pool, advance)
    paths = write_report(result, args.out)
    log.info("wrote %s (and %d more files) in %g s", paths[-1], len(paths) - 1, result.seconds)
    if args.json:
        sys.stdout.write(json.dumps({"report": str(paths[-1]),
                                     **comparison_json(result)}, indent=2) + "\n")
    else:
        t = Table(title=f"What if … {result.clinic}")
        for col in ("variant", "placed", "unplaced", "headroom", "capacity", "bottleneck"):
            t.add_column(col, justify="left" if col in ("variant", "bottleneck") else "right")
        for o in result.compared:
            k = o.schedule.kpis
            assert k is not None
            t.add_row(o.name, f"{k.placed}/{k.wanted}", str(k.wanted - k.placed),
                      f"{o.headroom.text()} ({o.headroom.status})", str(o.capacity()),
                      RESOURCES.get(o.bottleneck.resource, o.bottleneck.resource)
                      if o.bottleneck else "")
        console.print(t)
        for o in result.compared:
            if o.bottleneck is not None:
                console.print(f"{o.name}: {o.bottleneck.sentence}", markup=False)
    return EXIT_INTERNAL if any(o.violations for o in result.outcomes) else EXIT_OK


def _settings() -> Settings:
    """The ``CHAIRTIME_*`` settings; a bad value is invalid input naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidInput([Issue(f"CHAIRTIME_{str(e['loc'][0]).upper()}", e["msg"])
                            for e in exc.errors()]) from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True, soft_wrap=True,
                  width=None if sys.stderr.isatty() else 200)  # logs to a file stay one line
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # not a line per plugin on start
    console = Console(soft_wrap=True)
    try:
        settings = _settings()
        if not (args.verbose or args.quiet):
            logging.getLogger().setLevel(settings.log_level)
        if args.command == "solve":
            return _solve(args, settings, console)
        if args.command == "expand":
            return _expand(args)
        if args.command == "check":
            return _check(args, console)
        if args.command == "feeds":
            return _feeds(args)
        if args.command == "replan":
            return _replan(args, settings, console)
        if args.command == "roll":
            return _roll(args, settings, console)
        if args.command == "demo":
            return _demo(args)
        if args.command == "whatif":
            return _whatif(args, settings, console)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "user":
            return _user_add(args, settings)
        sys.stdout.write(json.dumps(Scenario.model_json_schema(), indent=2) + "\n")
        return EXIT_OK
    except InvalidInput as exc:
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
