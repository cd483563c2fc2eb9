"""What a what-if run measures, as plain results: each variant's outcome (its schedule, headroom
and bottleneck), the comparison table's rows and the sweep's grid. Nothing here solves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scheduler.documents import Schedule
from scheduler.model import Scenario
from scheduler.usecases.simulate import Risk
from scheduler.usecases.whatif.figures import Usage
from scheduler.usecases.whatif.plan import SweepCell, WhatIfOptions

__all__ = [
    "COMBINED",
    "PRICED",
    "PRICE_NAMES",
    "RESOURCES",
    "Bottleneck",
    "First",
    "Headroom",
    "Outcome",
    "Probe",
    "Step",
    "SweepGrid",
    "WhatIf",
    "WhatIfProgress",
    "headroom_note",
    "lp_names",
]

RESOURCES: dict[str, str] = {
    "rooms": "rooms/chairs",
    "monitoring": "nurses' monitoring capacity",
    "hands_on": "hands-on time",
    "prescriber": "prescriber coverage",
    "hours": "opening hours",
    "availability": "patient availability",
}
"""The resources a bottleneck can name, in the order they are tried (ties go to the first)."""
COMBINED = "combined"
"""No single relaxation places more: several resources bind together."""


@dataclass(frozen=True, slots=True)
class Step:
    """One headroom probe: did ``patients`` more fit, how it was found, and whether a failure
    is proven (CP-SAT's bound below the value needed)."""

    patients: int
    fits: bool
    how: str
    """``greedy``: the greedy first fit put the newcomers into the gaps of the week as
    scheduled (a failure proves nothing); ``lp``: the LP relaxation's bound says they cannot
    all fit (a proof); ``kept``: CP-SAT, the variant's week as scheduled, newcomers in its
    gaps; ``moved``: CP-SAT, the week solved again, every patient keeping their sessions (at
    other times, perhaps)."""
    proven: bool


@dataclass(frozen=True, slots=True)
class Headroom:
    patients: int
    sessions: int
    status: str
    """OPTIMAL (one more proven not to fit), FEASIBLE (at least), LIMIT (every step up to the
    search limit fit), SKIPPED."""
    limit: int = 0
    steps: tuple[Step, ...] = ()
    most: int | None = None
    """At most this many: one more was proven not to fit (by CP-SAT or the LP); None when
    nothing was ruled out."""

    @property
    def proof(self) -> str:
        """What proved one more does not fit: ``LP`` (the relaxation's bound), ``CP-SAT``, or
        ``""`` (nothing)."""
        failed = [s for s in self.steps if s.proven and not s.fits]
        if self.most is None or not failed:
            return ""
        first = min(failed, key=lambda s: (s.patients, s.how != "lp"))
        return "LP" if first.how == "lp" else "CP-SAT"

    def found_by(self) -> str:
        """What found the schedule with ``patients`` newcomers: ``greedy`` (inserted into the
        gaps), ``CP-SAT``, or ``""`` (none needed: 0)."""
        fitting = [s for s in self.steps if s.fits and s.patients == self.patients]
        if not fitting:
            return ""
        return "greedy" if all(s.how == "greedy" for s in fitting) else "CP-SAT"

    def note(self) -> str:
        """How the headroom is known, in words: what found it, what proved the most."""
        return headroom_note(self.found_by(), self.proof, self.most, self.status)

    def text(self) -> str:
        if self.status == "SKIPPED":
            return "—"
        if self.status == "LIMIT":
            return f"≥ {self.patients} (search limit)"
        if self.status == "OPTIMAL":
            return f"+{self.patients}" if self.patients else "0"
        if self.most is not None:
            return f"{self.patients}–{self.most}"
        return f"≥ {self.patients}"


def headroom_note(found_by: str, proof: str, most: int | None, status: str) -> str:
    """``found by the greedy's insertion; at most 9 (the LP relaxation's bound)``: which
    answers are solved and which are bounds (the pages word comparison.json's fields alike)."""
    if status == "SKIPPED":
        return ""
    found = {"greedy": "found by the greedy's insertion into the week as scheduled",
             "CP-SAT": "found by CP-SAT"}.get(found_by, "")
    bound = ("" if most is None else
             f"at most {most}, by the {'LP relaxation' if proof == 'LP' else 'CP-SAT'}'s "
             f"bound" if status != "OPTIMAL" else
             f"one more proven not to fit by the {'LP relaxation' if proof == 'LP' else 'CP-SAT'}"
             f"'s bound")
    if not bound and status == "FEASIBLE":
        bound = "more not ruled out in the time given"
    return "; ".join(x for x in (found, bound) if x)


@dataclass(frozen=True, slots=True)
class Probe:
    """One bottleneck solve: the stressed week (``resource`` empty) or it with one resource
    relaxed."""

    resource: str
    change: str
    placed: int
    weighted: int
    status: str
    usage: Usage | None = None
    priced: dict[str, float] | None = None
    """The stressed week only: sessions each relaxation would add by the LP's dual values
    (rooms, monitoring, hands_on; resources the LP has no rows for are absent), or None when
    the LP was not solved to optimality."""
    lp_bound: float | None = None
    """The LP relaxation's bound on the sessions this week places (the stressed week's; a
    relaxation's when its LP ran: status ``LP`` means it proved the relaxation adds nothing,
    and ``placed`` is the stressed week's)."""


PRICED = ("rooms", "monitoring", "hands_on")
"""The resources the LP relaxation prices (the others shape which starts exist, not rows)."""

PRICE_NAMES = {"rooms": "a room of each kind", "monitoring": "one more patient at a time",
               "hands_on": "shared hands-on time"}


def lp_names(priced: dict[str, float] | None) -> tuple[str, ...] | None:
    """The resources prices name: those within half a session of the dearest, if it is worth
    half a session or more (a degenerate LP may price two alike); ``()`` when none is (the LP
    sees no priced resource binding); None without prices."""
    if priced is None:
        return None
    top = max(priced.get(r, 0.0) for r in PRICED)
    return tuple(r for r in PRICED if priced.get(r, 0.0) >= top - 0.5) if top >= 0.5 else ()


@dataclass(frozen=True, slots=True)
class First:
    """The LP's first answer for a variant, in seconds and needing no solve: the relaxation of
    the week with more patients than it holds, its bound, and what its shadow prices say each
    priced resource would add (first-order estimates, not solves)."""

    priced: dict[str, float] | None
    bound: float | None
    """Sessions (unweighted) no schedule of that week exceeds: a proof; None when the LP was
    not solved to optimality in time."""
    seconds: float

    def names(self) -> tuple[str, ...] | None:
        return lp_names(self.priced)

    def sentence(self) -> str:
        """The first answer in words (an estimate; the solves that follow are the answer)."""
        names = self.names()
        if self.priced is None or names is None:
            return "The LP relaxation was not solved in time: no first answer."
        figures = ", ".join(f"{PRICE_NAMES[r]} ~+{self.priced.get(r, 0.0):.1f}"
                            for r in PRICED)
        if not names:
            return (f"LP estimate: no room or staff row binds; the limit is elsewhere (hours, "
                    f"prescriber, availability) ({figures}).")
        return (f"LP estimate: {' and '.join(RESOURCES[r] for r in names)} "
                f"{'binds' if len(names) == 1 else 'bind'} first ({figures}).")

    def json(self) -> dict[str, Any]:
        return {"priced": self.priced, "bound": self.bound, "seconds": round(self.seconds, 1),
                "binds": list(self.names() or ()), "sentence": self.sentence()}


@dataclass(frozen=True, slots=True)
class Bottleneck:
    resource: str
    """A key of :data:`RESOURCES`, or :data:`COMBINED`."""
    gain: int
    """Sessions the binding resource's relaxation adds."""
    sentence: str
    extra_patients: int
    """Patients beyond the headroom in the stressed week."""
    probes: tuple[Probe, ...]
    """The stressed week first, then each relaxation."""

    def gains(self) -> dict[str, int]:
        reference = self.probes[0].placed
        return {p.resource: p.placed - reference for p in self.probes[1:]}

    @property
    def priced(self) -> dict[str, float] | None:
        """The LP's estimate of each priced relaxation's gain (see :attr:`Probe.priced`)."""
        return self.probes[0].priced

    def lp_names(self) -> tuple[str, ...] | None:
        """The resources the LP's prices name (:func:`lp_names`)."""
        return lp_names(self.priced)

    def lp_agrees(self) -> bool | None:
        """Whether the prices name what the re-solves name (a resource the LP cannot price,
        or none, agrees with prices that name none)."""
        names = self.lp_names()
        if names is None:
            return None
        return self.resource in names or (not names and self.resource not in PRICED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One variant (or the base, or a sweep cell), solved and measured."""

    name: str
    edits: tuple[str, ...]
    scenario: Scenario
    schedule: Schedule
    violations: int
    usage: Usage
    headroom: Headroom
    bottleneck: Bottleneck | None = None
    cell: SweepCell | None = None
    risk: Risk | None = None
    """The week's risk on the day, from the simulation (None when it was not run)."""
    worst_day: Risk | None = None
    """The day most likely to run more than 15 minutes over."""
    first: First | None = None
    """The LP's first answer (an estimate, given before the solves)."""

    def capacity(self) -> int:
        """Sessions the clinic can treat in the horizon: those placed, plus the headroom's."""
        placed = self.schedule.kpis.placed if self.schedule.kpis else 0
        return placed + self.headroom.sessions

    def row(self, base: Outcome | None = None) -> dict[str, Any]:
        """The comparison table's row (results only: nothing here depends on the machine);
        with ``base``, also what changes against it."""
        k, sv = self.schedule.kpis, self.schedule.solver
        assert k is not None and sv is not None
        b = self.bottleneck
        placed_base = base.schedule.kpis.placed if base and base.schedule.kpis else k.placed
        return {
            "variant": self.name,
            "edits": "; ".join(self.edits),
            "status": sv.status,
            "wanted": k.wanted,
            "placed": k.placed,
            "weighted": k.weighted,
            "bound": sv.bound,
            "unplaced": k.wanted - k.placed,
            "room_utilization": k.room_utilization,
            "nurse_utilization": k.nurse_utilization,
            "headroom_patients": self.headroom.patients,
            "headroom_sessions": self.headroom.sessions,
            "headroom_status": self.headroom.status,
            "headroom_most": self.headroom.most,
            "headroom_found_by": self.headroom.found_by(),
            "headroom_proof": self.headroom.proof,
            "capacity_sessions": self.capacity(),
            "placed_vs_base": k.placed - placed_base,
            "capacity_vs_base": self.capacity() - (base or self).capacity(),
            "bottleneck": b.resource if b else "",
            "bottleneck_gain": b.gain if b else "",
            "bottleneck_explanation": b.sentence if b else "",
            "lp_rooms": _price(b, "rooms"),
            "lp_monitoring": _price(b, "monitoring"),
            "lp_hands_on": _price(b, "hands_on"),
            "lp_agrees": "" if b is None or b.lp_agrees() is None else b.lp_agrees(),
            "lp_first": "" if self.first is None else self.first.sentence(),
            "risk_overtime_15": "" if self.risk is None else round(self.risk.p_overtime_15, 3),
            "risk_worst_day": "" if self.worst_day is None else round(
                self.worst_day.p_overtime_15, 3),
            "risk_overtime_minutes": "" if self.risk is None else round(
                sum(self.risk.expected_overtime_minutes.values()), 1),
            "risk_idle_chair_minutes": "" if self.risk is None else round(
                self.risk.expected_idle_chair_minutes),
        }


def _price(b: Bottleneck | None, resource: str) -> float | str:
    priced = b.priced if b is not None else None
    return "" if priced is None else round(priced.get(resource, 0.0), 1)


@dataclass(frozen=True, slots=True)
class SweepGrid:
    row_title: str
    column_title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    capacity: tuple[tuple[int, ...], ...]
    """Sessions in the horizon (placed plus headroom), [row][column]."""
    status: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class WhatIf:
    clinic: str
    outcomes: tuple[Outcome, ...]
    """The base first, then the variants in their file's order, then the sweep's cells."""
    options: WhatIfOptions
    where: str
    seconds: float
    sweep: SweepGrid | None = None

    @property
    def compared(self) -> tuple[Outcome, ...]:
        """The base and the named variants (not the sweep's cells)."""
        return tuple(o for o in self.outcomes if o.cell is None)

    def rows(self) -> list[dict[str, Any]]:
        """The comparison table: the base and the named variants, each against the base."""
        return [o.row(self.outcomes[0]) for o in self.compared]


@dataclass(frozen=True, slots=True)
class WhatIfProgress:
    done: int
    total: int
    last: str
    """What just finished: ``one more chair: solved, headroom ≥ 12``."""
    best: str
    """The best variant so far by weekly capacity."""
    first: dict[str, First] = field(default_factory=dict)
    """The LP's first answers that came so far, by variant name."""
