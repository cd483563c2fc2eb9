"""Publishing a schedule's calendar feeds into a folder, all or nothing.

``DIR/feeds/`` holds one ``.ics`` per patient, staff member and room, ``clinic.ics``, and
``state.json`` (each event's sequence, last change and cancellation), which the next publish into
the same folder continues from. Files are written to a fresh folder that replaces the old one only
when complete, so a failure mid-publish leaves the last published feeds intact.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from datetime import datetime, time
from pathlib import Path
from typing import Any

from calendars import Directory, FeedOptions, advance, render_all
from scheduler.scenario import Scenario, clock_minutes

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


def build_feeds(scenario: Scenario, document: dict[str, Any], previous: dict[str, Any],
                now: datetime) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Feed files and the new event state for ``document`` published at ``now``."""
    options = feed_options(scenario)
    state = advance(previous, document["appointments"], now, options.cancelled_days)
    files = render_all(state, options, directory(scenario),
                       patients=[p.id for p in scenario.patients],
                       staff=[s.id for s in scenario.staff],
                       rooms=[r.id for r in scenario.rooms])
    return files, state


def publish_feeds(scenario: Scenario, document: dict[str, Any], out: Path,
                  now: datetime, history: Path | None = None) -> Path:
    """Write ``out/feeds/`` for ``document``, continuing the history already there (or, for a
    new folder, the one in ``history``, the previous schedule's feeds folder)."""
    target = out / "feeds"
    source = target if (target / STATE).exists() or history is None else history
    files, state = build_feeds(scenario, document, read_state(source), now)
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
