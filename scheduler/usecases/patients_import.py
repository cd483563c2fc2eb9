"""Importing patients from an EHR export: a preview first (every problem beside its row and
column, the columns ignored, who is new and who is updated), then the scenario data to store.

The file's rows are merged into the clinic's patients by id: a row of a patient the clinic has
updates the fields its columns give (the rest of the patient is kept), a row of a new id adds a
patient, and patients the file does not name are kept as they are.
"""

from __future__ import annotations

import copy
import io
import re
from dataclasses import dataclass, field
from typing import Any

from scheduler.errors import InvalidInput, Issue
from scheduler.patients_csv import CsvRead, read_table
from scheduler.validate import validate_scenario

__all__ = ["Preview", "preview_patients"]

_ROW = re.compile(r"^.* row (\d+)\.(.+)$")
_PATIENT = re.compile(r"^patients\[(\d+)\]\.?(.*)$")


@dataclass(slots=True)
class Preview:
    """What an import would do. ``problems`` holds each row's messages by the column's header
    (None: the row as a whole); ``general`` the file's other problems; ``data`` the scenario
    data to store, None while there is any problem."""

    read: CsvRead
    date_format: str | None
    problems: dict[int, dict[str | None, list[str]]] = field(default_factory=dict)
    general: list[Issue] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: int = 0
    data: dict[str, Any] | None = None

    @property
    def count(self) -> int:
        """How many problems there are (a row's and the file's)."""
        return len(self.general) + sum(len(m) for by in self.problems.values()
                                       for m in by.values())

    def note(self, row: int, header: str | None, message: str) -> None:
        self.problems.setdefault(row, {}).setdefault(header, []).append(message)


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = {**old, **new}
    for part in ("contact", "rems", "course"):
        if isinstance(old.get(part), dict) and isinstance(new.get(part), dict):
            out[part] = {**old[part], **new[part]}
    return out


def preview_patients(data: dict[str, Any], raw: bytes, name: str,
                     date_format: str | None = None) -> Preview:
    """The preview of importing CSV ``raw`` (called ``name``) into scenario ``data``; dates
    read by ``date_format`` (default: the clinic's ``date_format``). An unreadable file is
    InvalidInput."""
    clinic = data.get("clinic")
    fmt = date_format or (clinic.get("date_format") if isinstance(clinic, dict) else None)
    read = read_table(io.BytesIO(raw), name, fmt)
    preview = Preview(read, fmt)
    preview.general += [i for i in read.issues if not _ROW.match(i.path)]
    for issue in read.issues:
        if m := _ROW.match(issue.path):
            preview.note(int(m.group(1)), read.header_of(m.group(2)), issue.message)
    patients = copy.deepcopy(data.get("patients") or [])
    index = {p.get("id"): i for i, p in enumerate(patients) if isinstance(p, dict)}
    row_at: dict[int, int] = {}
    seen: dict[str, int] = {}
    for row in read.rows:
        pid = row.patient.get("id")
        if pid in seen:
            preview.note(row.number, read.header_of("id"), f"'{pid}' is in row {seen[pid]} "
                                                           "too: one row a patient")
            continue
        if isinstance(pid, str):
            seen[pid] = row.number
        if pid in index:
            at = index[pid]
            patients[at] = _merged(patients[at], row.patient)
            preview.updated.append(str(pid))
        else:
            at = len(patients)
            patients.append(row.patient)
            preview.added.append(str(pid) if pid else f"row {row.number}")
        row_at[at] = row.number
    preview.kept = len(patients) - len(row_at)
    merged = {**copy.deepcopy(data), "patients": patients}
    try:
        validate_scenario(copy.deepcopy(merged))
    except InvalidInput as exc:
        for issue in exc.issues:
            m = _PATIENT.match(issue.path)
            if m and int(m.group(1)) in row_at:
                rest = m.group(2)
                already = preview.problems.get(row_at[int(m.group(1))], {})
                header = read.header_of(rest) if rest else None
                if issue.message not in already.get(header, []):
                    preview.note(row_at[int(m.group(1))], header,
                                 issue.message if rest and header else
                                 f"{rest or 'the patient'}: {issue.message}")
            else:
                preview.general.append(issue)
    if preview.count == 0:
        preview.data = merged
    return preview
