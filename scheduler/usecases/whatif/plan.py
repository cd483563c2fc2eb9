"""What a what-if run is asked: the variants document read against its base scenario (the
variants, an optional ``headroom`` mix of new patients and an optional ``sweep`` grid), and the
options of the search.

A variants document (YAML or JSON)::

    variants:                          # contract v1: each a name and edits on the base
      - name: one more chair
        edits: [{add_chairs: {room: BAY, chairs: 1}}]
    headroom:                          # optional: the new patients' mix (default: the base's)
      mix:
        - {protocol: esk-84, sessions: 1, min_gap_days: 5, share: 3}
        - {protocol: iv-ketamine, sessions: 2, min_gap_days: 2, priority: 3, share: 1}
      limit: 40                        # most new patients tried
    sweep:                             # optional: a grid of variants (weekly capacity heat map)
      rows: {staff: N1, counts: [4, 5, 6, 7]}      # staff of N1's role in all
      columns: {rooms: R1, counts: [2, 3, 4]}      # rooms with R1's features in all
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scheduler.edits import (
    AddRoom,
    AddStaff,
    RemoveRoom,
    RemoveStaff,
    Set,
    Variant,
    edit_scenario,
)
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Id, PatientSpec, Scenario
from scheduler.usecases.inputs import read_variants
from scheduler.validate import issues_from
from solver import Options

__all__ = ["BASE", "SweepCell", "WhatIfOptions", "WhatIfPlan", "fresh_ids", "read_plan"]

BASE = "base"
"""The name of the scenario itself among the variants."""


# ============================================================================ options and plan
@dataclass(frozen=True, slots=True)
class WhatIfOptions:
    """How hard to look. ``time_limit`` is per solve (a what-if run makes many)."""

    time_limit: float = 10.0
    seed: int = 0
    headroom: bool = True
    headroom_limit: int | None = None
    """Most new patients tried; default twice the base's patients (at least 10)."""
    rearrange: bool = True
    """When newcomers do not fit the week as scheduled, re-solve the whole week."""
    bottleneck: bool = True
    stress_extra: int | None = None
    """Patients beyond the headroom at which bottlenecks are measured; default a quarter of the
    base's patients (at least 4)."""

    quick: bool = True
    """Answers before searches: the LP's first answer (prices) for every variant, started
    before its solve, the greedy's insertion and the LP's bound before CP-SAT's headroom steps, a
    rearrangement in one stage, and no re-solve of a relaxation the LP proves worthless.
    False: the method before (headroom steps from one patient up, the re-planning stages;
    ``python -m bench whatif`` runs both)."""
    headroom_solves: int | None = None
    """Most CP-SAT headroom steps per variant (None: until the answer is known)."""

    risk_runs: int = 1000
    """Replays of each variant's schedule against overruns, late arrivals and no-shows
    (``scheduler.usecases.simulate``, default settings); 0 leaves the risk out."""

    def solver(self) -> Options:
        return Options(time_limit=self.time_limit, workers=1, seed=self.seed,
                       soft_goals=False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Axis(_Strict):
    """One side of a sweep: how many staff of a role (``staff: N1``, copies of N1 added or
    others of its role removed), rooms of a kind (``rooms: R1``) or chairs of one room."""

    staff: Id | None = None
    rooms: Id | None = None
    chairs: Id | None = None
    counts: list[Annotated[int, Field(ge=1, le=100)]] = Field(min_length=1, max_length=25)

    @model_validator(mode="after")
    def _one(self) -> _Axis:
        if sum(x is not None for x in (self.staff, self.rooms, self.chairs)) != 1:
            raise ValueError("names exactly one of staff, rooms or chairs (an id) and counts")
        return self


class _SweepSpec(_Strict):
    rows: _Axis
    columns: _Axis | None = None
    bottleneck: bool = False


class _HeadroomSpec(_Strict):
    mix: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None


@dataclass(frozen=True, slots=True)
class SweepCell:
    row: int
    column: int
    name: str


@dataclass(frozen=True, slots=True)
class WhatIfPlan:
    """A variants document read against its base: the variants, the sweep's cells (variants
    too) and the headroom's mix of new patients."""

    variants: list[Variant]
    cells: list[tuple[SweepCell, Variant]] = field(default_factory=list)
    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    titles: tuple[str, str] = ("", "")
    sweep_bottleneck: bool = False
    mix: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    """Templates of new patients (without id) and their shares."""
    limit: int | None = None


def read_plan(data: Any, base: Scenario) -> WhatIfPlan:
    """A variants document (``variants``, and optionally ``headroom`` and ``sweep``) checked
    against the base: every problem at once, each with its path, else the plan."""
    issues: list[Issue] = []
    if isinstance(data, dict):
        issues += [Issue(str(k), "is not a section of a variants document (variants, headroom, "
                                 "sweep)") for k in data if k not in ("variants", "headroom",
                                                                      "sweep")]
    try:
        variants = read_variants(data, base)
    except InvalidInput as exc:
        variants, issues = [], issues + exc.issues
    plan = WhatIfPlan(variants)
    if isinstance(data, dict) and data.get("headroom") is not None:
        plan, more = _read_headroom(plan, data["headroom"], base)
        issues += more
    if isinstance(data, dict) and data.get("sweep") is not None:
        taken = {v.name for v in variants} | {BASE}
        plan, more = _read_sweep(plan, data["sweep"], base, taken)
        issues += more
    if issues:
        raise InvalidInput(issues)
    if not plan.mix:
        plan = replace(plan, mix=_base_mix(base))
    return plan


def check_applies(plan: WhatIfPlan, base: Scenario) -> None:
    """Every variant and sweep cell of ``plan`` applied to ``base`` (a variant may read well
    and still name a room this clinic does not have): InvalidInput with every problem."""
    issues: list[Issue] = []
    for variant in [*plan.variants, *(v for _, v in plan.cells)]:
        try:
            edit_scenario(base, variant.located())
        except InvalidInput as exc:
            issues += exc.issues
    if issues:
        raise InvalidInput(issues)


def _read_headroom(plan: WhatIfPlan, raw: Any, base: Scenario
                   ) -> tuple[WhatIfPlan, list[Issue]]:
    try:
        spec = _HeadroomSpec.model_validate(raw)
    except ValidationError as exc:
        return plan, issues_from(exc, "headroom")
    issues: list[Issue] = []
    mix = []
    protocols = {p.id for p in base.protocols}
    for i, item in enumerate(spec.mix or []):
        where = f"headroom.mix[{i}]"
        fields = {k: v for k, v in item.items() if k != "share"}
        share = item.get("share", 1)
        if not isinstance(share, int) or share < 1:
            issues.append(Issue(f"{where}.share", "is a whole number of at least 1"))
        if "id" in fields:
            issues.append(Issue(f"{where}.id", "new patients get their own ids"))
            continue
        try:
            template = PatientSpec.model_validate({"id": "new", **fields})
        except ValidationError as exc:
            issues += issues_from(exc, where)
            continue
        if template.protocol not in protocols:
            issues.append(Issue(f"{where}.protocol", f"unknown protocol '{template.protocol}' "
                                                     f"(known: {', '.join(sorted(protocols))})"))
            continue
        mix.append((_template(template, base), int(share) if isinstance(share, int) else 1))
    return replace(plan, mix=mix, limit=spec.limit), issues


def _template(p: PatientSpec, base: Scenario) -> dict[str, Any]:
    """A new patient like ``p``: no id, name, preferences or fixed history of their own; REMS
    protocols' newcomers are enrolled (enrolment comes before booking)."""
    data = p.model_dump(mode="json", by_alias=True, exclude_defaults=True,
                        exclude={"id", "name", "preferred_staff"})
    if base.protocol(p.protocol).requires_rems:
        data["rems_enrolled"] = True
    return data


def _base_mix(base: Scenario) -> list[tuple[dict[str, Any], int]]:
    """The base's own patients (those who want sessions) in a spread order, so that the first
    few new patients already follow the mix."""
    wanting = sorted((p for p in base.patients if p.sessions > 0), key=lambda p: p.id)
    order = [wanting[(n * 7919) % len(wanting)] for n in range(len(wanting))] if wanting else []
    return [(_template(p, base), 1) for p in order]


def _read_sweep(plan: WhatIfPlan, raw: Any, base: Scenario, taken: set[str]
                ) -> tuple[WhatIfPlan, list[Issue]]:
    try:
        spec = _SweepSpec.model_validate(raw)
    except ValidationError as exc:
        return plan, issues_from(exc, "sweep")
    rows, issues = _axis(spec.rows, base, "sweep.rows")
    columns: list[tuple[str, list[Any]]] = [("", [])]
    if spec.columns is not None:
        columns, more = _axis(spec.columns, base, "sweep.columns")
        issues += more
    if issues:
        return plan, issues
    cells = []
    for i, (row, row_edits) in enumerate(rows):
        for j, (column, column_edits) in enumerate(columns):
            name = f"{row} × {column}" if column else row
            if name in taken:
                issues.append(Issue("sweep", f"cell '{name}' has the name of a variant"))
            edits = [*row_edits, *column_edits]
            where = f"sweep ({name})"
            cells.append((SweepCell(i, j, name),
                          Variant(name, edits, where, tuple(range(len(edits))))))
    titles = (_axis_title(spec.rows, base),
              _axis_title(spec.columns, base) if spec.columns is not None else "")
    return replace(plan, cells=cells, rows=tuple(r for r, _ in rows),
                   columns=tuple(c for c, _ in columns), titles=titles,
                   sweep_bottleneck=spec.bottleneck), issues


def _axis_title(axis: _Axis, base: Scenario) -> str:
    if axis.staff is not None:
        return f"{_role(base, axis.staff)}s"
    if axis.rooms is not None:
        return f"rooms like {axis.rooms}"
    return f"chairs in {axis.chairs}"


def _role(base: Scenario, sid: str) -> str:
    return next((s.role for s in base.staff if s.id == sid), "staff")


def _axis(axis: _Axis, base: Scenario, where: str
          ) -> tuple[list[tuple[str, list[Any]]], list[Issue]]:
    """Each count's label and edits."""
    out: list[tuple[str, list[Any]]] = []
    if axis.staff is not None:
        like = next((s for s in base.staff if s.id == axis.staff), None)
        if like is None:
            return [], [Issue(f"{where}.staff", f"unknown staff '{axis.staff}'")]
        members = [s.id for s in base.staff if s.role == like.role]
        taken = {s.id for s in base.staff}
        for n in axis.counts:
            out.append((f"{n} {like.role}s", _counted(members, like.id, n, taken, "add_staff",
                                                      "remove_staff")))
    elif axis.rooms is not None:
        room = next((r for r in base.rooms if r.id == axis.rooms), None)
        if room is None:
            return [], [Issue(f"{where}.rooms", f"unknown room '{axis.rooms}'")]
        members = [r.id for r in base.rooms if set(r.features) == set(room.features)]
        taken = {r.id for r in base.rooms}
        for n in axis.counts:
            out.append((f"{n} rooms like {room.id}",
                        _counted(members, room.id, n, taken, "add_room", "remove_room")))
    else:
        assert axis.chairs is not None
        if not any(r.id == axis.chairs for r in base.rooms):
            return [], [Issue(f"{where}.chairs", f"unknown room '{axis.chairs}'")]
        for n in axis.counts:
            out.append((f"{n} chairs in {axis.chairs}",
                        [Set.model_validate({"set": {"room": axis.chairs, "chairs": n}})]))
    return out, []


def _counted(members: list[str], like: str, n: int, taken: set[str], add: str,
             remove: str) -> list[Any]:
    """Edits that leave ``n`` of ``members``: copies of ``like`` added, or the others removed,
    last listed first."""
    kinds: dict[str, type[Any]] = {"add_room": AddRoom, "add_staff": AddStaff,
                                   "remove_room": RemoveRoom, "remove_staff": RemoveStaff}
    if n >= len(members):
        ids = fresh_ids(f"{like}-add", n - len(members), taken)
        return [kinds[add].model_validate({add: {"like": like, "id": i}}) for i in ids]
    others = [m for m in reversed(members) if m != like]
    return [kinds[remove].model_validate({remove: m}) for m in others[:len(members) - n]]


def fresh_ids(prefix: str, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    k = 0
    while len(out) < n:
        k += 1
        if f"{prefix}{k}" not in taken:
            out.append(f"{prefix}{k}")
    return out
