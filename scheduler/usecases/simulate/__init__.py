"""Will the day hold? A schedule replayed many times against overruns, late arrivals, no-shows
and staff absences, vectorised over the replays (numpy arrays of shape (runs, sessions)).

>>> result = simulate(scenario, schedule, SimulationSettings(), runs=10_000)  # doctest: +SKIP
>>> print("\\n".join(result.summary_lines()))                               # doctest: +SKIP
>>> risk_by_day(result, beyond=15)      # {date: P(overtime > 15 min)}     # doctest: +SKIP

The clinic's rules as they work on the day:

- Patients are served first come, first served: in the order they are there (the later of
  their booked time and their arrival; the booked order on ties). A session starts at the
  earliest moment its patient is there, a chair of its room is free (the previous patient
  discharged and the turnover done) and each of its staff has room: fewer than
  ``max_patients`` patients engaged (from the first to the last phase with a mode) and, when
  the session opens hands-on, no other session's opening hands-on block (intake and dosing)
  under way. Waiting pushes the whole session later; a patient holds the chair until
  discharged.
- A monitoring overrun lengthens one phase (default: the longest after the dose phase), so
  every later phase, the chair, the nurse's monitoring and the on-site phases end later.
- A no-show frees the chair and the staff; a session never starts before its booked time.
- An absent staff member's sessions go to a stand-in chosen before the day: same role and
  qualification, on shift for the whole engagement, the fewest sessions booked that day; when
  there is none (or the stand-in is absent too) the session is cancelled.
- The prescriber must stay while anyone is in an on-site (REMS) phase: coverage is the union of
  the role's present staff's shifts (a hand-over counts); time past the coverage the session was
  booked in is the role's overtime; an on-site phase with nobody of the role there at its booked
  time (an absence) counts as an on-site gap (the clinic would call someone in).
- The clinic closes when the last in-clinic patient leaves (video sessions do not keep it open);
  closing time is the end of the clinic's last open span that day.

Simplifications (each a choice a clinic could refine):

- Each session keeps its booked room (any free chair of it), staff and stand-in: nobody is
  re-assigned to a freer nurse on the day. A nurse's places and hands are handed out in the
  order patients are served, never back-filled: a patient served later does not slip into a
  gap before an earlier one's.
- First come, first served can reorder patients, so with late arrivals one replay may run
  later with more slack (a patient moved earlier is served before one who then overruns);
  with nobody late the order is the booked one and more slack never makes a replay later
  (tests/test_simulate.py).
- Only the hands-on block a session opens with is kept apart from other sessions' opening blocks;
  hands-on phases later in a session (discharge) may overlap another patient's intake.
- A session that waits past its staff's shift is still done by them: the excess is overtime,
  never a hand-over; a staff member's engagements count against the end of the shift span the
  engagement was booked in.
- Draws are independent across sessions, patients and days: no patient is late twice because
  of the same traffic, no day has more overruns than another. An absence lasts the whole day.
- Overrun and lateness minutes are continuous (not on the slot grid).
- Closing is the clinic's hours only (a room's own hours are not checked on the day).
- A patient's own no-show record comes from ``settings.patients``: the scenario's course
  history leaves missed sessions out, so it cannot tell a missed session from none booked.
"""

from __future__ import annotations

from scheduler.documents import Schedule
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.usecases.simulate.engine import Draws, Outcome, dispatch, draw
from scheduler.usecases.simulate.plan import Plan, build
from scheduler.usecases.simulate.settings import (
    Delay,
    PatientRecord,
    ProtocolRisk,
    SimulationSettings,
    read_settings,
)
from scheduler.usecases.simulate.summary import (
    Risk,
    SessionRisk,
    SimulationResult,
    risk_by_day,
    summarise,
)

__all__ = ["Delay", "Draws", "Outcome", "PatientRecord", "Plan", "ProtocolRisk", "Risk",
           "SessionRisk", "SimulationResult", "SimulationSettings", "build", "dispatch",
           "draw", "read_settings", "risk_by_day", "simulate", "summarise"]

MAX_RUNS = 1_000_000


def simulate(scenario: Scenario, schedule: Schedule, settings: SimulationSettings | None = None,
             runs: int = 10_000, seed: int = 0) -> SimulationResult:
    """Replay ``schedule`` ``runs`` times with the random events of ``settings`` (the same
    seed gives the same figures); invalid settings or a schedule naming what the scenario
    lacks raise InvalidInput."""
    if not 1 <= runs <= MAX_RUNS:
        raise InvalidInput([Issue("runs", f"{runs} is not between 1 and {MAX_RUNS:,}")])
    settings = settings or SimulationSettings()
    plan = build(scenario, schedule, settings)
    draws = draw(plan, runs, seed)
    return summarise(plan, draws, dispatch(plan, draws), settings, seed)
