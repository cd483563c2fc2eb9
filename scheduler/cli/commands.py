"""One function per command, each thin: read its input, call a use case, render the result.
Every one takes the parsed arguments, the settings and the console, and returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime

import yaml
from pydantic import ValidationError
from rich.console import Console

from scheduler.cli import render
from scheduler.documents import changes_json
from scheduler.errors import Conflict, InvalidInput, Issue
from scheduler.library import DATA_FILES, data_text
from scheduler.model import Scenario
from scheduler.settings import Settings
from scheduler.usecases import (
    check_schedule,
    load_input,
    plain_scenario,
    plan_week,
    publish,
    publish_feeds,
    read_events,
    read_schedule_file,
)
from scheduler.usecases import replan as replan_week
from scheduler.usecases.publish import publish_roll
from scheduler.usecases.roll import RollOptions, raw_scenario
from scheduler.usecases.roll import roll as roll_week
from scheduler.validate import read_data
from solver import Options

log = logging.getLogger("scheduler")

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_VIOLATIONS = 0, 1, 2, 3

Command = Callable[[argparse.Namespace, Settings, Console], int]


def _options(args: argparse.Namespace, settings: Settings) -> Options:
    """Command-line flags first, then ``CHAIRTIME_*`` settings."""
    return Options(
        time_limit=args.time_limit if args.time_limit is not None else settings.time_limit,
        workers=args.workers if args.workers is not None else settings.workers,
        seed=args.seed if args.seed is not None else settings.seed,
        deterministic=args.deterministic, lns=min(max(args.lns, 0.0), 0.9))


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


def solve(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    scenario = load_input(args.scenario, args.patients, args.weeks)
    if args.scenario is None:
        log.info("solving the embedded demo clinic (chairtime demo --out DIR copies its files)")
    now = _now(args.now)
    progress = None if args.quiet else render.progress
    robust = None
    if args.risk is not None:
        from scheduler.usecases.robust import plan_robust  # the simulation: numpy arrays

        if not 0 < args.risk < 1:
            raise InvalidInput([Issue("risk", f"{args.risk:g} is not a chance between 0 and 1")])
        robust = plan_robust(scenario, _options(args, settings), args.risk, runs=args.runs,
                             seed=args.seed or 0, on_progress=progress, now=now)
        planned = robust.planned
    else:
        planned = plan_week(scenario, _options(args, settings), progress, now)
    target = publish(scenario, planned.schedule, args.out, now)
    log.info("wrote %s", target)
    if args.json:
        render.solved_json(planned.schedule, target,
                           **({"risk": render.robust_json(robust)} if robust else {}))
    else:
        render.summary(planned.schedule, console)
        if robust is not None:
            render.robust(robust, console)
    return EXIT_INTERNAL if planned.violations else EXIT_OK


def simulate(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Will the day hold? The schedule replayed against overruns, late arrivals, no-shows and
    absences: per day and week, and the fragile sessions."""
    from scheduler.usecases.simulate import SimulationSettings, read_settings
    from scheduler.usecases.simulate import simulate as replay

    scenario = load_input(args.scenario, None, args.weeks)
    schedule = read_schedule_file(args.schedule)
    chances = read_settings(args.settings) if args.settings else SimulationSettings()
    result = replay(scenario, schedule, chances, args.runs, args.seed)
    data = result.to_json()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "simulation.json").write_text(json.dumps(data, indent=2) + "\n",
                                                  encoding="utf-8")
    if args.json:
        render.as_json(data)
    else:
        for line in result.summary_lines():
            console.print(line, markup=False)
    return EXIT_OK


def expand(args: argparse.Namespace, settings: Settings, console: Console) -> int:
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


def feeds(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    scenario = load_input(args.scenario)
    publish_feeds(scenario, read_schedule_file(args.schedule), args.out, _now(args.now))
    return EXIT_OK


def check(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    scenario = load_input(args.scenario, args.patients, args.weeks)
    try:
        document = json.loads(args.schedule.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"{args.schedule}: cannot be read as a schedule: {exc}", markup=False)
        return EXIT_INVALID
    violations = check_schedule(scenario, document, str(args.schedule))
    render.violations(violations, len(document["appointments"]), console, args.json)
    return EXIT_VIOLATIONS if violations else EXIT_OK


def replan(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    scenario = load_input(args.scenario, None, args.weeks)
    previous = read_schedule_file(args.previous)
    now = _now(args.now)
    events = [e for _, e in read_events(read_data(args.events), scenario, previous, now)]
    result = replan_week(scenario, previous, events, now, _options(args, settings),
                    None if args.quiet else render.progress)
    target = publish(result.scenario, result.schedule, args.out, now,
                     history=args.previous.parent / "feeds", changes=result.changes)
    log.info("wrote %s, changes.json and scenario.yaml (the scenario after the events)", target)
    if args.json:
        render.as_json(changes_json(result.changes))
    else:
        render.changes_table(result.schedule, result.changes, console)
    return EXIT_INTERNAL if result.violations else EXIT_OK


def roll(args: argparse.Namespace, settings: Settings, console: Console) -> int:
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
    result = roll_week(data, previous, options, _options(args, settings),
                  None if args.quiet else render.progress, at)
    rolled = result.rolled
    target = publish_roll(rolled.scenario, result.schedule, args.out, at,
                          args.previous.parent / "feeds", rolled.data, rolled.past,
                          rolled.missed)
    log.info("wrote %s, scenario.yaml (history up to %s) and feeds", target,
             rolled.scenario.horizon.start)
    if args.json:
        render.rolled_json(rolled, result.schedule, target, args.out / "scenario.yaml")
    else:
        render.rolled_summary(rolled, result.schedule, console)
    return EXIT_INTERNAL if result.violations else EXIT_OK


def whatif(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """What-if: the base and every variant solved side by side, with headroom, bottleneck,
    charts and a self-contained report; a progress bar on a terminal."""
    from scheduler.library import DEMO_VARIANTS
    from scheduler.usecases.whatif import (
        WhatIfOptions,
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
    with render.whatif_bar(args.json or args.quiet) as advance:
        result = run_whatif(scenario, plan, options, pool, advance)
    paths = write_report(result, args.out)
    log.info("wrote %s (and %d more files) in %g s", paths[-1], len(paths) - 1, result.seconds)
    if args.json:
        render.as_json({"report": str(paths[-1]), **comparison_json(result)})
    else:
        render.whatif_table(result, console)
    return EXIT_INTERNAL if any(o.violations for o in result.outcomes) else EXIT_OK


def demo(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        (args.out / name).write_text(data_text(name), encoding="utf-8")
    log.info("wrote %s to %s", ", ".join(DATA_FILES), args.out)
    return EXIT_OK


def schema(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    render.as_json(Scenario.model_json_schema())
    return EXIT_OK


def serve(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """The service under uvicorn. The forwarded headers are the app's to read (its settings,
    the flags winning), so uvicorn's own reading of them, on for 127.0.0.1 by default, is off."""
    import uvicorn

    from scheduler.api.app import create_app

    flags = {"proxy_headers": args.proxy_headers, "forwarded_allow_ips": args.forwarded_allow_ips}
    chosen = {k: v for k, v in flags.items() if v is not None}
    if chosen:
        try:
            settings = Settings.model_validate({**settings.model_dump(), **chosen})
        except ValidationError as exc:
            raise InvalidInput([Issue("--" + str(e["loc"][0]).replace("_", "-"),
                                      e["msg"].removeprefix("Value error, "))
                                for e in exc.errors()]) from exc
    if args.demo_week:
        _demo_week(args, settings)
    log.info("serving http://%s:%d/ (pages: sign in there) and the API at /api/v1 on %s "
             "(API documentation at /docs)%s", args.host, args.port,
             settings.database.split("@")[-1],
             f"; behind a proxy at {settings.forwarded_allow_ips}" if settings.proxy_headers
             else "")
    uvicorn.run(create_app(settings), host=args.host, port=args.port,
                log_level=settings.log_level.lower(), proxy_headers=False)
    return EXIT_OK


def _demo_week(args: argparse.Namespace, settings: Settings) -> None:
    """``serve --demo-week``: the first start's work done before serving (the database upgraded,
    the demo clinic and first admin created), the demo week planned and published when nothing
    is published for it yet, and how to sign in said once."""
    from scheduler.service.accounts import FIRST_ADMIN, bootstrap
    from scheduler.service.demo import publish_demo_week
    from scheduler.storage.db import connect, private_files, sessions, upgrade

    if not 0 < args.demo_time_limit <= 3600:
        raise InvalidInput([Issue("--demo-time-limit", "must be more than 0 and at most 3600 "
                                  "seconds")])
    options = Options(time_limit=args.demo_time_limit, workers=settings.workers,
                      seed=settings.seed)
    with private_files(settings.data_dir, settings.database):  # as the service keeps them
        engine = connect(settings.database)
        upgrade(engine)
        factory = sessions(engine)
        password = bootstrap(factory)
        publish_demo_week(factory, options)
        engine.dispose()
    address = f"http://{args.host}:{args.port}/"
    if password is not None:
        log.warning("first admin: %s, one-time password: %s (shown once; it must be changed "
                    "at the first sign-in)", FIRST_ADMIN, password)
        log.warning("open %s and sign in as %s with the one-time password above; you will be "
                    "asked for a new password at once", address, FIRST_ADMIN)
    else:
        log.warning("open %s and sign in with your account (the first admin's one-time "
                    "password was shown at the first start; `chairtime user add` adds "
                    "accounts)", address)


def user(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """``user add``: an account (an admin, or a role in each ``--clinic``), its password read
    from standard input."""
    from scheduler.service import accounts
    from scheduler.storage.db import connect, private_files, sessions, upgrade

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        with private_files(settings.data_dir, settings.database):  # as the service keeps them
            engine = connect(settings.database)
            upgrade(engine)
            with sessions(engine)() as session:
                accounts.first_clinic(session)  # as the service's first start does
                added = accounts.add_user(session, args.email, password, args.role, None,
                                          args.clinic or None)
                where = ("every clinic" if added.admin else
                         "clinic " + ", ".join(str(m.clinic_id) for m in added.memberships))
            engine.dispose()
    except InvalidInput as exc:
        raise InvalidInput([Issue("password" if i.path == "password" else
                                  "--clinic" if i.path.startswith("clinic_ids") else i.path,
                                  i.message + (" (read from standard input)"
                                               if i.path == "password" else ""))
                            for i in exc.issues]) from exc
    except Conflict as exc:
        raise InvalidInput([Issue("email", str(exc))]) from exc
    log.info("added %s (%s in %s), id %d", added.email, args.role.replace("_", " "), where,
             added.id)
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "solve": solve, "expand": expand, "feeds": feeds, "check": check, "replan": replan,
    "roll": roll, "whatif": whatif, "simulate": simulate, "demo": demo, "schema": schema,
    "serve": serve, "user": user,
}
"""Each sub-command's function, by its name on the command line."""
