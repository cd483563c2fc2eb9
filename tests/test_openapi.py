"""The OpenAPI document tells the truth: schemathesis generates requests for every operation
from it and checks that no answer is a 500 and every answer matches the schema."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from scheduler.api.app import create_app
from scheduler.security import hash_password
from scheduler.settings import Settings
from scheduler.storage import repo
from scheduler.storage.db import session_scope
from scheduler.validate import validate_scenario
from tests.test_service import small_clinic

TOKEN: dict[str, str] = {}
CALLS: list[int] = []
# Left out, on purpose: "positive data acceptance" (a schema-valid scenario can still break
# the contract's cross-references, e.g. an unknown protocol: a 422 naming the field is right).
CONFIG = """
[checks]
positive_data_acceptance.enabled = false
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    folder: Path = tmp_path_factory.mktemp("openapi")
    app: FastAPI = create_app(Settings(data_dir=folder, time_limit=1), run_jobs=False)
    schema = schemathesis.openapi.from_asgi(  # starts the app's lifespan
        "/openapi.json", app, config=SchemathesisConfig.from_str(CONFIG))
    with session_scope(app.state.sessions) as session:
        user = repo.add_user(session, "fuzz@example.org", hash_password("x" * 16), "admin")
        TOKEN["admin"] = repo.issue_token(session, user, 60)[0]
        repo.add_scenario_version(session, repo.clinic(session, 1),
                                  validate_scenario(small_clinic()))
    yield schema
    logging.getLogger(__name__).warning("schemathesis sent %d requests", len(CALLS))


schema = schemathesis.pytest.from_fixture("api")
pytestmark = [pytest.mark.slow, pytest.mark.db]  # the service on a SQLite file


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case[Any]) -> None:
    CALLS.append(1)
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN['admin']}"})
