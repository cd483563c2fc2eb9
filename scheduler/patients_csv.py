"""Patients from the CSV a front desk exports: one row per patient, same rules as the scenario.

Columns (header names; only ``id`` and ``protocol`` are required): ``id, name, protocol,
sessions, min_gap_days, last_session, earliest, latest, priority, preferred_staff,
availability, rems_enrolled``. ``preferred_staff`` lists ids separated by ``;`` or spaces;
``availability`` reads ``mon 09:00-15:00; wed 09:00-12:00 13:00-17:00``. Messages name the row as
a spreadsheet shows it (the header is row 1).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

import pandas as pd

from scheduler.errors import InvalidScenario, Issue

COLUMNS = ("id", "name", "protocol", "sessions", "min_gap_days", "last_session", "earliest",
           "latest", "priority", "preferred_staff", "availability", "rems_enrolled")
_SPAN = re.compile(r"^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def _availability(text: str) -> dict[str, list[list[str]]]:
    """``"mon 09:00-15:00; wed 09:00-12:00 13:00-17:00"`` -> scenario availability."""
    out: dict[str, list[list[str]]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        day, *spans = part.split()
        if not spans:
            raise ValueError(f"'{part}' names a day but no hours (write e.g. mon 09:00-15:00)")
        for span in spans:
            m = _SPAN.match(span)
            if not m:
                raise ValueError(f"'{span}' is not written HH:MM-HH:MM")
            out.setdefault(day.lower(), []).append([m.group(1).zfill(5), m.group(2).zfill(5)])
    return out


def _row_label(name: str, row: int) -> str:
    return f"{name} row {row}"


def read_patients_csv(source: Path | IO[bytes], name: str | None = None
                      ) -> tuple[list[dict[str, Any]], list[Issue]]:
    """Rows as scenario patient mappings, and the problems of cells that could not be read.

    ``source`` is a file or an open binary stream (an upload) called ``name`` in messages. An
    unreadable file raises :class:`InvalidScenario`; a bad cell is left out of its row and
    reported, so that validation can still report every other problem of the file at once.
    """
    name = name or (source.name if isinstance(source, Path) else "patients.csv")
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidScenario([Issue(name, f"cannot be read as CSV: {exc}")]) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    issues = [Issue(f"{name} column {c}", "is not a patient column (known: "
                    f"{', '.join(COLUMNS)})") for c in frame.columns if c not in COLUMNS]
    issues += [Issue(name, f"has no '{c}' column") for c in ("id", "protocol")
               if c not in frame.columns]
    patients: list[dict[str, Any]] = []
    for i, record in enumerate(frame.to_dict("records")):
        row = _row_label(name, i + 2)
        patient: dict[str, Any] = {}
        for column, raw in record.items():
            value = str(raw).strip()
            if column not in COLUMNS or value == "":
                continue
            if column == "preferred_staff":
                patient[column] = [s for s in re.split(r"[;\s,]+", value) if s]
            elif column == "availability":
                try:
                    patient[column] = _availability(value)
                except ValueError as exc:
                    issues.append(Issue(f"{row}.availability", str(exc)))
            elif column == "rems_enrolled":
                if value.lower() not in _TRUE | _FALSE:
                    issues.append(Issue(f"{row}.rems_enrolled", f"'{value}' is not yes or no"))
                patient[column] = value.lower() in _TRUE
            else:
                patient[column] = value
        patients.append(patient)
    return patients, issues


def relabel(issues: list[Issue], name: str) -> list[Issue]:
    """Turn ``patients[i].field`` paths into the CSV's row numbers (the file called ``name``)."""
    out = []
    for issue in issues:
        m = re.match(r"^patients\[(\d+)\](.*)$", issue.path)
        if m:
            issue = Issue(_row_label(name, int(m.group(1)) + 2) + m.group(2), issue.message)
        out.append(issue)
    return out
