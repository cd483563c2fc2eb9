"""Check a schedule against a scenario with the independent checker."""

from __future__ import annotations

from typing import Any

from scheduler.check import UnreadableSchedule, Violation, check
from scheduler.documents import Schedule
from scheduler.errors import InvalidInput, Issue
from scheduler.model import Scenario


def check_schedule(scenario: Scenario, schedule: Schedule | dict[str, Any],
                   where: str = "schedule") -> list[Violation]:
    """Every hard-rule violation of ``schedule``; an unreadable one raises InvalidInput.

    A parsed ``schedule.json`` is read by the checker itself, as an outside tool's would be.
    """
    document = schedule.to_json() if isinstance(schedule, Schedule) else schedule
    try:
        return check(scenario, document)
    except UnreadableSchedule as exc:
        raise InvalidInput([Issue(where, f"cannot be read as a schedule: {exc}")]) from exc
