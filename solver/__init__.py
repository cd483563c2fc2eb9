"""Chairtime's CP-SAT solver: a plain :class:`Problem` in, a plain :class:`Solution` out.

>>> from solver import solve, Options
>>> solution = solve(problem, Options(time_limit=10))   # doctest: +SKIP

Re-planning (``problem.previous``) answers in two steps: ``first_answer`` pins every untouched
appointment, freeing a few in the way only to rebook a touched patient's session (about a
second), then ``solve(problem, options, start=first)`` improves on it.
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
from solver.repair import FIRST_SECONDS, first_answer
from solver.solve import capacity_bound, greedy_solve, solve
from solver.spans import union

__all__ = [
    "FIRST_SECONDS",
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
    "first_answer",
    "follow_ups_wanted",
    "greedy_solve",
    "narrow",
    "solve",
    "union",
]
