"""Edits of a scenario: re-planning events (:mod:`.events`) and what-if variants
(:mod:`.variants`), each kind one class that applies itself (:mod:`.core`).

Both are "change the scenario's data, then validate it again". :func:`edit_scenario` runs a list
of edits on a scenario; every problem of every edit is reported at once, each naming its edit
(``events[2].date``, ``variants[1] (Tuesday nurse).edits[0].add_staff.like``), and nothing is
changed unless all of them apply.
"""

from scheduler.edits.core import Edit, EditContext, apply_edits, edit_scenario, scenario_data
from scheduler.edits.events import (
    AddPatient,
    AddSessions,
    Cancel,
    ChangeProtocol,
    ClinicClosed,
    Event,
    PatientUnavailable,
    RoomClosed,
    StaffAbsent,
    parse_events,
)
from scheduler.edits.variants import (
    AddRoom,
    AddStaff,
    Buffer,
    Overbook,
    RemoveRoom,
    RemoveStaff,
    Set,
    Variant,
    parse_variants,
)

__all__ = [
    "AddPatient",
    "AddRoom",
    "AddSessions",
    "AddStaff",
    "Buffer",
    "Cancel",
    "ChangeProtocol",
    "ClinicClosed",
    "Edit",
    "EditContext",
    "Event",
    "Overbook",
    "PatientUnavailable",
    "RemoveRoom",
    "RemoveStaff",
    "RoomClosed",
    "Set",
    "StaffAbsent",
    "Variant",
    "apply_edits",
    "edit_scenario",
    "parse_events",
    "parse_variants",
    "scenario_data",
]
