"""Clinics and their scenario data (contract v1), versioned: read, replace, import, and the
sections of a scenario (rooms, staff, protocols, patients) one item at a time. Every write is
a new version of the clinic's scenario, validated whole. An admin creates a clinic, exports
one whole and deletes one whole."""

from __future__ import annotations

import copy
import io
import re
from typing import Any

from sqlalchemy.orm import Session

from scheduler.errors import Conflict, Forbidden, InvalidInput, Issue, NotFound
from scheduler.model import Scenario
from scheduler.service import access
from scheduler.storage import repo
from scheduler.storage.tables import Clinic, ScenarioVersion, User, now
from scheduler.usecases import with_patients_csv
from scheduler.usecases.roll import raw_scenario
from scheduler.validate import (
    json_type_issues,
    parse_text,
    scenario_json_type_issues,
    validate_scenario,
)

__all__ = ["add_item", "clinic", "clinics", "create", "delete", "export", "import_patients",
           "import_scenario", "item", "items", "remove_item", "replace_item", "replace_scenario",
           "scenario", "slug_issues", "version"]

Item = dict[str, Any]
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def clinics(session: Session, user: User | None = None) -> list[Clinic]:
    """Every clinic; with ``user``, the clinics it holds a role in."""
    return repo.clinics(session) if user is None else access.clinics_of(session, user)


def create(session: Session, slug: str, by: User, scenario: dict[str, Any] | None = None,
           name: str | None = None) -> Clinic:
    """A new clinic of ``by``'s organization (an admin's): its scenario as given, or the
    embedded demo clinic's rooms, staff and protocols without patients; ``name`` in
    ``clinic.name``."""
    if not by.admin:
        raise Forbidden("only an admin creates clinics")
    if issues := slug_issues(session, slug):
        raise InvalidInput(issues)
    data = copy.deepcopy(scenario) if scenario is not None else {
        **raw_scenario(None), "patients": [], "fixed": [], "courses": []}
    if name is not None:
        if not isinstance(data.get("clinic"), dict):
            raise InvalidInput([Issue("scenario.clinic", "is required")])
        data["clinic"]["name"] = name
    created = repo.add_clinic(session, slug, data, by)
    repo.audit(session, by, "create", "clinic", created.id, None,
               {"slug": slug, "name": created.name}, clinic_id=created.id)
    session.commit()
    return created


def slug_issues(session: Session, slug: str) -> list[Issue]:
    """What is wrong with ``slug`` as a new clinic's (nothing: an empty list)."""
    if not SLUG.fullmatch(slug):
        return [Issue("slug", "must be 1 to 64 lower-case letters, digits and hyphens, "
                              "starting with a letter or digit")]
    if any(c.slug == slug for c in repo.clinics(session)):
        return [Issue("slug", f"is taken: a clinic '{slug}' exists already")]
    return []


def export(session: Session, clinic_id: int, by: User) -> dict[str, Any]:
    """Everything of one clinic as JSON-ready data (an admin's): its scenario versions,
    schedules (contract v1 documents), jobs, feed links (never their tokens) and
    memberships."""
    access.require(session, by, clinic_id, ("admin",))
    found = repo.clinic(session, clinic_id)
    schedules = [{"id": r.id, "status": r.status, "number": r.number,
                  "based_on": r.based_on_id, "created_at": r.created_at.isoformat(),
                  "published_at": r.published_at.isoformat() if r.published_at else None,
                  "changes": r.changes,
                  "schedule": repo.to_schedule(r).model_dump(mode="json", exclude_none=True)}
                 for r in repo.schedules(session, clinic_id)]
    return {
        "format": "chairtime-clinic-export/1", "exported_at": now().isoformat(),
        "clinic": {"id": found.id, "slug": found.slug, "name": found.name,
                   "created_at": found.created_at.isoformat()},
        "scenario_versions": [{"number": v.number, "created_at": v.created_at.isoformat(),
                               "data": v.data} for v in repo.scenario_versions(session,
                                                                               clinic_id)],
        "schedules": schedules,
        "jobs": [{"id": j.id, "kind": j.kind, "status": j.status, "params": j.params,
                  "result_schedule_id": j.result_schedule_id, "result": j.result,
                  "error": j.error, "created_at": j.created_at.isoformat(),
                  "finished_at": j.finished_at.isoformat() if j.finished_at else None}
                 for j in repo.jobs_of(session, clinic_id, limit=None)],
        "feed_links": [{"kind": t.kind, "subject": t.subject,
                        "created_at": t.created_at.isoformat(),
                        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                       for t in repo.feed_tokens(session, clinic_id)],
        "memberships": [{"email": email, "role": m.role, "staff_id": m.staff_id}
                        for m, email in repo.memberships_of(session, clinic_id)],
    }


def delete(session: Session, clinic_id: int, confirm: str, by: User) -> None:
    """Delete a clinic with everything of it (scenario versions, schedules, jobs, feeds and
    their links, memberships; an admin's); ``confirm`` must be its slug. The audit log keeps
    the deletion."""
    access.require(session, by, clinic_id, ("admin",))
    found = repo.clinic(session, clinic_id)
    if confirm != found.slug:
        raise InvalidInput([Issue("confirm", f"must be the clinic's slug ('{found.slug}') to "
                                             "delete it with all its data")])
    repo.audit(session, by, "delete", "clinic", found.id,
               {"slug": found.slug, "name": found.name}, None, clinic_id=found.id)
    repo.delete_clinic(session, found)
    session.commit()


def clinic(session: Session, clinic_id: int) -> Clinic:
    """The clinic (NotFound when there is none of that id)."""
    return repo.clinic(session, clinic_id)


def version(session: Session, clinic_id: int, number: int | None = None) -> ScenarioVersion:
    """The clinic's latest scenario version, or version ``number``."""
    return repo.scenario_version(session, repo.clinic(session, clinic_id).id, number)


def scenario(session: Session, clinic_id: int) -> tuple[ScenarioVersion, Scenario]:
    """The clinic's latest scenario version, and that version read as a scenario."""
    current = version(session, clinic_id)
    return current, repo.scenario_of(current)


def replace_scenario(session: Session, clinic_id: int, data: dict[str, Any] | Scenario,
                     by: User, expected: int | None = None, *, strict: bool = False
                     ) -> ScenarioVersion:
    """A new scenario version (a 409 when ``expected`` is not the latest one). ``strict``:
    the data came as JSON (the API), whose values must have the format's JSON types."""
    if strict:
        _refuse(scenario_json_type_issues(data), data)
    added = repo.add_scenario_version(session, repo.clinic(session, clinic_id), data, by,
                                      expected)
    session.commit()
    return added


def import_scenario(session: Session, clinic_id: int, raw: bytes, filename: str, by: User
                    ) -> ScenarioVersion:
    """A scenario file (YAML, or JSON by its name) as the clinic's new version."""
    try:
        data = parse_text(raw.decode("utf-8"), json_=filename.lower().endswith(".json"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput([Issue(filename, f"is not valid YAML or JSON: {exc}")]) from exc
    return replace_scenario(session, clinic_id, data, by)


def import_patients(session: Session, clinic_id: int, raw: bytes, filename: str, by: User
                    ) -> ScenarioVersion:
    """The patients of a front-desk CSV export in place of the scenario's."""
    current = version(session, clinic_id)
    data = with_patients_csv(current.data, io.BytesIO(raw), filename)
    return replace_scenario(session, clinic_id, data, by)


# ----------------------------------------------------------------------------- one section
def items(session: Session, clinic_id: int, section: str) -> tuple[ScenarioVersion, list[Item]]:
    """The latest version and a copy of its ``section``'s items."""
    current = version(session, clinic_id)
    return current, copy.deepcopy(current.data.get(section, []))


def item(session: Session, clinic_id: int, section: str, singular: str, item_id: str) -> Item:
    found = next((x for x in items(session, clinic_id, section)[1] if x.get("id") == item_id),
                 None)
    if found is None:
        raise NotFound(singular, item_id)
    return found


def _refuse(issues: list[Issue], data: Any) -> None:
    """Raise ``issues`` (none: nothing) with the rest of the scenario's problems: every one at
    once."""
    if not issues:
        return
    try:
        validate_scenario(copy.deepcopy(data))
    except InvalidInput as exc:
        seen = {i.path for i in issues}
        issues = issues + [i for i in exc.issues if i.path not in seen]
    raise InvalidInput(issues)


def _an_object(item: Any, path: str, singular: str) -> None:
    if not isinstance(item, dict):
        raise InvalidInput([Issue(path, f"must be an object: a {singular} as in the scenario "
                                        "file")])


def _with(current: ScenarioVersion, section: str, new: list[Item]) -> dict[str, Any]:
    return {**copy.deepcopy(current.data), section: new}


def _store(session: Session, clinic_id: int, current: ScenarioVersion, section: str,
           new: list[Item], by: User, expected: int | None) -> None:
    replace_scenario(session, clinic_id, _with(current, section, new), by,
                     expected if expected is not None else current.number)


def add_item(session: Session, clinic_id: int, section: str, singular: str, new: Item,
             by: User, expected: int | None, *, strict: bool = False) -> Item:
    """``new`` at the end of ``section`` (a 409 when its id is taken). ``strict``: it came
    as JSON, whose values must have the format's JSON types."""
    current, listed = items(session, clinic_id, section)
    path = f"{section}[{len(listed)}]"
    _an_object(new, path, singular)
    if strict:
        _refuse(json_type_issues(section, new, path), _with(current, section, [*listed, new]))
    if any(x.get("id") == new.get("id") for x in listed):
        raise Conflict(f"{singular} '{new.get('id')}' exists already; PUT replaces it")
    _store(session, clinic_id, current, section, [*listed, new], by, expected)
    return new


def replace_item(session: Session, clinic_id: int, section: str, singular: str, item_id: str,
                 new: Item, by: User, expected: int | None, *, strict: bool = False) -> Item:
    """``new`` in place of the item ``item_id`` (its ``id`` may be left out). ``strict``: as
    for ``add_item``."""
    current, listed = items(session, clinic_id, section)
    index = next((i for i, x in enumerate(listed) if x.get("id") == item_id), None)
    if index is None:
        raise NotFound(singular, item_id)
    path = f"{section}[{index}]"
    _an_object(new, path, singular)
    if new.get("id", item_id) != item_id:
        raise InvalidInput([Issue("body.id", f"is '{new.get('id')}' but the path names "
                                             f"'{item_id}'")])
    listed[index] = {**new, "id": item_id}
    if strict:
        _refuse(json_type_issues(section, listed[index], path), _with(current, section, listed))
    _store(session, clinic_id, current, section, listed, by, expected)
    return listed[index]


def remove_item(session: Session, clinic_id: int, section: str, singular: str, item_id: str,
                by: User, expected: int | None) -> None:
    """The item goes (a new version); a patient with sessions in any stored schedule is a
    Conflict: discharged, never deleted, while they have history."""
    current, listed = items(session, clinic_id, section)
    kept = [x for x in listed if x.get("id") != item_id]
    if len(kept) == len(listed):
        raise NotFound(singular, item_id)
    if section == "patients" and repo.has_sessions(session, clinic_id, item_id):
        raise Conflict(f"patient '{item_id}' has sessions in the clinic's schedules: discharge "
                       "them instead (their discharged date), so that their history stays")
    _store(session, clinic_id, current, section, kept, by, expected)
