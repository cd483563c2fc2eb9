"""Chairtime's CP-SAT solver: a plain :class:`Problem` in, a plain :class:`Solution` out.

>>> from solver import solve, Options
>>> solution = solve(problem, Options(time_limit=10))   # doctest: +SKIP
"""

from solver.candidates import STAFF_CHOICES, choices, follow_ups_wanted, narrow
from solver.problem import (
    Day,
    Interval,
    Mode,
    OnSite,
    Options,
    Patient,
    Phase,
    Placement,
    Problem,
    Progress,
    Protocol,
    Room,
    Solution,
    Staff,
    StaffNeed,
    Unplaced,
    Weights,
)
from solver.solve import capacity_bound, greedy_solve, solve
from solver.spans import union

__all__ = [
    "STAFF_CHOICES",
    "Day",
    "Interval",
    "Mode",
    "OnSite",
    "Options",
    "Patient",
    "Phase",
    "Placement",
    "Problem",
    "Progress",
    "Protocol",
    "Room",
    "Solution",
    "Staff",
    "StaffNeed",
    "Unplaced",
    "Weights",
    "capacity_bound",
    "choices",
    "follow_ups_wanted",
    "greedy_solve",
    "narrow",
    "solve",
    "union",
]
