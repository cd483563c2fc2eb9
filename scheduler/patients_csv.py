"""Patients from the CSV a front desk (or an EHR) exports: one row per patient, same rules as the
scenario.

Columns are matched by their header, ignoring case, spaces and punctuation, with the synonyms an
EHR export uses (``Patient ID`` is ``id``; ``First Name`` and ``Last Name`` make ``name``;
``Phone`` and ``E-mail`` the contact; ``DOB`` the date of birth; see ``SYNONYMS``). Only ``id``
is required (and a new patient's ``protocol``). A column that is none of them (``MRN``) is
ignored with a warning.
``preferred_staff`` lists ids separated by ``;`` or spaces; ``availability`` reads
``mon 09:00-15:00; wed 09:00-12:00 13:00-17:00``. Dates are ISO (``2026-12-04``) or written the
clinic's way (``clinic.date_format``: ``us`` reads ``12/04/2026`` as 4 Dec, ``eu`` as 12 Apr);
without a format a slashed date that reads both ways is a problem naming its row. Messages name
the row as a spreadsheet shows it (the header is row 1) and the column by its header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import pandas as pd

from scheduler.errors import InvalidScenario, Issue

__all__ = ["COLUMNS", "SYNONYMS", "CsvRead", "CsvRow", "read_date", "read_patients_csv",
           "read_table", "relabel"]

SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "patientid", "patientno", "patientnumber"),
    "name": ("name", "patientname", "fullname"),
    "first_name": ("firstname", "givenname", "first"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "protocol": ("protocol", "treatment", "treatmentprotocol"),
    "sessions": ("sessions", "sessionswanted"),
    "min_gap_days": ("mingapdays", "mingap"),
    "last_session": ("lastsession", "lastsessiondate", "lastvisit"),
    "earliest": ("earliest", "earliestdate"),
    "latest": ("latest", "latestdate"),
    "priority": ("priority",),
    "preferred_staff": ("preferredstaff",),
    "availability": ("availability",),
    "rems_enrolled": ("remsenrolled", "rems"),
    "rems_number": ("remsnumber", "remsid", "remsenrollmentnumber", "remspatientid"),
    "rems_enrolled_on": ("remsenrolledon", "remsenrollmentdate", "remsdate"),
    "phone": ("phone", "phonenumber", "mobile", "cell", "cellphone", "telephone"),
    "email": ("email", "emailaddress"),
    "date_of_birth": ("dateofbirth", "dob", "birthdate"),
    "notes": ("notes", "note", "comments"),
    "course": ("course", "treatmentcourse"),
    "course_done": ("coursedone", "sessionsdone"),
    "course_dose": ("coursedose", "dose", "dosemg"),
}
"""A column's field, by the header's letters and digits in lower case."""
COLUMNS = tuple(SYNONYMS)
_BY_KEY = {key: column for column, keys in SYNONYMS.items() for key in keys}
FIELD_OF = {"phone": "contact.phone", "email": "contact.email", "rems_number": "rems.number",
            "rems_enrolled_on": "rems.enrolled_on", "course": "course.id",
            "course_done": "course.done", "course_dose": "course.dose",
            "first_name": "name", "last_name": "name"}
"""Where a column's value goes in the scenario's patient (the column's own name otherwise)."""
DATES = ("last_session", "earliest", "latest", "rems_enrolled_on", "date_of_birth")
_SPAN = re.compile(r"^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
FORMATS = {"us": "MM/DD/YYYY", "eu": "DD/MM/YYYY", "iso": "YYYY-MM-DD"}


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.casefold())


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def read_date(text: str, date_format: str | None) -> date:
    """A date cell: ISO always; ``12/04/2026`` the clinic's way (``us``: 4 Dec, ``eu``: 12 Apr);
    without a format (or ``iso``), a slashed date is read only when it reads one way. ValueError
    saying why otherwise.

    >>> read_date("12/04/2026", "us"), read_date("12/04/2026", "eu")
    (datetime.date(2026, 12, 4), datetime.date(2026, 4, 12))
    """
    if m := _ISO.fullmatch(text):
        found = _day(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if found is None:
            raise ValueError(f"'{text}' is not a date (no such day)")
        return found
    m = _SLASHED.fullmatch(text)
    if m is None:
        raise ValueError(f"'{text}' is not a date: write {FORMATS[date_format or 'iso']}"
                         + ("" if date_format in (None, "iso") else " or YYYY-MM-DD"))
    a, b, year = int(m.group(1)), int(m.group(2)), m.group(3)
    if len(year) != 4:
        raise ValueError(f"'{text}': write the year in full "
                         f"({FORMATS[date_format or 'iso']})")
    us, eu = _day(int(year), a, b), _day(int(year), b, a)
    if date_format in ("us", "eu"):
        found = us if date_format == "us" else eu
        if found is None:
            raise ValueError(f"'{text}' is not a date written {FORMATS[date_format]} (the "
                             f"clinic's format)")
        return found
    if us is not None and eu is not None and us != eu:
        raise ValueError(f"'{text}' is ambiguous: {us:%-d %b %Y} (month first, US) or "
                         f"{eu:%-d %b %Y} (day first); write {us:%Y-%m-%d} or "
                         f"{eu:%Y-%m-%d}, or set the clinic's date format")
    if us is None and eu is None:
        raise ValueError(f"'{text}' is not a date")
    return us or eu  # type: ignore[return-value]  # one of them is a date


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


@dataclass(slots=True)
class CsvRow:
    """One patient row: its spreadsheet row number, its cells by header, and the scenario
    patient read from them (a cell that could not be read is left out and reported)."""

    number: int
    cells: dict[str, str]
    patient: dict[str, Any]


@dataclass(slots=True)
class CsvRead:
    """A patients CSV read: ``columns`` maps each header to its column (``SYNONYMS``; None:
    ignored), ``issues`` refuse the file (their paths ``<name> row N.<field>``), ``warnings``
    do not (a column ignored)."""

    name: str
    headers: list[str]
    columns: dict[str, str | None]
    rows: list[CsvRow]
    issues: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def header_of(self, path: str) -> str | None:
        """The header a patient field path (``contact.phone``, ``rems``, ``availability.mon``)
        came from, or None."""
        best: tuple[int, str] | None = None
        for header, column in self.columns.items():
            if column is None:
                continue
            target = FIELD_OF.get(column, column)
            for candidate in (target, target.split(".")[0]):
                if (path == candidate or path.startswith((candidate + ".", candidate + "[")))\
                        and (best is None or len(candidate) > best[0]):
                    best = (len(candidate), header)
        return best[1] if best else None


def _columns(name: str, headers: list[str]) -> tuple[dict[str, str | None], list[Issue],
                                                     list[Issue]]:
    columns: dict[str, str | None] = {}
    issues: list[Issue] = []
    warnings: list[Issue] = []
    taken: dict[str, str] = {}
    for header in headers:
        column = _BY_KEY.get(_key(header))
        if column is None:
            columns[header] = None
            warnings.append(Issue(f"{name} column {header}", "is not a patient field: ignored "
                                  f"(known: {', '.join(c for c in COLUMNS)})"))
        elif column in taken:
            columns[header] = None
            issues.append(Issue(f"{name} column {header}", f"gives {column} as column "
                                f"'{taken[column]}' does: keep one of them"))
        else:
            columns[header] = taken[column] = column
    if "name" in taken:
        for part in ("first_name", "last_name"):
            if part in taken:
                columns[taken[part]] = None
                warnings.append(Issue(f"{name} column {taken[part]}", f"ignored: column "
                                      f"'{taken['name']}' gives the name"))
    if "id" not in taken:  # (a new patient's missing protocol is its row's problem)
        issues.append(Issue(name, "has no 'id' column (Patient ID)"))
    return columns, issues, warnings


def _cell(patient: dict[str, Any], column: str, value: str, date_format: str | None) -> None:
    """``value`` of ``column`` into ``patient`` (ValueError saying why it cannot be read)."""
    if column == "preferred_staff":
        patient[column] = [s for s in re.split(r"[;\s,]+", value) if s]
    elif column == "availability":
        patient[column] = _availability(value)
    elif column == "rems_enrolled":
        if value.lower() not in _TRUE | _FALSE:
            raise ValueError(f"'{value}' is not yes or no")
        patient[column] = value.lower() in _TRUE
    elif column in ("first_name", "last_name"):
        first, last = patient.pop("_first", ""), patient.pop("_last", "")
        first, last = (value, last) if column == "first_name" else (first, value)
        patient["_first"], patient["_last"] = first, last
        patient["name"] = f"{first} {last}".strip()
    else:
        if column in DATES:
            value = read_date(value, date_format).isoformat()
        where = FIELD_OF.get(column, column)
        if "." in where:
            head, tail = where.split(".")
            patient.setdefault(head, {})[tail] = value
        else:
            patient[where] = value


def read_table(source: Path | IO[bytes], name: str | None = None,
               date_format: str | None = None) -> CsvRead:
    """The CSV's columns and rows, read as scenario patients, with its problems and warnings.

    ``source`` is a file or an open binary stream (an upload) called ``name`` in messages;
    ``date_format`` is the clinic's (``us``, ``eu``, ``iso`` or None). An unreadable file
    raises :class:`InvalidScenario`; a bad cell is left out of its row and reported, so that
    validation can still report every other problem of the file at once."""
    name = name or (source.name if isinstance(source, Path) else "patients.csv")
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidScenario([Issue(name, f"cannot be read as CSV: {exc}")]) from exc
    headers = [str(c).strip() for c in frame.columns]
    columns, issues, warnings = _columns(name, headers)
    rows: list[CsvRow] = []
    for i, record in enumerate(frame.itertuples(index=False, name=None)):
        number = i + 2
        cells = {h: str(v).strip() for h, v in zip(headers, record, strict=True)}
        patient: dict[str, Any] = {}
        for header, value in cells.items():
            column = columns[header]
            if column is None or value == "":
                continue
            try:
                _cell(patient, column, value, date_format)
            except ValueError as exc:
                issues.append(Issue(f"{_row_label(name, number)}."
                                    f"{FIELD_OF.get(column, column)}", str(exc)))
        patient.pop("_first", None)
        patient.pop("_last", None)
        rows.append(CsvRow(number, cells, patient))
    return CsvRead(name, headers, columns, rows, issues, warnings)


def read_patients_csv(source: Path | IO[bytes], name: str | None = None,
                      date_format: str | None = None
                      ) -> tuple[list[dict[str, Any]], list[Issue]]:
    """Rows as scenario patient mappings, and the problems of cells that could not be read
    (``read_table`` without its warnings)."""
    read = read_table(source, name, date_format)
    return [r.patient for r in read.rows], read.issues


def relabel(issues: list[Issue], name: str) -> list[Issue]:
    """Turn ``patients[i].field`` paths into the CSV's row numbers (the file called ``name``)."""
    out = []
    for issue in issues:
        m = re.match(r"^patients\[(\d+)\](.*)$", issue.path)
        if m:
            issue = Issue(_row_label(name, int(m.group(1)) + 2) + m.group(2), issue.message)
        out.append(issue)
    return out
