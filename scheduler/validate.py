"""Loading and validating contract v1 scenarios: every problem at once, each with its path.

Every problem in a file is reported at once, each with its field path (``staff[3].shifts.tue``) and
a sentence a clinic manager understands. Sections are parsed item by item so that one broken room
does not hide a broken patient, and cross-references are checked on whatever parsed. Fixed
appointments are vetted by the independent checker.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import TypeAdapter, ValidationError

from scheduler.check import check_fixed
from scheduler.compile import fixed_protocols
from scheduler.courses import course_issues, expand, with_extensions
from scheduler.errors import InvalidInput, Issue
from scheduler.model import (
    Clinic,
    CourseSpec,
    FeedSettings,
    FixedSpec,
    Horizon,
    PatientSpec,
    PhaseSpec,
    ProtocolSpec,
    RoomSpec,
    Scenario,
    SoftGoals,
    StaffSpec,
)
from scheduler.nesting import MAX_DEPTH, too_deep
from scheduler.text import control_character

# --------------------------------------------------------------------------- messages
_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a field of the scenario format (check the spelling)",
}


def _path(loc: Iterable[Any], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("[key]", "tuple") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _shown(value: Any) -> str:
    """``value`` quoted for a message; a control character in it shows escaped (``'R1\\n'``),
    so that a message stays one line."""
    if isinstance(value, str) and control_character(value) is not None:
        return repr(value)
    return f"'{value}'"


def _message(err: Any) -> str:
    kind = err["type"]
    if kind in _FRIENDLY:
        return str(_FRIENDLY[kind])
    msg = str(err["msg"])
    if kind == "literal_error" and "'mon'" in msg:
        return f"{_shown(err['input'])} is not a weekday; use mon, tue, wed, thu, fri, sat or sun"
    if kind == "literal_error" and "'hands_on'" in msg:
        return f"{_shown(err['input'])} is not a staff mode; use hands_on or monitor"
    msg = msg.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return (f"{_shown(err['input'])} is not a valid id: letters, digits, '-', '_' and '.', "
                "starting with a letter or digit")
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return f"{_shown(err['input'])} is not a date written YYYY-MM-DD"
    return msg[0].lower() + msg[1:] if msg else kind


def issues_from(error: ValidationError, prefix: str) -> list[Issue]:
    return [Issue(_path(e["loc"], prefix), _message(e)) for e in error.errors()]


# --------------------------------------------------------------------------- loading
LEAST_BUDGET = 10_000
"""Values a YAML document may always expand to through its aliases; beyond, as many as its
text has characters (see ``_compose_node``)."""

Shape = tuple[int, int]
"""A composed node's size and height, its aliases expanded."""


def _refuse(problem: str, where: Any) -> yaml.composer.ComposerError:
    return yaml.composer.ComposerError(None, None, problem, where)


def _compose_node(self: _Loader | _TextLoader, parent: yaml.Node | None, index: Any
                  ) -> yaml.Node | None:
    """PyYAML's composer, measuring each node with its aliases expanded: nesting deeper than
    MAX_DEPTH, a document that expands to more values than its text has characters (at least
    LEAST_BUDGET), and an alias inside the value it names are refused.

    An alias is the one way a few bytes become gigabytes (370 bytes of aliases of aliases took
    25 s and 1.4 GiB, expanded by whatever walked the data); PyYAML itself writes aliases for
    values shared (``hours: &id001``), so they are read, but never to more than a file of the
    same size could say without them."""
    event: Any = self.peek_event()  # type: ignore[no-untyped-call]
    where: Any = event.start_mark
    depth = self._depth + 1
    if isinstance(event, yaml.AliasEvent):
        named = self.anchors.get(event.anchor)
        if named is not None:  # (else PyYAML says it is undefined)
            shape = self._shapes.get(id(named))
            if shape is None:
                raise _refuse(f"the alias *{event.anchor} is inside the value it names", where)
            if depth + shape[1] - 1 > MAX_DEPTH:
                raise _refuse(f"nests deeper than {MAX_DEPTH} levels (its aliases "
                              "expanded)", where)
        return yaml.composer.Composer.compose_node(self, parent, index)
    if depth > MAX_DEPTH:
        raise _refuse(f"nests deeper than {MAX_DEPTH} levels", where)
    self._depth = depth
    try:
        node = yaml.composer.Composer.compose_node(self, parent, index)
    finally:
        self._depth = depth - 1
    if isinstance(node, yaml.SequenceNode):
        shapes = [self._shapes[id(item)] for item in node.value]
    elif isinstance(node, yaml.MappingNode):
        shapes = [self._shapes[id(item)] for pair in node.value for item in pair]
    else:
        shapes = []
    size = 1 + sum(s for s, _ in shapes)
    if size > self._budget:
        raise _refuse(f"expands through its aliases to more than {self._budget:,} values (as "
                      "many as the text has characters)", where)
    self._shapes[id(node)] = (size, 1 + max((h for _, h in shapes), default=0))
    return node


class _Measured:
    """A loader measured as it composes (``_compose_node``): its depth, each node's shape, and
    a budget of values as large as its text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]  # the YAML loader's, next in line
        self._depth = 0
        self._shapes: dict[int, Shape] = {}
        self._budget = max(LEAST_BUDGET, len(stream))

    compose_node = _compose_node


class _Loader(_Measured, yaml.SafeLoader):
    """YAML with dates left as text for the schema to parse: ``date: 2026-13-40`` is then a
    problem with its field path, not a crash inside the YAML parser."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _TextLoader(_Measured, yaml.BaseLoader):
    """YAML with every scalar as text (its reader validates them)."""


def parse_text(text: str, json_: bool = False, *, strings: bool = False) -> Any:
    """Parse YAML (or JSON) text; malformed text raises ``ValueError`` saying where, and so do
    nesting deeper than MAX_DEPTH and YAML aliases that expand it past its own size.
    ``strings``: every YAML scalar as text."""
    try:
        if not json_:
            return yaml.load(text, Loader=_TextLoader if strings else _Loader)
        data = json.loads(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc
    except RecursionError as exc:  # json's own C parser: over ~1,000 levels
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels") from exc
    if too_deep(data):
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    return data


def read_data(path: Path) -> Any:
    """Parse YAML or JSON text; unreadable files raise :class:`InvalidInput`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([Issue(str(path), f"cannot be read: {exc}")]) from exc
    try:
        return parse_text(text, json_=path.suffix.lower() == ".json")
    except ValueError as exc:
        raise InvalidInput([Issue(str(path), f"is not valid YAML or JSON: {exc}")]) from exc


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file, raising :class:`InvalidInput` with every problem."""
    return validate_scenario(read_data(path))


_SECTIONS: dict[str, Any] = {
    "protocols": ProtocolSpec, "rooms": RoomSpec, "staff": StaffSpec,
    "patients": PatientSpec, "fixed": FixedSpec, "courses": CourseSpec,
}
_SINGLES: dict[str, Any] = {"clinic": Clinic, "horizon": Horizon, "settings": SoftGoals,
                            "feeds": FeedSettings}
_OPTIONAL = ("settings", "feeds")


def validate_scenario(data: Any) -> Scenario:
    """Validate parsed data (a dict) as a scenario; all problems at once."""
    if not isinstance(data, dict):
        raise InvalidInput([Issue("(file)", "must be a mapping with clinic, horizon, "
                                               "protocols, rooms, staff and patients")])
    issues: list[Issue] = []
    known = {"version", *_SECTIONS, *_SINGLES}
    for key in data:
        if key not in known:
            issues.append(Issue(str(key), _FRIENDLY["extra_forbidden"]))
    if data.get("version", 1) != 1:
        issues.append(Issue("version", f"is {data.get('version')!r}; this tool reads version 1"))
    parsed: dict[str, Any] = {}
    for key, model in _SINGLES.items():
        if key not in data and key in _OPTIONAL:
            continue
        value, problems = validate_item(model, data.get(key), key)
        issues += problems
        if value is not None:  # what parsed is still cross-checked (the clinic's time zone)
            parsed[key] = value
    clinic = data.get("clinic")  # its time zone is checked even when another field broke
    parsed["timezone"] = clinic.get("timezone") if isinstance(clinic, dict) else None
    for key, model in _SECTIONS.items():
        raw = data.get(key, [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            issues.append(Issue(key, "must be a list"))
            parsed[key] = []  # the cross-checks still read it
            continue
        items = []
        for i, item in enumerate(raw):
            value, problems = validate_item(model, item, f"{key}[{i}]")
            issues += problems
            if value is not None:  # still cross-check what did parse
                items.append((i, value))
        parsed[key] = items
    issues += cross_check(parsed)
    if issues:
        raise InvalidInput(issues)
    scenario = Scenario(
        version=1,
        clinic=parsed["clinic"],
        horizon=parsed["horizon"],
        protocols=[x for _, x in parsed["protocols"]],
        rooms=[x for _, x in parsed["rooms"]],
        staff=[x for _, x in parsed["staff"]],
        patients=[x for _, x in parsed["patients"]],
        fixed=[x for _, x in parsed["fixed"]],
        courses=[x for _, x in parsed["courses"]],
        settings=parsed.get("settings", SoftGoals()),
        feeds=parsed.get("feeds", FeedSettings()),
    )
    if not scenario.protocols:
        raise InvalidInput([Issue("protocols", "must list at least one protocol")])
    if not scenario.rooms:
        raise InvalidInput([Issue("rooms", "must list at least one room")])
    scenario = expand(scenario)  # courses -> plain sessions, gaps and per-week limits
    problems = check_fixed(scenario)
    if problems:
        raise InvalidInput(problems)
    return scenario


def validate_item(model: Any, item: Any, path: str) -> tuple[Any, list[Issue]]:
    """One item of a section: the model and no issues, or its issues and, so that its
    references still get checked, the item re-validated without its broken top-level fields
    (None when that fails too)."""
    try:
        return TypeAdapter(model).validate_python(item), []
    except ValidationError as exc:
        issues = issues_from(exc, path)
        if not isinstance(item, dict):
            return None, issues
        bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
        try:
            return TypeAdapter(model).validate_python(
                {k: v for k, v in item.items() if k not in bad}), issues
        except ValidationError:
            return None, issues


def json_type_issues(section: str, item: Any, path: str) -> list[Issue]:
    """The values of an item of ``section`` (``rooms``, ``clinic``, …) whose JSON type is not
    the format's, though validation converts them for a file written by hand: ``true`` or
    ``"4"`` for a number, ``1`` for a flag, ``0`` for a date. A JSON request (the HTTP API,
    whose OpenAPI document gives each field's type, JSON Schema's) is refused them; ``3.0``
    for a whole number is JSON Schema's integer and passes. Other problems are
    ``validate_scenario``'s, which reports them with the same paths."""
    model = _SECTIONS.get(section) or _SINGLES[section]
    try:
        TypeAdapter(model).validate_json(json.dumps(item), strict=True)
    except ValidationError as exc:
        lenient = {i.path for i in validate_item(model, item, path)[1]}
        return [Issue(where, f"must be {_JSON_TYPES.get(e['type'], 'of another type')}, "
                             f"not {json.dumps(e['input'])}")
                for e in exc.errors() if (where := _path(e["loc"], path)) not in lenient
                and not _integral(e)]
    return []


def _integral(error: Any) -> bool:
    """``3.0`` for an integer: JSON Schema's integer too, though not pydantic's strict one."""
    value = error["input"]
    return (error["type"] == "int_type" and isinstance(value, float)
            and value.is_integer())


_JSON_TYPES = {"int_type": "a whole number", "float_type": "a number",
               "bool_type": "true or false", "string_type": "text",
               "date_type": 'a date written "YYYY-MM-DD"',
               "datetime_type": 'a time written "YYYY-MM-DDTHH:MM"',
               "list_type": "a list", "tuple_type": "a list", "dict_type": "an object",
               "model_type": "an object"}


def scenario_json_type_issues(data: Any) -> list[Issue]:
    """``json_type_issues`` of every section of a scenario sent as JSON."""
    if not isinstance(data, dict):
        return []  # validate_scenario says what it must be
    issues = ([Issue("version", f"must be 1, not {json.dumps(data['version'])}")]
              if isinstance(data.get("version"), bool) else [])  # True == 1 in Python
    issues += [i for key in _SINGLES if data.get(key) is not None
              for i in json_type_issues(key, data[key], key)]
    for key in _SECTIONS:
        if isinstance(data.get(key), list):
            issues += [i for n, item in enumerate(data[key])
                       for i in json_type_issues(key, item, f"{key}[{n}]")]
    return issues


def _duplicates(section: str, items: list[tuple[int, Any]]) -> list[Issue]:
    counts = Counter(x.id for _, x in items)
    return [Issue(f"{section}[{i}].id", f"'{x.id}' is used more than once in {section}")
            for i, x in items if counts[x.id] > 1]


def cross_check(parsed: dict[str, Any]) -> list[Issue]:
    """References between sections: every id named must exist and fit."""
    issues: list[Issue] = []
    zone = parsed.get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            issues.append(Issue("clinic.timezone", f"'{zone}' is not an IANA time "
                                                   "zone name such as America/New_York"))
    protocols = {p.id: p for _, p in parsed["protocols"]}
    rooms = {r.id: r for _, r in parsed["rooms"]}
    staff = {s.id: s for _, s in parsed["staff"]}
    patients = {p.id: p for _, p in parsed["patients"]}
    for section in _SECTIONS:
        issues += _duplicates(section, parsed[section])
    roles = {s.role for s in staff.values()}
    # A role nobody has matters for a protocol someone is treated with: a roster entered one
    # member at a time (the pages) would otherwise refuse its first prescriber while a library
    # protocol wants a nurse, and a clinic whose protocols want a nurse and a therapist could
    # take neither first. With courses, any protocol may be a step: all are in use.
    used = set(protocols) if parsed["courses"] else {
        pid for _, pt in parsed["patients"] for pid in (
            pt.protocol, *([pt.step.protocol] if pt.step is not None else []),
            *([pt.follow_up.protocol] if pt.follow_up is not None else []))}
    for i, p in parsed["protocols"]:
        names = [ph.name for ph in p.phases]
        where = f"protocols[{i}]"
        for j, name in enumerate(names):
            if names.count(name) > 1 and names.index(name) == j:
                issues.append(Issue(f"{where}.phases[{j}].name",
                                    f"phase '{name}' appears more than once"))
        keys = Counter(n.name for n in p.staff)
        for j, need in enumerate(p.staff):
            if keys[need.name] > 1:
                issues.append(Issue(f"{where}.staff[{j}].key", f"two staff entries share the "
                                    f"key '{need.name}'; give each a distinct key"))
            for phase in need.modes:
                if phase not in names:
                    issues.append(Issue(f"{where}.staff[{j}].modes.{phase}",
                                        f"'{phase}' is not a phase of {p.id} "
                                        f"(phases: {', '.join(names)})"))
            if staff and need.role not in roles and p.id in used:
                issues.append(Issue(f"{where}.staff[{j}].role",
                                    f"no staff member has the role '{need.role}'"))
        for j, rule in enumerate(p.on_site):
            for phase in rule.phases:
                if phase not in names:
                    issues.append(Issue(f"{where}.on_site[{j}].phases",
                                        f"'{phase}' is not a phase of {p.id} "
                                        f"(phases: {', '.join(names)})"))
        for j, rev in enumerate(p.revisions):
            if [ph.name for ph in rev.phases] != names:
                issues.append(Issue(f"{where}.revisions[{j}].phases", "must list the same phases "
                                    f"in the same order ({', '.join(names)}), with new minutes"))
        if p.video and p.room_features:
            issues.append(Issue(f"{where}.room_features", f"{p.id} is a video session and "
                                "takes no room; leave room_features empty"))
        if p.dose_phase is not None and p.dose_phase not in names:
            issues.append(Issue(f"{where}.dose_phase", f"'{p.dose_phase}' is not a phase of "
                                                       f"{p.id}"))
        elif p.requires_rems:
            for path, phases in [(f"{where}.phases", p.phases), *(
                    (f"{where}.revisions[{j}].phases", r.phases)
                    for j, r in enumerate(p.revisions))]:
                problem = rems_problem(p, phases)
                if problem is not None:
                    issues.append(Issue(path, problem))
    def known(path: str, protocol: str) -> bool:
        """Whether ``protocol`` exists; if not, says so at ``path``."""
        if protocol not in protocols:
            issues.append(Issue(path, f"unknown protocol '{protocol}'{_choices(protocols)}"))
        return protocol in protocols

    for i, p in parsed["patients"]:
        where = f"patients[{i}]"
        known(f"{where}.protocol", p.protocol)
        step = p.step
        if (step is not None and known(f"{where}.step.protocol", step.protocol)
                and step.protocol == p.protocol):
            issues.append(Issue(f"{where}.step.protocol", f"'{p.protocol}' is already "
                                f"{p.id}'s protocol; a step names the next one"))
        follow = p.follow_up
        if (follow is not None and known(f"{where}.follow_up.protocol", follow.protocol)
                and follow.protocol in (p.protocol, step.protocol if step else None)):
            issues.append(Issue(f"{where}.follow_up.protocol", f"'{follow.protocol}' is "
                                f"also {p.id}'s session protocol; a follow-up needs a "
                                "protocol of its own"))
        for j, sid in enumerate(p.preferred_staff):
            if sid not in staff:
                issues.append(Issue(f"{where}.preferred_staff[{j}]", f"unknown staff '{sid}'"))
        if p.earliest and p.latest and p.latest < p.earliest:
            issues.append(Issue(f"{where}.latest", f"{p.latest} is before earliest "
                                                   f"{p.earliest}"))
        weeks = Counter(w.week for w in p.per_week)
        for j, w in enumerate(p.per_week):
            if weeks[w.week] > 1:
                issues.append(Issue(f"{where}.per_week[{j}].week",
                                    f"{w.week} is listed more than once"))
        if p.rems is not None and p.rems_enrolled is False:
            issues.append(Issue(f"{where}.rems_enrolled", "is false, but a REMS enrollment "
                                f"number is recorded ({p.rems.number}); remove one of them"))
        horizon = parsed.get("horizon")
        if horizon is not None and p.date_of_birth and p.date_of_birth > horizon.start:
            issues.append(Issue(f"{where}.date_of_birth", f"{p.date_of_birth} is after the "
                                f"horizon starts ({horizon.start})"))
        if horizon is not None and p.last_session and p.last_session >= horizon.start:
            issues.append(Issue(f"{where}.last_session", f"{p.last_session} is not before the "
                                f"horizon starts ({horizon.start}); list it under fixed"))
    horizon = parsed.get("horizon")
    issues += course_issues(parsed["patients"], parsed["courses"], set(protocols),
                            horizon.start if horizon is not None else None)
    local: tzinfo = UTC  # to order fixed appointments (a broken zone is reported above)
    with contextlib.suppress(KeyError, AttributeError, ZoneInfoNotFoundError, ValueError):
        local = ZoneInfo(parsed["clinic"].timezone)
    if not any(i.path.startswith(("patients", "courses")) for i in issues):
        patients = with_extensions(patients, parsed["courses"], set(protocols),
                                   horizon.start if horizon is not None else None,
                                   horizon.days if horizon is not None else 7)
    own = fixed_protocols(patients, [a for _, a in parsed["fixed"]], local)
    for i, a in parsed["fixed"]:
        where = f"fixed[{i}]"
        if a.patient not in patients:
            issues.append(Issue(f"{where}.patient", f"unknown patient '{a.patient}'"))
        patient = patients.get(a.patient)
        if (patient is not None and patient.discharged is not None
                and a.start.date() >= patient.discharged):
            issues.append(Issue(f"{where}.patient", f"{a.patient} was discharged on "
                                f"{patient.discharged}; this session is on or after it"))
        protocol = protocols.get(own.get(a.id, patient.protocol)) if patient else None
        if patient is not None and a.protocol is not None and a.protocol != own.get(a.id):
            issues.append(Issue(f"{where}.protocol", f"'{a.protocol}' is not {a.patient}'s "
                                f"follow-up protocol nor this session's protocol by its place "
                                f"('{own.get(a.id)}')"))
        video = protocol is not None and protocol.video
        if not a.room and not video:
            issues.append(Issue(f"{where}.room", "is required"))
        elif a.room and video:
            issues.append(Issue(f"{where}.room", f"{protocol.id if protocol else ''} is a video "
                                "session and takes no room; leave room out"))
        elif a.room and a.room not in rooms:
            issues.append(Issue(f"{where}.room", f"unknown room '{a.room}'{_choices(rooms)}"))
        for key, sid in a.staff.items():
            if sid not in staff:
                issues.append(Issue(f"{where}.staff.{key}", f"unknown staff '{sid}'"))
        if protocol is not None:
            wanted = {n.name for n in protocol.staff}
            for key in a.staff.keys() - wanted:
                issues.append(Issue(f"{where}.staff.{key}", f"{protocol.id} has no staff entry "
                                    f"'{key}' (entries: {', '.join(sorted(wanted)) or 'none'})"))
            for key in wanted - a.staff.keys():
                issues.append(Issue(f"{where}.staff", f"names nobody for '{key}'"))
    return issues


REMS_MONITORING_MINUTES = 120
"""Spravato REMS: patients are monitored at least 2 hours after dosing, a prescriber on site."""


def rems_problem(protocol: ProtocolSpec, phases: list[PhaseSpec]) -> str | None:
    """Why ``phases`` of a REMS protocol are unsafe, or None: at least 120 minutes of phases
    right after the dose phase, each covered by an on-site prescriber entry."""
    covered = {ph for rule in protocol.on_site if rule.role == "prescriber" for ph in rule.phases}
    names = [ph.name for ph in phases]
    if protocol.dose not in names:
        return None  # reported as an unknown dose phase
    minutes = 0
    for ph in phases[names.index(protocol.dose) + 1:]:
        if ph.name not in covered:
            break
        minutes += ph.minutes
    if minutes >= REMS_MONITORING_MINUTES:
        return None
    return (f"{protocol.id} requires the REMS, so the phases right after its dose phase "
            f"'{protocol.dose}' must keep at least {REMS_MONITORING_MINUTES} minutes with an "
            f"on-site prescriber (on_site role prescriber); they keep {minutes}")


def _choices(known: dict[str, Any]) -> str:
    if not known or len(known) > 12:
        return ""
    return f" (known: {', '.join(sorted(known))})"
