"""The OpenAPI document tells the truth: schemathesis generates requests for every operation
from it, as an admin, a manager and a front desk, on SQLite and on PostgreSQL, and runs every
check it has (max_response_time too): no answer is a 500, every answer matches the documented
status codes, media types, headers and bodies, requests the schema refuses are refused, and the
ones it allows are accepted, or answered as this role and the state of the data must answer
them (``accepted`` says which). The item and scenario bodies are their models, not "any
object" (``test_item_bodies_are_documented_as_their_models``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from scheduler.api.app import create_app
from scheduler.service.accounts import FIRST_ADMIN
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.usecases import plan_week
from solver import Options
from tests.conftest import DEMO_CLOCK, fresh_database
from tests.test_service import OWN_ACCOUNT, PUBLIC, ROUTES, small_clinic

API = "/api/v1"
ROLES = ("admin", "manager", "front_desk")
PASSWORD = "a long test password"
CALLS: list[int] = []  # requests sent, logged when a database's service stops

# Operations whose valid requests may still be refused with a 422 naming the field, for a
# rule no JSON schema can state: they compare an input with the clinic's data or one field
# with another.
CROSS_CHECKED = {
    # The item is validated inside the whole scenario: a patient's protocol must exist, a
    # room's hours lie in the clinic's, an interval ends after it starts, intervals of a day do
    # not overlap; a removal must leave no reference (a fixed appointment's room) dangling.
    **{(method, f"{API}/clinics/{{clinic_id}}/{section}{tail}"): "the whole scenario"
       for section in ("rooms", "staff", "protocols", "patients")
       for method, tail in (("POST", ""), ("PUT", "/{item_id}"), ("DELETE", "/{item_id}"))},
    ("PUT", f"{API}/clinics/{{clinic_id}}/scenario"): "the whole scenario",
    # A file's content (YAML, JSON, CSV) is a string of bytes to the schema.
    ("POST", f"{API}/clinics/{{clinic_id}}/scenario/file"): "a scenario file",
    ("POST", f"{API}/clinics/{{clinic_id}}/patients/file"): "a patients CSV export",
    # Events name the schedule's appointments, staff, rooms and patients, on dates of its week.
    ("POST", f"{API}/schedules/{{schedule_id}}/replan"): "the events' references",
    # The independent checker judges a move against the hard rules (hours, rooms, staff).
    ("POST", f"{API}/schedules/{{schedule_id}}/appointments/{{appointment_id}}/move"):
        "the hard rules",
    # The live schedule's edits are judged by the checker as a draft's move is.
    ("POST", f"{API}/clinics/{{clinic_id}}/appointments"): "the hard rules",
    ("POST", f"{API}/clinics/{{clinic_id}}/appointments/{{appointment_id}}/move"):
        "the hard rules",
    # A new clinic's slug must be free, its scenario valid whole.
    ("POST", f"{API}/clinics"): "a free slug, the whole scenario",
    # A new account's password must not be guessable (zxcvbn), its clinics the organization's.
    ("POST", f"{API}/users"): "a password not guessable, clinics of the organization",
    # A staff link names a staff member of the clinic's scenario.
    ("PUT", f"{API}/users/{{user_id}}/staff"): "the clinic's staff",
}
OFF = {
    ("POST", f"{API}/auth/signout"), ("POST", f"{API}/auth/signout-everywhere"),
    ("DELETE", f"{API}/auth/tokens/{{token_id}}"), ("POST", f"{API}/users/me/password"),
    ("POST", f"{API}/users/{{user_id}}/deactivate"),
    ("POST", f"{API}/users/{{user_id}}/reset-password"),
    ("PUT", f"{API}/users/{{user_id}}/memberships/{{member_of}}"),
    ("DELETE", f"{API}/users/{{user_id}}/memberships/{{member_of}}"),
    ("DELETE", f"{API}/clinics/{{clinic_id}}"),
}
"""Operations not fuzzed here: they end the test accounts' sessions, change their roles or
delete the clinic under the run (the caller's own token or account is a valid id they would
find). test_accounts.py tests each of them, on both databases."""


def allowed(method: str, template: str) -> set[str]:
    """The roles that may call an operation: the role table of tests/test_service.py (whose own
    test fails when an operation has no row), or all of them for a public one."""
    path = template.removeprefix(API)
    if (method, path) in PUBLIC | OWN_ACCOUNT or not template.startswith(API):
        return set(ROLES)
    pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
    rows = [roles for m, p, roles, _ in ROUTES if m == method and pattern.match(
        p.split("?")[0].replace("{draft}", "1").replace("{first}", "A-0001"))]
    assert rows, f"{method} {template} has no row in the role table"
    return set.union(*rows)


def accepted(role: str, method: str, template: str, operation: dict[str, Any]) -> list[str]:
    """The statuses a valid request (one the schema allows) may get from ``role``:
    - a role the operation is not for: 403, or the 404 of an id that does not exist where the
      path names one (a clinic the caller holds no role in does not exist for it: its ids are
      looked up before the role is checked, and answer as ids that exist nowhere);
    - otherwise success, and what the state of the data decides, where the operation documents
      it: 304 for a feed the caller has (If-None-Match), 404 for an id that does not exist
      (generated ids mostly do not), 409 for a version that is not the latest, an item that
      exists already, a job that has ended, an account with no staff link; 429 for a feed
      asked too often; 422 only for the rules in CROSS_CHECKED; and at sign-in 400 for a wrong
      password (schemathesis allows that itself: the schema cannot know who exists).
    Never 401 (the token is valid all along), never 5xx."""
    documented = set(operation["responses"])
    if role not in allowed(method, template):
        return ["403", *(["404"] if "404" in documented else [])]
    statuses = ["2xx", *(code for code in ("304", "404", "409", "429") if code in documented)]
    if (method, template) in CROSS_CHECKED:
        statuses.append("422")
    return statuses


SCENARIO = ("PUT", f"{API}/clinics/{{clinic_id}}/scenario")
NO_COVERAGE = {SCENARIO, *(("PUT", f"{API}/clinics/{{clinic_id}}/{section}/{{item_id}}")
                           for section in ("rooms", "staff", "protocols", "patients"))}
"""Operations whose bodies the coverage phase covers elsewhere: the scenario's sections are
the item routes' models; a replacement is its section's model, as the addition covers it."""
MAX_EXAMPLES = 8
"""Fuzzing examples per operation, as the admin (the other roles: half)."""


def config(role: str, token: str, document: dict[str, Any]) -> SchemathesisConfig:
    """Every check on (none is off; max_response_time given a limit), the role's token on every
    request, per operation the statuses ``accepted`` allows for valid data.

    What runs, for the time the suite may take: the coverage phase (every field's boundaries
    and wrong types, deterministically) runs as the admin, on both databases, but for
    NO_COVERAGE (2,800 of its 5,000 requests). What a role changes is who may call, not how a
    request is read: the other roles get the examples and half the fuzzing (random valid and
    invalid requests), and 2 of it where the answer is a 403 whatever the request holds. A
    whole scenario takes a second to generate: half the examples for it too."""
    examples = MAX_EXAMPLES if role == "admin" else MAX_EXAMPLES // 2

    def operation(method: str, template: str, described: dict[str, Any]) -> dict[str, Any]:
        statuses = accepted(role, method, template, described)
        tuned: dict[str, Any] = {
            "include-name": f"{method} {template}",
            "checks": {"positive_data_acceptance": {"expected-statuses": statuses}}}
        if (method, template) in OFF:
            tuned["enabled"] = False
        elif statuses[0] == "403":  # decided before the request is read: a few suffice
            tuned["generation"] = {"max-examples": 2}
        elif (method, template) == SCENARIO:
            tuned["generation"] = {"max-examples": examples // 2}
        if (method, template) in NO_COVERAGE:
            tuned["phases"] = {"coverage": {"enabled": False}}
        return tuned

    return SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        # A guard against a hung request, not a measure of speed (bench/ measures that): a
        # shared, loaded 2-core machine once took over 10 s for a trivial GET.
        "checks": {"max_response_time": 30.0},
        "request-timeout": 60,
        "phases": {"coverage": {"enabled": role == "admin"}},
        "generation": {"max-examples": examples},
        "operations": [operation(method.upper(), template, described)
                       for template, methods in document["paths"].items()
                       for method, described in methods.items()],
    })


@dataclass
class Server:
    app: FastAPI
    tokens: dict[str, str]
    document: dict[str, Any]


def accounts(client: asgi.ASGIClient, first_password: str) -> dict[str, str]:
    """A bearer token per role, each for an account made as an admin makes one
    (``POST /users``), signed in as its owner would (``POST /auth/token``)."""
    def sign_in(email: str, password: str) -> str:
        answer = client.post(f"{API}/auth/token", data={"username": email, "password": password})
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    once = sign_in(FIRST_ADMIN, first_password)
    changed = client.post(f"{API}/users/me/password", headers={"Authorization": f"Bearer {once}"},
                          json={"current_password": first_password, "new_password": PASSWORD})
    assert changed.status_code == 204, changed.text  # a one-time password: changed first
    first = once
    tokens = {}
    for role in ROLES:
        email = f"fuzz-{role}@example.org"
        made = client.post(f"{API}/users", json={"email": email, "password": PASSWORD,
                                                   "role": role},
                           headers={"Authorization": f"Bearer {first}"})
        assert made.status_code == 201, made.text
        tokens[role] = sign_in(email, PASSWORD)
    return tokens


@pytest.fixture(scope="module")
def server(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service on a fresh database of each kind: the small clinic, a solved draft of it
    (schedule 1, so generated schedule ids find one), and an account per role."""
    folder: Path = tmp_path_factory.mktemp(f"openapi-{database_kind}")
    sent = len(CALLS)
    with fresh_database(database_kind, folder) as url:
        app = create_app(Settings(data_dir=folder, database_url=url, time_limit=1,
                                  clock=DEMO_CLOCK),
                         run_jobs=False)
        try:
            with asgi.get_client(app) as client:  # type: ignore[arg-type]  # starts the lifespan
                tokens = accounts(client, app.state.first_password)
                scenario = client.put(f"{API}/clinics/1/scenario",
                                      json={"scenario": small_clinic()},
                                      headers={"Authorization": f"Bearer {tokens['manager']}"})
                assert scenario.status_code == 200, scenario.text
                document = client.get("/openapi.json").json()
            with session_scope(app.state.sessions) as session:
                version = repo.scenario_version(session, 1)
                planned = plan_week(repo.scenario_of(version),
                                    Options(time_limit=2, workers=1, soft_goals=False))
                repo.add_schedule(session, 1, version, planned.schedule)
            yield Server(app, tokens, document)
        finally:
            asgi.shutdown_lifespans()  # stops the app's job runner and closes its database
    logging.getLogger(__name__).warning("schemathesis sent %d requests to the service on %s",
                                        len(CALLS) - sent, database_kind)


def as_role(server: Server, role: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi(
        "/openapi.json", server.app, config=config(role, server.tokens[role], server.document))


# A schema and a test per role (not a parametrized fixture), so that pytest runs the three on
# one database's service before it starts the other's.
@pytest.fixture(scope="module")
def as_admin(server: Server) -> schemathesis.BaseSchema:
    return as_role(server, "admin")


@pytest.fixture(scope="module")
def as_manager(server: Server) -> schemathesis.BaseSchema:
    return as_role(server, "manager")


@pytest.fixture(scope="module")
def as_front_desk(server: Server) -> schemathesis.BaseSchema:
    return as_role(server, "front_desk")


ADMIN = schemathesis.pytest.from_fixture("as_admin")
MANAGER = schemathesis.pytest.from_fixture("as_manager")
FRONT_DESK = schemathesis.pytest.from_fixture("as_front_desk")
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck))  # examples: config


@ADMIN.parametrize()
@pytest.mark.slow  # `db` comes with the database_kind fixture
@SETTINGS
def test_every_operation_answers_an_admin_as_its_schema_says(
        case: schemathesis.Case[Any]) -> None:
    CALLS.append(1)
    case.call_and_validate()


@MANAGER.parametrize()
@pytest.mark.slow
@SETTINGS
def test_every_operation_answers_a_manager_as_its_schema_says(
        case: schemathesis.Case[Any]) -> None:
    CALLS.append(1)
    case.call_and_validate()


@FRONT_DESK.parametrize()
@pytest.mark.slow
@SETTINGS
def test_every_operation_answers_a_front_desk_as_its_schema_says(
        case: schemathesis.Case[Any]) -> None:
    CALLS.append(1)
    case.call_and_validate()


# ----------------------------------------------------------------------------- the document
@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document (no database needed to write it)."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("document")), run_jobs=False)
    return app.openapi()


def _body(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    schema: dict[str, Any] = (document["paths"][API + path][method]["requestBody"]["content"]
                              ["application/json"]["schema"])
    return schema


def _component(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


@pytest.mark.parametrize(("section", "model"), [
    ("rooms", "RoomSpec"), ("staff", "StaffSpec"), ("protocols", "ProtocolSpec"),
    ("patients", "PatientSpec")])
def test_item_bodies_are_documented_as_their_models(document: dict[str, Any], section: str,
                                                    model: str) -> None:
    """They were "any object" (``dict[str, Any]``): a client learnt nothing of an item, and
    schemathesis could not tell valid items from invalid ones. (The schema is written out in
    place; the responses' is the component.)"""
    known = _component(document, model)
    added = _body(document, "post", f"/clinics/{{clinic_id}}/{section}")
    assert (added["title"], added["properties"], added["required"]) == (
        model, known["properties"], known["required"])
    assert added["additionalProperties"] is False
    replaced = _body(document, "put", f"/clinics/{{clinic_id}}/{section}/{{item_id}}")
    assert replaced["properties"].keys() == known["properties"].keys()
    assert "id" not in replaced.get("required", [])  # the path names it


def test_the_scenario_body_is_documented_as_the_scenario(document: dict[str, Any]) -> None:
    written = _component(document, _body(document, "put", "/clinics/{clinic_id}/scenario")
                         ["$ref"].rsplit("/", 1)[-1])["properties"]["scenario"]
    assert written["properties"]["rooms"]["items"] == {"$ref": "#/components/schemas/RoomSpec"}
    assert set(written["required"]) == {"clinic", "horizon", "protocols", "rooms"}


def test_clock_times_are_documented_as_hh_mm(document: dict[str, Any]) -> None:
    """A shift's ``"08:00"`` was "any string": generated data was refused for a rule the
    document did not state."""
    hours = _component(document, "RoomSpec")["properties"]["hours"]["anyOf"][0]
    (start, end) = hours["additionalProperties"]["items"]["prefixItems"]
    assert start["pattern"] == end["pattern"] == r"^(?:([01]\d|2[0-3]):[0-5]\d|24:00)$"


def test_the_document_uses_json_schema_words_only(document: dict[str, Any]) -> None:
    """A guard: a bound named after a validator (``Annotated[Whole, Field(ge=0)]``) comes out
    as pydantic's ``ge``/``le``, which JSON Schema (and schemathesis, and client generators)
    ignore: the field looks unbounded (it happened to SimulateRequest.seed on the way)."""
    unknown = {"ge", "le", "gt", "lt", "min_length", "max_length", "multiple_of"}

    def words(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in unknown and not where.endswith(".properties"):
                    yield f"{where}.{key}"
                yield from words(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from words(value, f"{where}[{i}]")

    assert list(words(document, "")) == []
