"""The intake and edit form of a patient: its fields from a stored patient, and a posted form read
back into one (the fields the form does not show, a course's history, are kept), with every
problem named by the form's field; the scenario's own paths (``patients[3].contact.email``)
turned into the form's (``email``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from scheduler.courses import library
from scheduler.errors import Issue
from scheduler.model import WEEKDAYS

__all__ = ["DAY_NAMES", "FIELDS", "course_options", "form_of", "form_paths", "item_of",
           "next_id"]

DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
             "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
FIELDS = ("id", "name", "phone", "email", "date_of_birth", "protocol", "course", "course_done",
          "course_dose", "course_started", "last_session", "sessions", "min_gap_days",
          "rems_enrolled", "rems_number", "rems_enrolled_on", "earliest", "latest", "priority",
          "notes", *(f"avail.{d}" for d in WEEKDAYS))
"""The form's text fields (``preferred_staff`` is a list of checkboxes)."""
_SPAN = re.compile(r"^(\d{1,2}):?(\d{2})\s*[-–]\s*(\d{1,2}):?(\d{2})$")
_PATHS = {"contact.phone": "phone", "contact.email": "email", "contact": "phone",
          "rems.number": "rems_number", "rems.enrolled_on": "rems_enrolled_on",
          "rems": "rems_number", "course.id": "course", "course.done": "course_done",
          "course.dose": "course_dose", "course.started": "course_started", "course": "course"}


def next_id(taken: list[str]) -> str:
    """A free id in the clinic's pattern: ``P114`` after ``P113`` (``P001`` for none)."""
    numbers = [(m.group(1), int(m.group(2)), len(m.group(2)))
               for t in taken if (m := re.fullmatch(r"([A-Za-z]*)(\d+)", t))]
    if not numbers:
        return "P001"
    prefix, top, width = max(numbers, key=lambda n: n[1])
    return f"{prefix}{top + 1:0{width}d}"


def course_options(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The courses a patient may follow: the clinic's own, then the library's (by name)."""
    own = {c["id"]: c.get("name", c["id"]) for c in data.get("courses") or []
           if isinstance(c, dict) and isinstance(c.get("id"), str)}
    found = {**{k: v.name for k, v in library().items()}, **own}
    return [("", "(no course: sessions as below)")] + [(k, f"{v} · {k}")
                                                       for k, v in found.items()]


def _spans_text(spans: list[list[str]]) -> str:
    return ", ".join(f"{s}-{e}" for s, e in spans)


def form_of(item: dict[str, Any]) -> dict[str, Any]:
    """The form's values for a stored patient."""
    contact = item.get("contact") or {}
    rems = item.get("rems") or {}
    course = item.get("course") or {}
    enrolled = item.get("rems_enrolled")
    form: dict[str, Any] = {
        "id": item.get("id", ""), "name": item.get("name") or "",
        "phone": contact.get("phone") or "", "email": contact.get("email") or "",
        "date_of_birth": str(item.get("date_of_birth") or ""),
        "protocol": item.get("protocol", ""), "course": course.get("id", ""),
        "course_done": str(course.get("done", "") if course.get("done") is not None else
                           len(course.get("history") or []) or ""),
        "course_dose": str(course.get("dose") or ""),
        "course_started": str(course.get("started") or ""),
        "last_session": str(item.get("last_session") or ""),
        "sessions": str(item.get("sessions", "")), "min_gap_days": str(item.get("min_gap_days",
                                                                                  "")),
        "rems_enrolled": "" if enrolled is None else "yes" if enrolled else "no",
        "rems_number": rems.get("number") or "",
        "rems_enrolled_on": str(rems.get("enrolled_on") or ""),
        "earliest": str(item.get("earliest") or ""), "latest": str(item.get("latest") or ""),
        "priority": str(item.get("priority", 1)), "notes": item.get("notes") or "",
        "preferred_staff": list(item.get("preferred_staff") or []),
    }
    for day in WEEKDAYS:
        form[f"avail.{day}"] = _spans_text((item.get("availability") or {}).get(day) or [])
    return form


def _date(form: dict[str, Any], name: str, issues: list[Issue]) -> str | None:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        issues.append(Issue(name, f"'{text}' is not a date (YYYY-MM-DD)"))
        return None


def _whole(form: dict[str, Any], name: str, issues: list[Issue]) -> int | None:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        issues.append(Issue(name, f"'{text}' is not a whole number"))
        return None
    return int(text)


def _availability(text: str) -> list[list[str]]:
    out = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text))):
        m = _SPAN.fullmatch(part)
        if m is None:
            raise ValueError(f"'{part}' is not hours written HH:MM-HH:MM (e.g. 09:00-12:00, "
                             "14:00-17:00)")
        out.append([f"{int(m.group(1)):02d}:{m.group(2)}", f"{int(m.group(3)):02d}:{m.group(4)}"])
    return out


def item_of(form: dict[str, Any], staff: list[str], before: dict[str, Any] | None = None
            ) -> tuple[dict[str, Any], list[Issue]]:
    """The patient a posted form describes, over ``before`` (the stored patient, when
    editing: what the form does not show is kept), and the form's own problems (a date, a
    number or hours that cannot be read), each named by its field. ``staff``: the preferred
    staff ids ticked. The scenario's rules are the service's to check."""
    issues: list[Issue] = []
    item: dict[str, Any] = dict(before or {})
    text = {k: str(form.get(k) or "").strip() for k in FIELDS}

    def put(key: str, value: Any) -> None:
        if value in (None, "", [], {}):
            item.pop(key, None)
        else:
            item[key] = value

    put("id", text["id"])
    if not text["id"]:
        issues.append(Issue("id", "is required"))
    put("name", text["name"])
    if not text["name"]:
        issues.append(Issue("name", "is required: the patient's name as the desk calls them"))
    put("contact", {k: v for k, v in (("phone", text["phone"]), ("email", text["email"])) if v})
    put("date_of_birth", _date(form, "date_of_birth", issues))
    put("protocol", text["protocol"])
    if not text["protocol"]:
        issues.append(Issue("protocol", "is required"))
    old_course = dict(item.get("course") or {})
    if text["course"]:
        course: dict[str, Any] = {**old_course, "id": text["course"]}
        done = _whole(form, "course_done", issues)
        if done is None or (course.get("history") and done == len(course["history"])):
            course.pop("done", None)  # the history's length, or nothing done yet
        else:
            course["done"] = done
        for key, value in (("dose", _whole(form, "course_dose", issues)),
                           ("started", _date(form, "course_started", issues))):
            if value is None:
                course.pop(key, None)
            else:
                course[key] = value
        item["course"] = course
    else:
        for name in ("course_done", "course_dose", "course_started"):
            if text[name]:
                issues.append(Issue(name, "needs a course: pick one, or leave this empty"))
        item.pop("course", None)
    put("last_session", _date(form, "last_session", issues))
    put("sessions", _whole(form, "sessions", issues))
    put("min_gap_days", _whole(form, "min_gap_days", issues))
    enrolled = {"yes": True, "no": False}.get(text["rems_enrolled"])
    put("rems_enrolled", enrolled)
    rems = {k: v for k, v in (("number", text["rems_number"]),
                              ("enrolled_on", _date(form, "rems_enrolled_on", issues))) if v}
    if rems and "number" not in rems:
        issues.append(Issue("rems_number", "is required with the enrollment date"))
    if rems and enrolled is False:
        issues.append(Issue("rems_enrolled", "says not enrolled, but an enrollment number or "
                                             "date is filled in: clear them, or pick enrolled"))
    if enrolled is True and not rems.get("number"):
        issues.append(Issue("rems_number", "is required for an enrolled patient (the REMS "
                                           "patient enrollment number)"))
    put("rems", rems)
    put("earliest", _date(form, "earliest", issues))
    put("latest", _date(form, "latest", issues))
    put("priority", _whole(form, "priority", issues))
    put("notes", str(form.get("notes") or "").strip().replace("\r\n", "\n"))
    put("preferred_staff", list(dict.fromkeys(s for s in staff if s)))
    week: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        try:
            spans = _availability(text[f"avail.{day}"])
        except ValueError as exc:
            issues.append(Issue(f"avail.{day}", str(exc)))
            continue
        if spans:
            week[day] = spans
    put("availability", week)
    return item, issues


def form_paths(issues: list[Issue], index: int | None = None) -> list[Issue]:
    """The service's paths (``patients[3].contact.email``, ``body.id``) as the form's fields
    (``email``, ``id``); ``index``: the patient's place in the list (None: any)."""
    out = []
    for issue in issues:
        m = re.match(r"^patients\[(\d+)\]\.?(.*)$", issue.path)
        if issue.path == "body.id":
            out.append(Issue("id", issue.message))
            continue
        if m is None or (index is not None and int(m.group(1)) != index):
            out.append(issue)
            continue
        rest = m.group(2)
        field = next((v for k, v in _PATHS.items()
                      if rest == k or rest.startswith((k + ".", k + "["))), None)
        if field is None and rest.startswith("availability"):
            day = rest.split(".")[1][:3] if "." in rest else "mon"
            field = f"avail.{day}" if day in WEEKDAYS else "avail.mon"
        out.append(Issue(field or re.split(r"[.\[]", rest)[0] or "id", issue.message))
    return out
