"""An independent re-check of a schedule against contract v1's hard rules.

Written from the contract's text, and sharing no code with the solver or its compiler (which
work in integer minutes): it is the proof the tests hold the solver to, and what an outside
reviewer can read rule by rule. Every instant is an aware UTC datetime, converted from the
clinic's wall clock here with zoneinfo, so durations are real time on daylight-saving nights
(Python adds and compares datetimes of one zone on the wall clock, which is exactly the bug
this avoids).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.errors import Issue
from scheduler.model import (
    WEEKDAYS,
    FixedSpec,
    Outage,
    PatientSpec,
    ProtocolSpec,
    Scenario,
    StaffSpec,
    WeekHours,
)

RULES = ("phases", "hours", "rooms", "staff", "on_site", "patients", "fixed")


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    appointment: str
    what: str

    def __str__(self) -> str:
        return f"{self.rule} {self.appointment}: {self.what}"


@dataclass(frozen=True, slots=True)
class Booked:
    """One appointment as the checker reads it: aware datetimes, nothing derived by a solver."""

    id: str
    patient: str
    protocol: str
    room: str | None
    """None: no room (a video session)."""
    staff: dict[str, str]
    start: datetime
    end: datetime
    phases: tuple[tuple[str, datetime, datetime], ...]


class UnreadableSchedule(ValueError):
    pass


def _instant(text: Any, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError as exc:
        raise UnreadableSchedule(f"{where}: '{text}' is not an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        raise UnreadableSchedule(f"{where}: '{text}' has no UTC offset")
    return value.astimezone(UTC)


def read_schedule(data: Any) -> list[Booked]:
    """The appointments of a ``schedule.json`` document; malformed ones raise UnreadableSchedule."""
    if not isinstance(data, dict) or not isinstance(data.get("appointments"), list):
        raise UnreadableSchedule("schedule: must be an object with an 'appointments' list")
    out: list[Booked] = []
    for i, a in enumerate(data["appointments"]):
        where = f"appointments[{i}]"
        try:
            phases = tuple(
                (str(p["name"]), _instant(p["start"], f"{where}.phases[{j}].start"),
                 _instant(p["end"], f"{where}.phases[{j}].end"))
                for j, p in enumerate(a["phases"])
            )
            room = a.get("room")
            out.append(Booked(str(a["id"]), str(a["patient"]), str(a["protocol"]),
                              None if room is None else str(room),
                              {str(k): str(v) for k, v in a["staff"].items()},
                              _instant(a["start"], f"{where}.start"),
                              _instant(a["end"], f"{where}.end"), phases))
        except (KeyError, TypeError, AttributeError) as exc:
            raise UnreadableSchedule(f"{where}: missing or malformed field {exc}") from exc
    return out


Span = tuple[datetime, datetime]


def _within_one(start: datetime, end: datetime, spans: Iterable[Span]) -> bool:
    return any(a <= start and end <= b for a, b in spans)


def _joined(spans: Iterable[Span]) -> list[Span]:
    """Touching or overlapping spans as one (contract: touching intervals form one interval;
    on site: a hand-over between two people counts)."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _wall(day: date, clock: str, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``"HH:MM"`` on ``day`` in ``tz`` (``"24:00"`` is the next
    midnight; a time skipped by a daylight-saving change reads as before the change, PEP 495)."""
    hh, mm = (int(part) for part in clock.split(":"))
    if hh == 24:
        day, hh = day + timedelta(days=1), 0
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz).astimezone(UTC)


class _Checker:
    def __init__(self, scenario: Scenario, booked: list[Booked]) -> None:
        self.s = scenario
        self.tz = ZoneInfo(scenario.clinic.timezone)
        self.booked = booked
        self.protocols = {p.id: p for p in scenario.protocols}
        self.rooms = {r.id: r for r in scenario.rooms}
        self.staff = {m.id: m for m in scenario.staff}
        self.patients = {p.id: p for p in scenario.patients}
        self.out: list[Violation] = []

    def bad(self, rule: str, a: Booked | str, what: str) -> None:
        self.out.append(Violation(rule, a if isinstance(a, str) else a.id, what))

    def day_of(self, t: datetime) -> date:
        return t.astimezone(self.tz).date()

    def spans(self, week: WeekHours | None, day: date) -> list[Span]:
        if week is None:
            return []
        return _joined((_wall(day, a, self.tz), _wall(day, b, self.tz))
                       for a, b in week.get(WEEKDAYS[day.weekday()], []))

    def outages(self, outages: list[Outage], day: date) -> list[Span]:
        return [(_wall(day, o.from_ or "00:00", self.tz), _wall(day, o.to or "24:00", self.tz))
                for o in outages if o.date == day]

    def minus(self, spans: list[Span], outages: list[Outage], day: date) -> list[Span]:
        """``spans`` without the parts covered by the outages dated ``day``."""
        for lo, hi in self.outages(outages, day):
            spans = [piece for a, b in spans for piece in ((a, min(b, lo)), (max(a, hi), b))
                     if piece[0] < piece[1]]
        return spans

    def shifts(self, m: StaffSpec, day: date) -> list[Span]:
        if day in m.time_off:
            return []
        return self.minus(self.spans(m.shifts, day), m.absences, day)

    def on_site_cover(self, role: str, day: date) -> list[Span]:
        """When someone of ``role`` is on site on ``day``: everyone's shifts joined (a
        hand-over between two people counts)."""
        return _joined(span for m in self.s.staff if m.role == role
                       for span in self.shifts(m, day))

    def label(self, t: datetime) -> str:
        return t.astimezone(self.tz).strftime("%a %d %b %H:%M")

    # ------------------------------------------------------------------ rules
    def references(self) -> list[Booked]:
        seen: set[str] = set()
        usable = []
        for a in self.booked:
            ok = True
            if a.id in seen:
                self.bad("format", a, "the id is used by more than one appointment")
            seen.add(a.id)
            if a.patient not in self.patients:
                self.bad("format", a, f"unknown patient '{a.patient}'")
                ok = False
            elif a.protocol not in _own_protocols(self.patients[a.patient]):
                self.bad("phases", a, f"protocol '{a.protocol}' is not {a.patient}'s protocol "
                                      f"'{self.patients[a.patient].protocol}'")
                ok = False
            if a.protocol not in self.protocols:
                self.bad("format", a, f"unknown protocol '{a.protocol}'")
                ok = False
            if a.room is not None and a.room not in self.rooms:
                self.bad("format", a, f"unknown room '{a.room}'")
                ok = False
            for key, sid in a.staff.items():
                if sid not in self.staff:
                    self.bad("format", a, f"unknown staff '{sid}' for '{key}'")
                    ok = False
            if ok:
                usable.append(a)
        return usable

    def phases(self, a: Booked, p: ProtocolSpec) -> None:
        """Rule 1: the protocol's phases, in order, back to back, exact lengths, on the grid."""
        names = [x[0] for x in a.phases]
        specs, _ = p.on(self.day_of(a.start))
        if names != [ph.name for ph in specs]:
            self.bad("phases", a, f"phases {names} are not {p.id}'s "
                                  f"{[ph.name for ph in specs]}")
            return
        cursor = a.start
        for (name, start, end), spec in zip(a.phases, specs, strict=True):
            if start != cursor:
                self.bad("phases", a, f"phase {name} starts at {self.label(start)}, not right "
                                      f"after the previous phase ({self.label(cursor)})")
            if end - start != timedelta(minutes=spec.minutes):
                self.bad("phases", a, f"phase {name} lasts {(end - start).total_seconds() / 60:g}"
                                      f" min instead of {spec.minutes}")
            cursor = end
        if cursor != a.end:
            self.bad("phases", a, "the appointment does not end when its last phase ends")
        local = a.start.astimezone(self.tz)
        if (local.hour * 60 + local.minute) % self.s.clinic.slot_minutes or local.second:
            self.bad("phases", a, f"starts at {local:%H:%M}, off the "
                                  f"{self.s.clinic.slot_minutes}-minute slot grid")

    def hours(self, a: Booked) -> None:
        """Rule 2: inside the horizon, on an open day, inside one clinic and room interval."""
        day = self.day_of(a.start)
        first = self.s.horizon.start
        if not first <= day < first + timedelta(days=self.s.horizon.days):
            self.bad("hours", a, f"{day} is outside the horizon")
            return
        if day in self.s.clinic.closed_dates:
            self.bad("hours", a, f"the clinic is closed on {day}")
            return
        if not _within_one(a.start, a.end, self.spans(self.s.clinic.hours, day)):
            self.bad("hours", a, f"{self.label(a.start)}–{a.end.astimezone(self.tz):%H:%M} is "
                                 "not inside one interval of the clinic's hours")
        if a.room is None:  # a video session: the clinic's hours only
            return
        room = self.rooms[a.room]
        if room.hours is not None or room.closures:
            week = room.hours if room.hours is not None else self.s.clinic.hours
            if not _within_one(a.start, a.end,
                               self.minus(self.spans(week, day), room.closures, day)):
                self.bad("hours", a, f"room {room.id} is not open for the whole session")

    def rooms_rule(self, usable: list[Booked]) -> None:
        """Rule 3: features, and at most `chairs` sessions (plus turnover) at any moment."""
        per_room: dict[str, list[tuple[datetime, datetime, Booked]]] = defaultdict(list)
        for a in usable:
            p = self.protocols[a.protocol]
            if p.video:  # extension: a video session takes no room
                if a.room is not None:
                    self.bad("rooms", a, f"{p.id} is a video session and takes no room, but "
                                         f"room {a.room} is booked")
                continue
            if a.room is None:
                self.bad("rooms", a, f"{p.id} needs a room and none is booked")
                continue
            room = self.rooms[a.room]
            missing = set(p.room_features) - set(room.features)
            if missing:
                self.bad("rooms", a, f"room {room.id} lacks {', '.join(sorted(missing))}")
            turnover = p.on(self.day_of(a.start))[1]
            per_room[a.room].append((a.start, a.end + timedelta(minutes=turnover), a))
        for rid, items in per_room.items():
            for a in _over_capacity(items, self.rooms[rid].chairs):
                self.bad("rooms", a, f"room {rid} holds more than {self.rooms[rid].chairs} "
                                     f"session(s) (turnover included) around "
                                     f"{self.label(a.start)}")

    def staff_rule(self, usable: list[Booked]) -> None:
        """Rule 4: right person per entry, on shift for every moded phase, within their load."""
        hands: dict[str, list[tuple[datetime, datetime, Booked]]] = defaultdict(list)
        load: dict[str, list[tuple[datetime, datetime, Booked]]] = defaultdict(list)
        for a in usable:
            p = self.protocols[a.protocol]
            day = self.day_of(a.start)
            wanted = {n.name: n for n in p.staff}
            for key in a.staff.keys() - wanted.keys():
                self.bad("staff", a, f"{p.id} has no staff entry '{key}'")
            phase_at = {name: (s, e) for name, s, e in a.phases}
            keys_of: dict[str, list[str]] = defaultdict(list)
            for key in wanted:
                if key in a.staff:
                    keys_of[a.staff[key]].append(key)
            for who, keys in keys_of.items():
                if len(keys) > 1:  # each entry is one more person (README: interpretations)
                    self.bad("staff", a, f"{who} fills {len(keys)} staff entries of one session "
                                         f"({', '.join(keys)})")
            for key, need in wanted.items():
                sid = a.staff.get(key)
                if sid is None:
                    self.bad("staff", a, f"nobody is assigned as '{key}'")
                    continue
                m = self.staff[sid]
                if m.role != need.role:
                    self.bad("staff", a, f"{sid} is a {m.role}, not a {need.role}")
                if need.qualification and need.qualification not in m.qualifications:
                    self.bad("staff", a, f"{sid} lacks the qualification {need.qualification}")
                if day in m.time_off:
                    self.bad("staff", a, f"{sid} is on time off on {day}")
                elif not need.modes and any(lo < a.end and a.start < hi
                                            for lo, hi in self.outages(m.absences, day)):
                    self.bad("staff", a, f"{sid} is absent during the session "
                                         f"({self.label(a.start)})")
                shifts = self.shifts(m, day)
                for phase, mode in need.modes.items():
                    if phase not in phase_at:
                        continue
                    s, e = phase_at[phase]
                    if day not in m.time_off and not _within_one(s, e, shifts):
                        self.bad("staff", a, f"{sid} is not on shift for the whole {phase} "
                                             f"phase ({self.label(s)})")
                    load[sid].append((s, e, a))
                    if mode == "hands_on":
                        hands[sid].append((s, e, a))
        hands, load = _per_appointment(hands), _per_appointment(load)
        for sid, items in hands.items():
            for a in _over_capacity(items, 1):
                self.bad("staff", a, f"{sid} is hands-on with two patients at once around "
                                     f"{self.label(a.start)}")
        for sid, items in load.items():
            cap = self.staff[sid].max_patients
            for a in _over_capacity(items, cap):
                self.bad("staff", a, f"{sid} attends or monitors more than {cap} patient(s) at "
                                     f"once around {self.label(a.start)}")

    def on_site(self, a: Booked, p: ProtocolSpec) -> None:
        """Rule 5: someone of the role on shift (not on time off) for each listed phase."""
        day = self.day_of(a.start)
        phase_at = {name: (s, e) for name, s, e in a.phases}
        for rule in p.on_site:
            covered = self.on_site_cover(rule.role, day)
            for phase in rule.phases:
                if phase not in phase_at:
                    continue
                s, e = phase_at[phase]
                if not _within_one(s, e, covered):
                    self.bad("on_site", a, f"no {rule.role} is on site for the whole {phase} "
                                           f"phase ({self.label(s)})")

    def patients_rule(self, usable: list[Booked]) -> None:
        """Rule 6: session count, one a day, windows, date range and minimum gaps, none on or
        after a discharge; with the extensions, the dose step's protocol by place and each
        follow-up's own session."""
        per_patient: dict[str, list[Booked]] = defaultdict(list)
        for a in usable:
            per_patient[a.patient].append(a)
        for pid, everything in per_patient.items():
            pat = self.patients[pid]
            everything.sort(key=lambda a: a.start)
            follow = pat.follow_up.protocol if pat.follow_up is not None else None
            items = [a for a in everything if a.protocol != follow]
            if len(items) > pat.sessions:
                self.bad("patients", items[-1], f"{pid} has {len(items)} appointments but wants "
                                                f"{pat.sessions}")
            for a in everything:
                protocol = self.protocols[a.protocol]
                if protocol.requires_rems and pat.rems_enrolled is not True:
                    self.bad("patients", a,
                             f"{pid} is not enrolled in the REMS that {protocol.id} requires"
                             if pat.rems_enrolled is False else
                             f"REMS enrollment not recorded for {pid} ({protocol.id} requires "
                             "it)")
                    break
            days: dict[date, Booked] = {}
            for a in everything:
                day = self.day_of(a.start)
                if pat.discharged is not None and day >= pat.discharged:
                    self.bad("patients", a, f"{pid} was discharged on "
                                            f"{pat.discharged:%a %d %b %Y}")
                if day in days:
                    self.bad("patients", a, f"{pid} has two appointments on {day}")
                days[day] = a
                week = pat.availability if pat.availability is not None else (
                    self.s.clinic.hours if pat.unavailable else None)
                if week is not None and not _within_one(
                        a.start, a.end, self.minus(self.spans(week, day), pat.unavailable, day)):
                    self.bad("patients", a, f"{pid} is not available for the whole session "
                                            f"({self.label(a.start)})")
                if pat.earliest and day < pat.earliest:
                    self.bad("patients", a, f"{day} is before {pid}'s earliest {pat.earliest}")
                if pat.latest and day > pat.latest:
                    self.bad("patients", a, f"{day} is after {pid}'s latest {pat.latest}")
            previous = pat.last_session
            for n, a in enumerate(items):
                day = self.day_of(a.start)
                if previous is not None:
                    gap = (day - previous).days
                    if 0 < gap < pat.min_gap_days:
                        self.bad("patients", a, f"{pid}'s sessions on {previous} and {day} are "
                                                f"{gap} day(s) apart; at least "
                                                f"{pat.min_gap_days} wanted")
                    elif gap == 0 and previous == pat.last_session:
                        self.bad("patients", a, f"{pid} has two appointments on {day}")
                previous = day
                if pat.step is not None:  # extension: the dose step, by place in the horizon
                    wanted = pat.step.protocol if n >= pat.step.after else pat.protocol
                    if a.protocol != wanted:
                        self.bad("patients", a, f"{pid}'s session {n + 1} in the horizon "
                                                f"should be {wanted} (the dose step comes after "
                                                f"{pat.step.after}), not {a.protocol}")
            if pat.follow_up is not None:
                self.follow_ups(pid, items, [a for a in everything if a.protocol == follow])
            self.per_week(pid, items)

    def follow_ups(self, pid: str, sessions: list[Booked], follow: list[Booked]) -> None:
        """Rule 6 (extension): each follow-up comes ``days`` after a session of the patient
        (in the horizon or ``last_session``) of the protocol it follows (after a dose step, the
        step's), a session of its own: no two share one."""
        pat = self.patients[pid]
        assert pat.follow_up is not None
        low, high = pat.follow_up.days
        # a follow-up follows a session of the protocol the patient ends the horizon on (the
        # step's, else their own): a KAP integration follows a dosing, never a preparation
        follows = pat.step.protocol if pat.step is not None else pat.protocol
        free = sorted(self.day_of(a.start) for a in sessions if a.protocol == follows)
        if pat.last_session is not None and pat.protocol == follows:
            free.insert(0, pat.last_session)
        for a in follow:  # in date order; the earliest session that fits is the one to take
            day = self.day_of(a.start)
            match = next((d for d in free if low <= (day - d).days <= high), None)
            if match is None:
                self.bad("patients", a, f"{pid}'s {a.protocol} on {day} follows none of "
                                        f"{pid}'s sessions by {low}-{high} days (each session "
                                        "has at most one)")
            else:
                free.remove(match)

    def per_week(self, pid: str, items: list[Booked]) -> None:
        """Rule 6 (extension): at most ``max_sessions`` of the patient's appointments in each
        listed calendar week, Monday to Sunday of the clinic's local dates."""
        limits = {w.week: w.max_sessions for w in self.patients[pid].per_week}
        if not limits:
            return
        in_week: dict[date, list[Booked]] = defaultdict(list)
        for a in items:
            day = self.day_of(a.start)
            in_week[day - timedelta(days=day.weekday())].append(a)
        for week, booked in sorted(in_week.items()):
            cap = limits.get(week)
            if cap is not None and len(booked) > cap:
                self.bad("patients", booked[cap], f"{pid} has {len(booked)} appointments in "
                                                  f"the week of {week}; at most {cap} wanted")

    def fixed_rule(self) -> None:
        """Rule 7: every fixed appointment appears unchanged."""
        by_id = {a.id: a for a in self.booked}
        for f in self.s.fixed:
            a = by_id.get(f.id)
            if a is None:
                self.bad("fixed", f.id, "the fixed appointment is missing")
                continue
            start = _local_fixed(self.s, f)
            if (a.patient, a.start, a.room, a.staff) != (f.patient, start, f.room or None,
                                                          f.staff):
                self.bad("fixed", f.id, "differs from the fixed appointment (patient, start, "
                                        "room or staff)")

    def run(self, include_fixed: bool = True) -> list[Violation]:
        usable = self.references()
        for a in usable:
            p = self.protocols[a.protocol]
            self.phases(a, p)
            self.hours(a)
            self.on_site(a, p)
        self.rooms_rule(usable)
        self.staff_rule(usable)
        self.patients_rule(usable)
        if include_fixed:
            self.fixed_rule()
        return self.out


def _own_protocols(p: PatientSpec) -> set[str]:
    """The protocols a patient's appointments may have: theirs, the step's, the follow-up's."""
    return {p.protocol, *([p.step.protocol] if p.step is not None else []),
            *([p.follow_up.protocol] if p.follow_up is not None else [])}


def _over_capacity(items: list[tuple[datetime, datetime, Booked]], capacity: int
                   ) -> list[Booked]:
    """Appointments that, on arrival, push the number of overlapping spans above capacity."""
    events = sorted([(s, 1, i) for i, (s, _, _) in enumerate(items)]
                    + [(e, 0, i) for i, (_, e, _) in enumerate(items)])
    level, out, seen = 0, [], set()
    for _, kind, i in events:
        if kind == 0:
            level -= 1
            continue
        level += 1
        booked = items[i][2]
        if level > capacity and booked.id not in seen:
            out.append(booked)
            seen.add(booked.id)
    return out


def _per_appointment(spans: dict[str, list[tuple[datetime, datetime, Booked]]]
                     ) -> dict[str, list[tuple[datetime, datetime, Booked]]]:
    """Each person's spans with one appointment's own spans joined: the rule counts
    appointments, so a session whose phases overlap (a phases violation) is still one."""
    out: dict[str, list[tuple[datetime, datetime, Booked]]] = {}
    for sid, items in spans.items():
        mine: dict[str, tuple[Booked, list[Span]]] = {}
        for s, e, a in items:
            mine.setdefault(a.id, (a, []))[1].append((s, e))
        out[sid] = [(s, e, a) for a, own in mine.values() for s, e in _joined(own)]
    return out


def _local_fixed(scenario: Scenario, f: FixedSpec) -> datetime:
    """A fixed appointment's start as a UTC instant (its wall-clock time in the clinic's zone)."""
    if f.start.tzinfo is not None:
        return f.start.astimezone(UTC)
    return f.start.replace(tzinfo=ZoneInfo(scenario.clinic.timezone)).astimezone(UTC)


def check(scenario: Scenario, schedule: Any) -> list[Violation]:
    """Every hard-rule violation of ``schedule`` (a parsed schedule.json) against ``scenario``."""
    return _Checker(scenario, read_schedule(schedule)).run()


def on_site_cover(scenario: Scenario, role: str, day: date) -> list[tuple[datetime, datetime]]:
    """The stretches of ``day`` (UTC instants) in which rule 5 counts someone of ``role`` on
    site: the board draws its prescriber band from exactly this, so the band and ``check``
    never disagree."""
    return _Checker(scenario, []).on_site_cover(role, day)


def booked_from_fixed(scenario: Scenario, f: FixedSpec) -> Booked:
    """A fixed appointment laid out as the contract defines it (phases back to back), with
    the protocol of its place: a follow-up's when it names the patient's follow-up protocol,
    else the dose step's by how many of the patient's fixed sessions come before it."""
    patient = next(p for p in scenario.patients if p.id == f.patient)
    own = patient.protocol
    if patient.follow_up is not None and f.protocol == patient.follow_up.protocol:
        own = f.protocol
    elif patient.step is not None:
        t0 = _local_fixed(scenario, f)
        follow = patient.follow_up.protocol if patient.follow_up is not None else None
        before = sum(1 for g in scenario.fixed if g.patient == f.patient and g.protocol != follow
                     and (_local_fixed(scenario, g), g.id) < (t0, f.id))
        own = patient.step.protocol if before >= patient.step.after else patient.protocol
    protocol = scenario.protocol(own)
    t = _local_fixed(scenario, f)
    phases = []
    for ph in protocol.on(t.astimezone(ZoneInfo(scenario.clinic.timezone)).date())[0]:
        end = t + timedelta(minutes=ph.minutes)
        phases.append((ph.name, t, end))
        t = end
    return Booked(f.id, f.patient, protocol.id, f.room or None, dict(f.staff), phases[0][1], t,
                  tuple(phases))


def check_fixed(scenario: Scenario) -> list[Issue]:
    """Hard-rule problems among the scenario's fixed appointments, as validation issues."""
    index = {f.id: i for i, f in enumerate(scenario.fixed)}
    booked = [booked_from_fixed(scenario, f) for f in scenario.fixed]
    violations = _Checker(scenario, booked).run(include_fixed=False)
    return [Issue(f"fixed[{index[v.appointment]}]", f"breaks the {v.rule} rule: {v.what}")
            for v in violations]
