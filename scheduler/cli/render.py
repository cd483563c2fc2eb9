"""What the commands print: rich tables for a person, JSON for a program, progress as log lines
on standard error, and invalid input as one line per problem naming the flag or field."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from scheduler.check import Violation
from scheduler.documents import Appointment, ChangeList, Schedule
from scheduler.errors import Issue
from scheduler.usecases import Progress
from scheduler.usecases.robust import RobustPlan
from scheduler.usecases.roll import Rolled

if TYPE_CHECKING:  # the what-if package: imported by its command only
    from scheduler.usecases.whatif import WhatIf, WhatIfProgress

log = logging.getLogger("scheduler")

FLAGS = {"now": "--now", "start": "--start", "weeks": "--weeks", "missed": "--missed",
         "runs": "--runs", "risk": "--risk"}
"""Use-case options by the flag that sets them: a use case's issue names its option (``now``,
``missed[1]``), the command line the flag (``--now``, ``--missed[1]``)."""


def flagged(issue: Issue, options: set[str]) -> Issue:
    """``issue`` naming the flag instead of the option, when the command has that flag."""
    name = issue.path.split("[", 1)[0]
    if name in FLAGS and name in options:
        return Issue(FLAGS[name] + issue.path[len(name):], issue.message)
    return issue


def invalid(err: Console, issues: Sequence[Issue], options: set[str]) -> None:
    err.print(f"invalid input: {len(issues)} problem(s)", markup=False)
    for issue in issues:
        err.print(f"  {flagged(issue, options)}", markup=False)


def as_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def progress(p: Progress) -> None:
    """One line per better schedule: the placement value and its bound, or a later stage's
    own objective (weighted penalty, moves), whose bound says little to a reader."""
    if p.stage in ("greedy", "bound", "placement"):
        log.info("%-12s %6.1fs  weighted %g  bound %g", p.stage, p.seconds, p.objective, p.bound)
    else:
        log.info("%-12s %6.1fs  objective %g", p.stage, p.seconds, p.objective)


def summary(schedule: Schedule, console: Console) -> None:
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


def solved_json(schedule: Schedule, target: Any, **more: Any) -> None:
    """The JSON summary ``solve --json`` and ``roll --json`` print (``more`` first)."""
    doc = schedule.to_json()
    as_json({"schedule": str(target), **more, "solver": doc["solver"], "kpis": doc["kpis"],
             "unplaced": doc["unplaced"]})


def robust_json(robust: RobustPlan) -> dict[str, Any]:
    """What ``solve --risk`` found: the target, placed before and after, each day's chance of
    overtime before and after, and every plan tried."""
    def days(risk: dict[date, float]) -> dict[str, float]:
        return {d.isoformat(): round(p, 4) for d, p in sorted(risk.items())}

    return {"target": robust.target, "met": robust.met, "placed_tight": robust.tight_placed,
            "placed": robust.placed, "before": days(robust.before), "after": days(robust.after),
            "steps": [{"buffers": s.buffers, "placed": s.placed, "risk": days(s.risk)}
                      for s in robust.steps]}


def robust(robust: RobustPlan, console: Console) -> None:
    """The robust plan's cost and each day's chance of overtime, tight against robust."""
    cost = robust.tight_placed - robust.placed
    kept = robust.steps[robust.kept].buffers
    console.print(f"Robust plan (overtime under {robust.target:.0%} a day"
                  f"{'' if robust.met else ', not met everywhere'}): placed {robust.placed} "
                  f"against {robust.tight_placed} tight ({cost} fewer); room kept before "
                  "closing and shift ends: "
                  + (", ".join(f"{d} {m} min" for d, m in kept.items()) or "none needed"))
    t = Table(title="Chance of overtime by day (simulated)")
    for col in ("day", "tight", "robust"):
        t.add_column(col, justify="left" if col == "day" else "right")
    for d, p in sorted(robust.before.items()):
        t.add_row(f"{d:%a %d %b}", f"{p:.0%}", f"{robust.after.get(d, 0):.0%}")
    console.print(t)


def rolled_json(rolled: Rolled, schedule: Schedule, target: Any, scenario: Any) -> None:
    h = rolled.scenario.horizon
    solved_json(schedule, target, scenario=str(scenario),
                horizon={"start": h.start.isoformat(), "days": h.days},
                folded={pid: [d.isoformat() for d in days]
                        for pid, days in sorted(rolled.folded.items())},
                kept=rolled.kept, missed=rolled.missed)


def rolled_summary(rolled: Rolled, schedule: Schedule, console: Console) -> None:
    console.print(f"rolled to {rolled.scenario.horizon.start} "
                  f"({rolled.scenario.horizon.days} days): "
                  f"{sum(map(len, rolled.folded.values()))} session(s) folded into "
                  f"history, {len(rolled.kept)} kept as fixed, {len(rolled.missed)} missed")
    summary(schedule, console)


def _when(a: Appointment | None, scenario_tz: Any) -> str:
    if a is None:
        return "—"
    return (f"{a.start.astimezone(scenario_tz):%a %d %b %H:%M} {a.room or 'video'} "
            f"{','.join(a.staff.values())}")


def changes_table(schedule: Schedule, listed: ChangeList, console: Console) -> None:
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


def violations(found: list[Violation], appointments: int, console: Console,
               json_out: bool) -> None:
    if json_out:
        as_json([{"rule": v.rule, "appointment": v.appointment, "what": v.what} for v in found])
        return
    for v in found:
        console.print(str(v), markup=False)
    if not found:
        console.print(f"valid: {appointments} appointments keep every hard rule")


@contextmanager
def whatif_bar(hidden: bool) -> Iterator[Callable[[WhatIfProgress], None]]:
    """A progress bar on standard error (a terminal only, and not when ``hidden``); yields
    what advances it."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    err = Console(stderr=True)
    with Bar(TextColumn("what-if"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
             TextColumn("{task.description}"), console=err,
             disable=hidden or not err.is_terminal) as bar:
        task = bar.add_task("", total=None)

        def advance(p: WhatIfProgress) -> None:
            bar.update(task, completed=p.done, total=p.total,
                       description=f"best so far: {p.best}" if p.best else "")

        yield advance


def whatif_table(result: WhatIf, console: Console) -> None:
    from scheduler.usecases.whatif import RESOURCES

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
