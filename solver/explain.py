"""Why a wanted session was not placed, in words a front-desk clerk understands.

Reasons come from the data: first what rules the patient out whatever else is booked (windows,
gaps, hours, qualifications, coverage), then, for sessions lost to capacity, which resource was
full at the times the patient could come, according to the final schedule.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from solver.candidates import (
    Funnel,
    Visit,
    fixed_days,
    fixed_follow_up_days,
    follow_up_key,
    remaining_sessions,
)
from solver.greedy import Ledger
from solver.problem import Day, Patient, Placement, Problem, Protocol, Unplaced


def _days(days: list[Day]) -> str:
    labels = [d.label.split(" ")[0] for d in sorted(days, key=lambda d: d.index)]
    return ", ".join(dict.fromkeys(labels))


def _needs(protocol: Protocol, key: str) -> str:
    """Who staff entry ``key`` of ``protocol`` asks for (the key itself when the entry is the
    protocol of a patient's dose step or follow-up rather than their own)."""
    need = next((n for n in protocol.staff if n.key == key), None)
    if need is None:
        return key
    return f"{need.role} qualified for {need.qualification}" if need.qualification else need.role


def _features(protocol: Protocol) -> str:
    return " and ".join(sorted(protocol.room_features))


def _rooms(protocol: Protocol) -> str:
    """``rooms with iv-pump and recliner``, or just ``rooms`` when any room will do."""
    return f"rooms with {_features(protocol)}" if protocol.room_features else "rooms"


def _max_days_with_gap(days: list[int], history: list[int], gap: int) -> int:
    picked: list[int] = []
    for d in sorted(days):
        if all(abs(d - o) >= gap for o in [*history, *picked]):
            picked.append(d)
    return len(picked)


def _static_reason(p: Patient, protocol: Protocol, f: Funnel, missing: int,
                   placed_days: list[int]) -> str | None:
    who = p.id
    if p.blocked is not None:
        return p.blocked
    if f.missing_room_features:
        return f"no room has the {_features(protocol)} that {protocol.id} sessions need"
    if f.unstaffed_need is not None:
        return f"no {_needs(protocol, f.unstaffed_need)} works at the clinic"
    if not f.days_in_window:
        return f"{who}'s date window has no open clinic day in this period"
    if not f.days_after_gaps:
        return (f"{who}'s previous sessions and the {p.min_gap_days}-day gap leave no open day "
                "in this period")
    if f.patient_starts == 0:
        return (f"{who} is available at no time the clinic is open long enough for a "
                f"{protocol.minutes}-minute session ({_days(f.days_after_gaps)})")
    if f.covered_starts == 0:
        return (f"no {f.missing_on_site or 'required staff'} is on site for the whole session "
                f"while {who} is available ({_days(f.days_after_gaps)})")
    if f.room_starts == 0:
        room = f"room with {_features(protocol)}" if protocol.room_features else "room"
        return f"no {room} is open while {who} is available"
    if f.staffed_starts == 0:
        need = next(n for n in protocol.staff if n.key == f.short_need)  # set on that day
        if not need.modes:
            return (f"no {_needs(protocol, need.key)} is at work (all on time off or absent) "
                    f"while {who} is available")
        return (f"no {_needs(protocol, need.key)} is on shift for the whole session while "
                f"{who} is available")
    gap = max(1, p.min_gap_days)
    fit = _max_days_with_gap([d.index for d in f.days_after_gaps], [], gap)
    if fit < len(placed_days) + missing:
        return (f"only {fit} of the open days {who} can come keep the {gap}-day gap between "
                "sessions")
    return None


def _capacity_reason(problem: Problem, p: Patient, visits: list[Visit], ledger: Ledger,
                     placed_days: list[int]) -> str:
    protocol = problem.protocols[p.protocol]
    gap = max(1, p.min_gap_days)
    blocked: Counter[str] = Counter()
    days_by_cause: dict[str, list[Day]] = defaultdict(list)
    for visit in visits:
        if any(abs(visit.day.index - d) < gap for d in placed_days):
            blocked["own"] += 1
            days_by_cause["own"].append(visit.day)
            continue
        stride = max(1, len(visit.starts) // 24)  # a sample of the day is enough to name a cause
        sample = np.asarray(visit.starts[::stride], dtype=np.int64)
        # as the greedy's first fit reads a visit: the day's masks, every resource at once
        options = visit.options
        columns = sample - options.base
        room_rows, staff_rows = ledger.pool_rows(options)
        room_free = np.zeros(len(sample), bool)
        if not visit.protocol.video and len(room_rows):
            room_free = (options.room_allow[:, columns] & ledger.room_masks(
                room_rows, visit.protocol, sample)).any(axis=0)
        staff_free = [(options.staff_allow[n][:, columns] & ledger.staff_masks(
            staff_rows[n], visit.protocol, n, sample)).any(axis=0) if ids
            else np.zeros(len(sample), bool) for n, ids in enumerate(options.staff_ids)]
        for k in range(len(sample)):
            room_ok = bool(room_free[k])
            staff_short = [  # the visit's protocol: a dose step's may have other entries
                _needs(visit.protocol, visit.protocol.staff[n].key)
                for n, free in enumerate(staff_free) if not free[k]
            ]
            cause = ("room" if not room_ok else "") + ("staff:" + staff_short[0]
                                                       if staff_short else "")
            if not room_ok and staff_short:
                cause = "both:" + staff_short[0]
            blocked[cause or "combo"] += 1
            days_by_cause[cause or "combo"].append(visit.day)
    if not blocked:
        return f"no time fits {p.id}'s windows"
    cause, _ = blocked.most_common(1)[0]
    days = _days(days_by_cause[cause])
    if cause == "own":
        return (f"{p.id}'s other sessions this week and the {gap}-day gap leave no further day")
    if cause == "room":
        return (f"all {_features(protocol)} rooms are full during {p.id}'s hours ({days})"
                if protocol.room_features else
                f"all rooms are full during {p.id}'s hours ({days})")
    if cause.startswith("staff:"):
        return (f"every {cause[6:]} on shift is fully booked while {p.id} is "
                f"available ({days})")
    if cause.startswith("both:"):
        return (f"{_rooms(protocol)} and every {cause[5:]} "
                f"are fully booked while {p.id} is available ({days})")
    who = _needs(protocol, protocol.staff[0].key) if protocol.staff else "staff member"
    return f"a free room and a free {who} never coincide while {p.id} is available ({days})"


def explain(problem: Problem, visits: list[Visit], funnels: dict[str, Funnel],
            appointments: list[Placement]) -> list[Unplaced]:
    """One entry per patient with sessions left unplaced, with the most telling reason (and
    one more for follow-ups left unplaced)."""
    remaining = remaining_sessions(problem)
    placed: dict[str, list[int]] = defaultdict(list)
    placed_follow: dict[str, list[int]] = defaultdict(list)
    for a in appointments:
        (placed_follow if problem.is_follow_up(a) else placed)[a.patient].append(a.day)
    ledger = Ledger(problem)
    for a in [*problem.fixed, *appointments]:
        ledger.book(problem.appointment_protocol(a), a)
    by_patient: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        if not v.follow_up:
            by_patient[v.patient.id].append(v)
    fixed = fixed_days(problem)
    out: list[Unplaced] = []
    for p in problem.patients:
        missing = remaining[p.id] - len(placed[p.id])
        if missing > 0:
            protocol = problem.protocols[p.protocol]
            taken = placed[p.id] + fixed.get(p.id, [])
            reason = _static_reason(p, protocol, funnels[p.id], missing, placed[p.id])
            if reason is None:
                reason = _capacity_reason(problem, p, by_patient[p.id], ledger, taken)
            out.append(Unplaced(p.id, missing, reason))
        if p.follow_up is not None:
            follow = _follow_up_reason(problem, p, visits, funnels, ledger,
                                       placed[p.id] + fixed.get(p.id, []),
                                       placed_follow[p.id], max(missing, 0))
            if follow is not None:
                out.append(follow)
    return out


def _follow_up_reason(problem: Problem, p: Patient, visits: list[Visit],
                      funnels: dict[str, Funnel], ledger: Ledger, sessions: list[int],
                      placed: list[int], unplaced_sessions: int) -> Unplaced | None:
    """The follow-ups a patient still lacks: one per session (placed or fixed, and the last
    before the horizon when its follow-up days reach into it) with none matched to it."""
    assert p.follow_up is not None
    protocol_id, lo, hi = p.follow_up
    protocol = problem.protocols[protocol_id]
    sources = p.follow_up_sources(sessions)  # of the protocol follow-ups follow
    if sources and sources[0] == p.last_session_day and sources[0] < 0 and sources[0] + hi < 0:
        sources.pop(0)  # the last session before the horizon, out of reach
    if p.step is not None:  # only the step's sessions (dosing, not preparation) want one
        dosing = p.sessions - min(p.step[0], p.sessions)
        unplaced_sessions = max(0, dosing - sum(1 for s in sources if s >= 0))
    for day in sorted([*placed, *fixed_follow_up_days(problem).get(p.id, [])]):
        match = next((s for s in sources if lo <= day - s <= hi), None)
        if match is not None:
            sources.remove(match)
    missing = len(sources) + unplaced_sessions
    if missing == 0:
        return None
    what = f"{protocol_id} follow-up"
    if not sources:
        return Unplaced(p.id, missing, f"{what}: the session{'s' if missing > 1 else ''} it "
                        f"follows {'were' if missing > 1 else 'was'} not placed")
    first = sources[0]
    label = next((d.label for d in problem.days if d.index == first), "the last session")
    after = f"{lo}-{hi} days after {label if first >= 0 else 'the last session'}"
    days = [d for d in problem.days if lo <= d.index - first <= hi
            and p.earliest_day <= d.index <= p.latest_day]
    funnel = funnels.get(follow_up_key(p.id), Funnel())
    if p.blocked is not None:
        return Unplaced(p.id, missing, f"{what}: {p.blocked}")
    if funnel.unstaffed_need is not None:
        return Unplaced(p.id, missing, f"{what}: no {_needs(protocol, funnel.unstaffed_need)} "
                        "works at the clinic")
    if not days:
        return Unplaced(p.id, missing, f"{what}: no open clinic day {after} in this period "
                        f"or {p.id}'s dates")
    options = [v for v in visits if v.follow_up and v.patient.id == p.id
               and v.day.index in {d.index for d in days}]
    if not options:
        if all(d.index in sessions for d in days):
            return Unplaced(p.id, missing, f"{what}: {p.id}'s other sessions take every "
                            f"day {after}")
        need = _needs(protocol, protocol.staff[0].key) if protocol.staff else "staff member"
        return Unplaced(p.id, missing, f"{what}: no {need} is on shift while {p.id} is "
                        f"available {after} ({_days(days)})")
    need = _needs(protocol, protocol.staff[0].key) if protocol.staff else "staff member"
    if all(v.day.index in [*sessions, *placed] for v in options):
        return Unplaced(p.id, missing, f"{what}: {p.id}'s other sessions take every day "
                        f"{after}")
    return Unplaced(p.id, missing, f"{what}: every {need} on shift is fully booked while "
                    f"{p.id} is available {after} ({_days([v.day for v in options])})")
