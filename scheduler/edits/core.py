"""What every edit shares: the base class, the context, lookups, and applying a list of edits."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario
from scheduler.validate import validate_scenario

Data = dict[str, Any]

SECTIONS = {"room": "rooms", "staff": "staff", "protocol": "protocols", "patient": "patients"}
"""The scenario's section of the items a kind of id names."""


@dataclass
class EditContext:
    """What edits may need besides the scenario: the schedule patients know (re-planning)."""

    scenario: Scenario
    known: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)
    """Appointment id -> (patient, start, end) of the previous schedule."""
    now: datetime | None = None
    cancelled: set[str] = field(default_factory=set)


class Edit(BaseModel):
    """One change of a scenario's data; each kind knows its clerk's words and how it applies."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @abstractmethod
    def describe(self) -> str:
        """The edit in a clerk's words (``changes.json`` reasons, what-if tables)."""

    @abstractmethod
    def apply(self, data: Data, ctx: EditContext) -> list[Issue]:
        """Change ``data`` in place; or, with any problem (paths relative to the edit), change
        nothing of it."""


def find(data: Data, section: str, ident: str) -> Data | None:
    return next((x for x in data[section] if x.get("id") == ident), None)


def unknown(data: Data, section: str, ident: str, path: str, what: str) -> list[Issue]:
    if find(data, section, ident) is not None:
        return []
    known = sorted(x["id"] for x in data[section])
    hint = f" (known: {', '.join(known)})" if 0 < len(known) <= 12 else ""
    return [Issue(path, f"unknown {what} '{ident}'{hint}")]


def apply_edits(data: Data, edits: list[tuple[str, Any]], ctx: EditContext) -> list[Issue]:
    """Apply each ``(path, edit)`` to ``data`` in order; every problem, each under its path.
    An edit with a problem changes nothing (the caller discards ``data`` on any problem)."""
    issues: list[Issue] = []
    for path, edit in edits:
        issues += [Issue(f"{path}.{i.path}" if i.path else path, i.message)
                   for i in edit.apply(data, ctx)]
    return issues


def scenario_data(scenario: Scenario) -> Data:
    """A scenario as the plain data edits work on (every section present)."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for section in ("rooms", "staff", "patients", "protocols", "fixed"):
        data.setdefault(section, [])
    return data


def edit_scenario(scenario: Scenario, edits: list[tuple[str, Any]],
                  ctx: EditContext | None = None) -> Scenario:
    """The scenario after ``edits`` (each ``(path, edit)``), validated again.

    Raises :class:`InvalidInput` with every problem of every edit, or, when the edits apply but
    leave an invalid scenario, the problems of that scenario introduced by ``after the edits``.
    """
    data = scenario_data(scenario)
    issues = apply_edits(data, edits, ctx or EditContext(scenario))
    if issues:
        raise InvalidInput(issues)
    try:
        return validate_scenario(data)
    except InvalidInput as exc:
        where = ", ".join(path for path, _ in edits) or "the edits"
        raise InvalidInput([Issue(f"after {where}: {i.path}", i.message)
                            for i in exc.issues]) from exc
