"""Publishing a schedule into a folder: ``schedule.json``, ``rems.csv`` (the REMS forms due, when
any) and a re-plan's ``changes.json`` or a re-plan's or roll's ``scenario.yaml``, written
atomically, and the calendar feeds, all or nothing. ``solve``, ``replan`` and ``roll`` publish
through here, so their folders hold the same files.

``DIR/feeds/`` holds one ``.ics`` per patient, staff member and room, ``clinic.ics``, and
``state.json`` (each event's sequence, last change and cancellation), which the next publish into
the same folder continues from. Files are written to a fresh folder that replaces the old one only
when complete, so a failure mid-publish leaves the last published feeds intact.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any

import yaml

from calendars import Directory, FeedOptions, advance, render_all
from scheduler.documents import Appointment, ChangeList, Schedule, changes_json, rems_forms
from scheduler.model import Scenario, clock_minutes
from scheduler.text import write_csv

log = logging.getLogger(__name__)
STATE = "state.json"
_TELLING = re.compile(r"ketamine|spravato|esketamine|psychedelic|infusion|depress",
                      re.IGNORECASE)


def feed_options(scenario: Scenario) -> FeedOptions:
    f = scenario.feeds
    name = f.name or scenario.clinic.name
    if _TELLING.search(name):
        log.warning("patient feeds will show the clinic name %r, which names a treatment; set "
                    "feeds.name to a neutral one", name)
    reminder = None
    if f.patient_reminder is not None:
        minutes = clock_minutes(f.patient_reminder) % (24 * 60)
        reminder = time(minutes // 60, minutes % 60)
    return FeedOptions(
        name=name,
        timezone=scenario.clinic.timezone,
        address=scenario.clinic.address,
        arrival=scenario.clinic.arrival_instructions,
        cancelled_days=f.cancelled_days,
        reminder=reminder,
        detail={"patient": f.patient_detail, "staff": f.staff_detail, "room": f.room_detail,
                "clinic": f.clinic_detail},
        initials={"patient": False, "staff": False, "room": f.room_initials,
                  "clinic": f.clinic_initials},
        video=f.video_location,
    )


def directory(scenario: Scenario) -> Directory:
    return Directory(
        patients={p.id: p.name or "" for p in scenario.patients},
        protocols={p.id: p.name for p in scenario.protocols},
        rooms={r.id: r.name or r.id for r in scenario.rooms},
        staff={s.id: s.name or s.id for s in scenario.staff},
        modes={p.id: {n.name: dict(n.modes) for n in p.staff} for p in scenario.protocols},
    )


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return dict(data.get("events", {}))


def build_feeds(scenario: Scenario, schedule: Schedule | dict[str, Any],
                previous: dict[str, Any], now: datetime,
                also: Iterable[tuple[str, str]] = ()) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Feed files and the new event state for ``schedule`` (or a parsed ``schedule.json``)
    published at ``now``. ``also`` names more feeds as (kind, id), rendered even when their
    patient, staff member or room has left the scenario (someone still subscribes to them:
    they show that subject's events cancelled, then empty)."""
    options = feed_options(scenario)
    document = schedule.to_json() if isinstance(schedule, Schedule) else schedule
    state = advance(previous, document["appointments"], now, options.cancelled_days)
    extra = {kind: [key for k, key in also if k == kind] for kind in ("patient", "staff", "room")}
    files = render_all(state, options, directory(scenario),
                       patients=dict.fromkeys([*(p.id for p in scenario.patients),
                                               *extra["patient"]]),
                       staff=dict.fromkeys([*(s.id for s in scenario.staff), *extra["staff"]]),
                       rooms=dict.fromkeys([*(r.id for r in scenario.rooms), *extra["room"]]))
    return files, state


def publish_feeds(scenario: Scenario, schedule: Schedule | dict[str, Any], out: Path,
                  now: datetime, history: Path | None = None) -> Path:
    """Write ``out/feeds/`` for ``schedule``, continuing the history already there (or, for a
    new folder, the one in ``history``, the previous schedule's feeds folder)."""
    target = out / "feeds"
    source = target if (target / STATE).exists() or history is None else history
    files, state = build_feeds(scenario, schedule, read_state(source), now)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".feeds-", dir=out))
    try:
        for name, body in files.items():
            (staging / name).write_bytes(body)
        (staging / STATE).write_text(json.dumps({"events": state}, indent=1, sort_keys=True)
                                     + "\n", encoding="utf-8")
        old = out / ".feeds-old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.exists() and (out / ".feeds-old").exists():
            (out / ".feeds-old").rename(target)
        raise
    log.info("wrote %d feeds to %s", len(files), target)
    return target


def _atomic(target: Path, text: str, newline: str | None = None) -> Path:
    """Write ``target`` via a temporary file and a rename: never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline=newline)
    tmp.replace(target)
    return target


def write_json(target: Path, data: Any) -> Path:
    return _atomic(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_yaml(target: Path, data: Any) -> Path:
    return _atomic(target, yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                                          default_flow_style=None, width=100))


def write_rems(out: Path, schedule: Schedule) -> Path | None:
    """``out/rems.csv``, the front desk's REMS forms due (:func:`rems_forms`); none without
    REMS sessions. Returns its path, or None."""
    forms = rems_forms(schedule)
    if not forms:
        return None
    text = io.StringIO()
    write_csv(text, list(forms[0]), (form.values() for form in forms))
    target = _atomic(out / "rems.csv", text.getvalue(), newline="")
    log.info("wrote %s (%d REMS monitoring forms)", target, len(forms))
    return target


def _schedule(out: Path, schedule: Schedule) -> Path:
    target = write_json(out / "schedule.json", schedule.to_json())
    write_rems(out, schedule)
    return target


def publish(scenario: Scenario, schedule: Schedule, out: Path, now: datetime,
            history: Path | None = None, changes: ChangeList | None = None) -> Path:
    """Write ``out/feeds/`` (continuing ``history``'s feeds when the folder is new),
    ``out/schedule.json`` and ``out/rems.csv``; for a re-plan also ``changes.json`` and
    ``scenario.yaml``, the scenario after the events, so the folder re-checks on its own. Feeds
    go first (all or nothing), so a failure leaves the last published schedule and feeds as
    they were. Returns the schedule's path."""
    publish_feeds(scenario, schedule, out, now, history)  # all or nothing, so first
    if changes is not None:
        write_json(out / "changes.json", changes_json(changes))
        write_yaml(out / "scenario.yaml",
                   scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True))
    return _schedule(out, schedule)


def publish_roll(scenario: Scenario, schedule: Schedule, out: Path, now: datetime,
                 history: Path, given: dict[str, Any], past: Sequence[Appointment],
                 missed: Collection[str]) -> Path:
    """A roll's folder, as :func:`publish` writes one: ``given`` (the rolled scenario as the
    clinic keeps it) as ``scenario.yaml``, which next week's roll starts from; and feeds that
    keep the sessions before the new horizon that took place (``past``, and those earlier
    feeds still show confirmed), so a roll never shows last week's sessions as cancelled;
    ``missed`` ones are cancelled. Returns the schedule's path."""
    source = out / "feeds" if (out / "feeds" / STATE).exists() else history
    document = schedule.to_json()
    before = _past_events(scenario, schedule, past, missed, read_state(source))
    publish_feeds(scenario, {**document, "appointments": [*before, *document["appointments"]]},
                  out, now, history)
    write_yaml(out / "scenario.yaml", given)
    return _schedule(out, schedule)


def _past_events(scenario: Scenario, schedule: Schedule, past: Sequence[Appointment],
                 missed: Collection[str], published: dict[str, Any]) -> list[dict[str, Any]]:
    """The events before ``scenario``'s horizon the feeds keep beside ``schedule``."""
    begins = datetime.combine(scenario.horizon.start, time(0), scenario.tz)
    current = {a.id for a in schedule.appointments}
    out = {a.id: a.model_dump(mode="json", exclude_none=True) for a in past}
    for aid, event in published.items():
        a = event.get("appointment") or {}
        if (aid in current or aid in out or aid in missed
                or event.get("status") != "CONFIRMED" or "start" not in a):
            continue
        if datetime.fromisoformat(a["start"]) < begins:
            out[aid] = a
    return list(out.values())
