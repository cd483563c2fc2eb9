"""Soft-goal penalties of a finished schedule, in minutes, one number per named goal.

These are the exact definitions the report shows; the CP-SAT model optimises linear proxies of
them (see ``model.ChairModel._soft_*``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from solver.candidates import mode_blocks
from solver.greedy import LOAD, max_overlap
from solver.problem import Appointment, Interval, Problem


def _union_length(spans: list[Interval]) -> int:
    total, end = 0, -(10**9)
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def penalties(problem: Problem, appointments: list[Appointment]) -> dict[str, int]:
    """``preferred_staff``, ``stagger``, ``slack`` and ``compact`` (idle) minutes."""
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
        protocol = problem.session_protocol(a.patient, a.day)
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
        protocol = problem.session_protocol(a.patient, a.day)
        after = a.start + protocol.minutes + protocol.turnover
        if max_overlap(occupancy[a.room], after, after + w.slack_minutes) >= chairs[a.room]:
            out["slack"] += w.slack_minutes
    for spans in engaged.values():
        if spans:
            out["compact"] += max(b for _, b in spans) - min(a for a, _ in spans) - \
                _union_length(spans)
    return out
