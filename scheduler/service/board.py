"""The week board as plain geometry: rows (chairs, or nurses) and blocks in minutes from the
day's opening, ready for an SVG. No web here: a schedule and its scenario in, numbers out.

Chairs are lanes: a room's appointments (with turnover) are dealt to its chairs first-free, which
is always possible when the schedule keeps rule 3. A nurse's row shows her load over the day
(appointments in a hands-on or monitoring phase of hers) against her ``max_patients``; the
prescriber band shows when a prescriber is on shift beside when one must be (on-site phases).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from scheduler.check import on_site_cover
from scheduler.compile import SlotClock, subtract
from scheduler.documents import Appointment, Schedule
from scheduler.model import WEEKDAYS, RoomSpec, Scenario, StaffSpec
from solver import union

__all__ = ["Block", "DayPanel", "Lane", "NurseRow", "Span", "day_panels", "initials",
           "week_dates"]

@dataclass(frozen=True)
class Span:
    """A stretch of the day: minutes from the opening, and its length in minutes."""

    x: int
    w: int
    kind: str = ""
    level: int = 0


@dataclass
class Block:
    id: str
    patient: str
    initials: str
    protocol: str
    nurse: str
    start: datetime
    end: datetime
    x: int
    w: int
    phases: list[Span]
    turnover: Span | None
    fixed: bool = False
    label_x: int = 0
    """Where the label starts: on the first light (monitoring) phase when there is one."""
    label_on_dark: bool = False
    nurse_short: str = ""
    """The nurse as the block's label says her: her first name ("Dana"), else her id."""


@dataclass
class Lane:
    label: str
    room: str
    blocks: list[Block] = field(default_factory=list)
    closed: list[Span] = field(default_factory=list)
    """Stretches of the day the room is closed (its own hours, a closure): shaded, not free."""


@dataclass
class NurseRow:
    id: str
    name: str
    role: str
    max_patients: int
    shifts: list[Span]
    load: list[Span]
    peak: int
    blocks: list[Block] = field(default_factory=list)


@dataclass
class DayPanel:
    day: date
    label: str
    opens: datetime
    minutes: int
    ticks: list[tuple[int, str]]
    lanes: list[Lane]
    nurses: list[NurseRow]
    prescribers: list[Span]
    needs_prescriber: list[Span]
    uncovered: list[Span]
    now_x: int | None
    count: int


def initials(name: str | None, fallback: str) -> str:
    """``Ana María Ruiz`` -> ``AMR``; a patient without a name shows their id."""
    if not name:
        return fallback
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return "".join(p[0].upper() for p in parts[:3]) or fallback


def week_dates(scenario: Scenario) -> list[date]:
    """The horizon's days on which the clinic opens."""
    return [d for d in scenario.dates() if scenario.clinic.hours.get(WEEKDAYS[d.weekday()])
            and d not in scenario.clinic.closed_dates]


def _minutes(a: datetime, b: datetime) -> int:
    """Real minutes from ``a`` to ``b`` (a daylight-saving night's hour counts as it passes)."""
    return int((b - a).total_seconds() // 60)


def _mode_of(scenario: Scenario, protocol: str) -> tuple[str, dict[str, str]]:
    """The staff key of the protocol's (first) nurse-like entry with modes, and its modes."""
    spec = next((p for p in scenario.protocols if p.id == protocol), None)
    if spec is None:
        return "", {}
    for need in spec.staff:
        if need.modes:
            return need.key or need.role, dict(need.modes)
    return "", {}


def short_name(name: str | None, fallback: str) -> str:
    """``Dana Fischer`` -> ``Dana``; ``Dr. Grace Lin`` -> ``Dr. Lin``; no name: the id."""
    if not name or not name.split():
        return fallback
    parts = name.split()
    if parts[0].endswith(".") and len(parts) > 1:  # a title goes with the surname
        return f"{parts[0]} {parts[-1]}"
    return parts[0]


def _block(a: Appointment, opens: datetime, scenario: Scenario, names: dict[str, str | None],
           turnover: dict[str, int], fixed: set[str]) -> Block:
    key, modes = _mode_of(scenario, a.protocol)
    nurse = a.staff.get(key, next(iter(a.staff.values()), ""))
    staff_name = next((s.name for s in scenario.staff if s.id == nurse), None)
    phases = [Span(_minutes(opens, p.start), _minutes(p.start, p.end),
                   modes.get(p.name, "other")) for p in a.phases]
    x, w = _minutes(opens, a.start), _minutes(a.start, a.end)
    gap = turnover.get(a.protocol, 0)
    light = next((p for p in phases if p.kind == "monitor" and p.w >= 20), None)
    return Block(id=a.id, patient=a.patient, initials=initials(names.get(a.patient), a.patient),
                 protocol=a.protocol, nurse=nurse, nurse_short=short_name(staff_name, nurse),
                 start=a.start, end=a.end, x=x, w=w, phases=phases,
                 turnover=Span(x + w, gap, "turnover") if gap else None, fixed=a.id in fixed,
                 label_x=(light.x if light else x) + 3,
                 label_on_dark=light is None and any(p.kind == "hands_on" for p in phases))


def _closed(clock: SlotClock, room: RoomSpec, day: date, opens: datetime, minutes: int
            ) -> list[Span]:
    """The parts of the clinic's day the room is closed: outside its own hours, or closed
    for the day or part of it (``closures``; a re-plan's ``room_closed``)."""
    o = clock.minute(opens)
    hours = room.hours if room.hours is not None else clock.scenario.clinic.hours
    open_ = subtract(clock.spans(hours, day),
                     clock.outages([c for c in room.closures if c.date == day]))
    return _clip(_spans(tuple((a - o, b - o) for a, b in subtract(((o, o + minutes),),
                                                                    list(open_))),
                        "closed"), minutes)


def _lanes(scenario: Scenario, blocks: list[tuple[Appointment, Block]],
           closed: dict[str, list[Span]] | None = None) -> list[Lane]:
    lanes: list[Lane] = []
    by_room: dict[str, list[Block]] = defaultdict(list)
    video: list[Block] = []
    for a, b in blocks:
        if a.room is None:  # a video session takes no room: the Video lanes below
            video.append(b)
        else:
            by_room[a.room].append(b)
    for room in scenario.rooms:
        chairs = [Lane(f"{room.name or room.id}" + (f" · {i + 1}" if room.chairs > 1 else ""),
                       room.id, closed=(closed or {}).get(room.id, []))
                  for i in range(room.chairs)]
        free = [float("-inf")] * room.chairs
        for b in sorted(by_room.pop(room.id, []), key=lambda b: b.x):
            end = b.x + b.w + (b.turnover.w if b.turnover else 0)
            i = next((i for i, f in enumerate(free) if f <= b.x),
                     min(range(room.chairs), key=lambda i: free[i]))  # overbooked: still shown
            free[i] = end
            chairs[i].blocks.append(b)
        lanes.extend(chairs)
    for room_id, rest in by_room.items():  # a room no longer in the scenario
        lanes.append(Lane(room_id, room_id, rest))
    calls: list[Lane] = []  # as many lanes as video sessions overlap, none when there are none
    for b in sorted(video, key=lambda b: b.x):
        lane = next((x for x in calls if x.blocks[-1].x + x.blocks[-1].w <= b.x), None)
        if lane is None:
            lane = Lane("Video", VIDEO_LANE)
            calls.append(lane)
        lane.blocks.append(b)
    if len(calls) > 1:
        for i, lane in enumerate(calls):
            lane.label = f"Video · {i + 1}"
    return lanes + calls


VIDEO_LANE = ""
"""The ``room`` of the board's Video lanes: video sessions take no room, so these lanes are
drawn as ``g.lane-video``, neither a drop target nor a "why not here?" chair."""


def _steps(events: list[tuple[int, int]]) -> list[Span]:
    """A step function from (x, +-1) events: spans of constant positive level."""
    out: list[Span] = []
    level, last = 0, 0
    for x, d in sorted(events):
        if level > 0 and x > last:
            out.append(Span(last, x - last, "load", level))
        level, last = level + d, x
    return out


def _shifts(clock: SlotClock, staff: StaffSpec, day: date, opens: datetime) -> list[Span]:
    """The staff member's time on shift that day (touching intervals joined, absences and
    time off taken out), read as the solver reads it."""
    if day in staff.time_off:
        return []
    o = clock.minute(opens)
    return [Span(a - o, b - a, "shift")
            for a, b in subtract(clock.spans(staff.shifts, day), clock.outages(staff.absences))]


def _clip(spans: list[Span], minutes: int) -> list[Span]:
    """``spans`` cut to the day's opening hours (a shift may start before the doors open)."""
    out = []
    for s in spans:
        a, b = max(s.x, 0), min(s.x + s.w, minutes)
        if b > a:
            out.append(Span(a, b - a, s.kind, s.level))
    return out


def _spans(pieces: tuple[tuple[int, int], ...], kind: str) -> list[Span]:
    return [Span(a, b - a, kind) for a, b in pieces]


def day_panels(scenario: Scenario, schedule: Schedule, days: list[date],
               now: datetime | None = None) -> list[DayPanel]:
    """One panel per day of ``days`` on which the clinic opens."""
    clock = SlotClock(scenario)
    tz = clock.tz
    names = {p.id: p.name for p in scenario.patients}
    turnover = {p.id: p.turnover_minutes for p in scenario.protocols}
    fixed = {f.id for f in scenario.fixed}
    on_site = {p.id: {o.role: set(o.phases) for o in p.on_site} for p in scenario.protocols}
    panels = []
    for day in days:
        hours = scenario.clinic.hours.get(WEEKDAYS[day.weekday()])
        if not hours:
            continue
        opens = clock.wall(day, min(h[0] for h in hours))
        closes = clock.wall(day, max(h[1] for h in hours))
        minutes = _minutes(opens, closes)
        todays = [a for a in schedule.appointments if a.start.astimezone(tz).date() == day]
        blocks = [(a, _block(a, opens, scenario, names, turnover, fixed)) for a in todays]
        ticks = []
        t = opens.replace(minute=0) if opens.minute else opens
        while t <= closes:
            if t >= opens:
                ticks.append((_minutes(opens, t), f"{t.astimezone(tz):%H:%M}"))
            t = (t + timedelta(hours=1)).astimezone(tz)
        nurses = []
        o = clock.minute(opens)
        # the prescriber band: rule 5's own reading of who is on site (check.on_site_cover)
        prescribers = _clip([Span(clock.minute(a) - o, clock.minute(b) - clock.minute(a),
                                  "shift") for a, b in on_site_cover(scenario, "prescriber", day)],
                            minutes)
        for staff in scenario.staff:
            shifts = _clip(_shifts(clock, staff, day, opens), minutes)
            mine = [(a, b) for a, b in blocks if staff.id in a.staff.values()]
            if not mine and (not shifts or staff.max_patients == 0):
                continue  # a prescriber on call only is the band above, not a row of "0/0"
            events: list[tuple[int, int]] = []
            for a, b in mine:
                key = next(k for k, v in a.staff.items() if v == staff.id)
                modes = next((dict(n.modes) for p in scenario.protocols if p.id == a.protocol
                              for n in p.staff if (n.key or n.role) == key), {})
                for p, span in zip(a.phases, b.phases, strict=True):
                    if modes.get(p.name) in ("hands_on", "monitor"):
                        events += [(span.x, 1), (span.x + span.w, -1)]
            load = _steps(events)
            nurses.append(NurseRow(staff.id, staff.name or staff.id, staff.role,
                                   staff.max_patients, shifts, load,
                                   max((s.level for s in load), default=0),
                                   [b for _, b in mine]))
        needs = union((ph.x, ph.x + ph.w) for a, b in blocks
                      for p, ph in zip(a.phases, b.phases, strict=True)
                      if p.name in on_site.get(a.protocol, {}).get("prescriber", set()))
        covered = [(s.x, s.x + s.w) for s in prescribers]
        now_x = (_minutes(opens, now) if now is not None and opens <= now <= closes else None)
        panels.append(DayPanel(day, f"{day:%A %d %B}", opens, minutes, ticks,
                               _lanes(scenario, blocks, {
                                   r.id: _closed(clock, r, day, opens, minutes)
                                   for r in scenario.rooms}), nurses, prescribers,
                               _spans(needs, "need"),
                               _spans(subtract(needs, covered), "uncovered"), now_x,
                               len(todays)))
    return panels
