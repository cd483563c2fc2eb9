"""Text safety: names and texts hold no control characters, CSV cells run as no formula.

A leaf module (the model's names and texts are its types):

- :data:`SafeText`, one line of text: no control character at all (C0 and C1, tab, CR, LF,
  DEL), no lone surrogate, no Unicode line or paragraph separator. A name goes into calendar
  feeds, CSV files, pages and logs, where a line break either breaks the format (icalendar
  refuses a content line with a raw LF) or starts a line that was never written.
- :data:`SafeLines`, text of several lines (an address, arrival instructions): the same, but
  line feeds are allowed (line feeds alone: a CR is refused, as YAML writes line breaks).

Both declare what they accept in the JSON schema too (a ``pattern``), so the OpenAPI document
says what the server accepts and a client generating valid data from it is never refused.
- :func:`csv_cell` and :func:`write_csv`: a text cell a spreadsheet would run as a formula
  (``=HYPERLINK(...)``) is written with a leading apostrophe (OWASP's "CSV injection" rule).

>>> from pydantic import TypeAdapter
>>> TypeAdapter(SafeText).validate_python("Room 1")
'Room 1'
>>> csv_cell('=HYPERLINK("http://x","y")')
'\\'=HYPERLINK("http://x","y")'
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Sequence
from typing import IO, Annotated, Any

from pydantic import AfterValidator, Field

__all__ = ["SafeLines", "SafeText", "control_character", "csv_cell", "csv_row", "write_csv"]

_REFUSED = frozenset({"Cc", "Cs", "Zl", "Zp"})
"""Unicode categories refused in names and texts: controls, lone surrogates (which no UTF-8
file can hold), and the line and paragraph separators U+2028 / U+2029."""
_BREAKS = frozenset("\n\r\v\f\x85\u2028\u2029")


def control_character(value: str, lines: bool = False) -> str | None:
    """Why ``value`` is refused as a name or text (its first control character, as
    ``U+000A``), or None when it is fine; with ``lines`` a line feed is allowed.

    >>> control_character("Nurse\\nOne")
    'contains a control character (U+000A, a line break): a name is one line'
    >>> control_character("Suite 4\\nMain St", lines=True) is None
    True
    """
    for ch in value:
        if lines and ch == "\n":
            continue
        if unicodedata.category(ch) in _REFUSED:
            code = f"U+{ord(ch):04X}"
            if ch in _BREAKS and not lines:
                return f"contains a control character ({code}, a line break): a name is one line"
            if ch == "\t":
                return f"contains a control character ({code}, a tab)"
            return f"contains a control character ({code})"
    return None


def _one_line(value: str) -> str:
    problem = control_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _lines(value: str) -> str:
    problem = control_character(value, lines=True)
    if problem is not None:
        raise ValueError(problem)
    return value


_ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
_LINES = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]*$"
"""The same rules as JSON-schema patterns (ECMA-262), for the OpenAPI document only."""

SafeText = Annotated[str, AfterValidator(_one_line),
                     Field(json_schema_extra={"pattern": _ONE_LINE})]
"""A name or short text: one line, no control character (a 422 / exit 2 naming the field)."""
SafeLines = Annotated[str, AfterValidator(_lines),
                      Field(json_schema_extra={"pattern": _LINES})]
"""A free text of several lines: line feeds allowed, no other control character."""

_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")
"""What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"), or, for tab
and CR, what some of them strip before looking for one."""


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet opens as data: text that starts like a formula
    gets a leading apostrophe, which Excel, LibreOffice and Google Sheets show as text and do
    not run. Numbers (and None, booleans) stay as they are: our own figures, never a formula,
    and a negative number stays a number.

    >>> [csv_cell(x) for x in ("-1", -1, "@SUM(A1)", "base")]
    ["'-1", -1, "'@SUM(A1)", 'base']
    """
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_row(row: Iterable[Any]) -> list[Any]:
    """Every cell of ``row`` through :func:`csv_cell`."""
    return [csv_cell(x) for x in row]


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Iterable[Any]]) -> None:
    """A header and rows, every text cell escaped (:func:`csv_cell`): the one way Chairtime
    writes a CSV file someone opens in a spreadsheet. ``out`` is opened with
    ``newline=""``."""
    writer = csv.writer(out)
    writer.writerow(csv_row(header))
    writer.writerows(csv_row(row) for row in rows)
