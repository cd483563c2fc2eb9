"""Soft-goal penalties of a finished schedule, in minutes, one number per named goal.

These are the exact definitions the report shows; the CP-SAT model optimises linear proxies of
them (see ``cpmodel.ChairModel._soft_*``).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

from solver.problem import LOAD, Interval, Placement, Problem
from solver.spans import max_overlap, mode_blocks


def _union_length(spans: list[Interval]) -> int:
    total, end = 0, -(10**9)
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def penalties(problem: Problem, appointments: list[Placement]) -> dict[str, int]:
    """``preferred_staff``, ``stagger``, ``slack``, ``compact`` (idle), ``continuity`` (time of
    day) and ``usual_staff`` minutes, and ``spacing_days`` when any patient has an ideal
    spacing."""
    w = problem.weights
    patients = {p.id: p for p in problem.patients}
    staff_role = {s.id: s.role for s in problem.staff}
    chairs = {r.id: r.chairs for r in problem.rooms}
    out = {"preferred_staff": 0, "stagger": 0, "slack": 0, "compact": 0}
    doses: dict[str, list[int]] = defaultdict(list)
    occupancy: dict[str, list[Interval]] = defaultdict(list)
    engaged: dict[tuple[str, int], list[Interval]] = defaultdict(list)
    for a in appointments:
        p = patients[a.patient]
        protocol = problem.appointment_protocol(a)
        if a.room is not None:  # a video session takes no room
            occupancy[a.room].append((a.start, a.start + protocol.minutes + protocol.turnover))
        dose = a.start + protocol.phase_offsets()[protocol.dose][0]
        for need in protocol.staff:
            who = a.staff[need.key]
            prefers_role = any(staff_role.get(s) == need.role for s in p.preferred_staff)
            if prefers_role and who not in p.preferred_staff:
                out["preferred_staff"] += protocol.minutes
            if protocol.dose in need.modes:
                doses[who].append(dose)
            engaged[who, a.day] += [(a.start + x, a.start + y)
                                    for x, y in mode_blocks(protocol, need.modes, LOAD)]
    for starts in doses.values():
        starts.sort()
        out["stagger"] += w.stagger_minutes * sum(
            1 for x, y in itertools.pairwise(starts) if y - x < w.stagger_minutes)
    for a in appointments:
        if a.room is None:
            continue
        protocol = problem.appointment_protocol(a)
        after = a.start + protocol.minutes + protocol.turnover
        if max_overlap(occupancy[a.room], after, after + w.slack_minutes) >= chairs[a.room]:
            out["slack"] += w.slack_minutes
    for spans in engaged.values():
        if spans:
            out["compact"] += max(b for _, b in spans) - min(a for a, _ in spans) - \
                _union_length(spans)
    if any(p.ideal_gaps for p in problem.patients):
        out["spacing_days"] = spacing_days(problem, appointments)
    sessions = [a for a in appointments if not problem.is_follow_up(a)]
    out["continuity"] = _continuity(sessions)
    out["usual_staff"] = _other_staff(problem, sessions)
    return out


def spacing_days(problem: Problem, appointments: list[Placement]) -> int:
    """Days by which consecutive sessions (the last one before the horizon included) lie
    outside the later session's ideal gap."""
    days: dict[str, list[int]] = defaultdict(list)
    for a in appointments:
        if not problem.is_follow_up(a):
            days[a.patient].append(a.day)
    total = 0
    for p in problem.patients:
        mine = sorted(days.get(p.id, []))
        if p.last_session_day is not None:
            mine.insert(0, p.last_session_day)
        for x, y in itertools.pairwise(mine):
            ideal = p.ideal_gap(y)
            if ideal is not None:
                total += max(ideal[0] - (y - x), (y - x) - ideal[1], 0)
    return total


def _other_staff(problem: Problem, appointments: list[Placement]) -> int:
    """Session minutes of patients with two or more sessions spent with someone other than
    their most frequent person for that staff entry (entries with modes)."""
    mine: dict[str, list[Placement]] = defaultdict(list)
    for a in appointments:
        mine[a.patient].append(a)
    total = 0
    for items in mine.values():
        if len(items) < 2:
            continue
        seen: dict[str, Counter[str]] = defaultdict(Counter)
        minutes: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for a in items:
            protocol = problem.appointment_protocol(a)
            for need in protocol.staff:
                if need.modes:
                    seen[need.key][a.staff[need.key]] += 1
                    minutes[need.key].append((a.staff[need.key], protocol.minutes))
        for key, counts in seen.items():
            usual = counts.most_common(1)[0][0]
            total += sum(m for who, m in minutes[key] if who != usual)
    return total


def _continuity(appointments: list[Placement]) -> int:
    """Minutes patients' sessions start away from their median time of day (24 h per day
    index: the CP-SAT model's measure)."""
    times: dict[str, list[int]] = defaultdict(list)
    for a in appointments:
        times[a.patient].append(a.start - a.day * 24 * 60)
    total = 0
    for mine in times.values():
        if len(mine) >= 2:
            mine.sort()
            middle = mine[len(mine) // 2]
            total += sum(abs(t - middle) for t in mine)
    return total
