"""Every change is a version: the versions page and its diffs, whether the published week still
keeps every rule under the clinic's current data (and the re-plan it offers), and the manager's
audit page, on SQLite and on PostgreSQL; the audit log's clinic (migration 0009)."""

from __future__ import annotations

from sqlalchemy import JSON, column, table, text
from sqlalchemy import inspect as sa_inspect

from scheduler.storage.db import connect, downgrade, upgrade


def test_migration_0009_traces_each_audit_entry_to_its_clinic(database_url: str) -> None:
    """A scenario's, a schedule's, a job's, a feed link's and a membership's entries get their
    clinic; an account's own (a password change) and a deleted clinic's get none; down and up
    again keeps the log."""
    engine = connect(database_url)
    upgrade(engine, "0007")
    with engine.begin() as db:
        db.execute(text("INSERT INTO organizations (id, name, created_at) VALUES "
                        "(2, 'o', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO clinics (id, organization_id, slug, name, created_at) "
                        "VALUES (7, 2, 'c', 'c', '2026-12-01 00:00:00'), "
                        "(8, 2, 'd', 'd', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO scenario_versions (id, clinic_id, number, data, created_at)"
                        " VALUES (7, 8, 1, '{}', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO schedules (id, clinic_id, scenario_version_id, status, "
                        "row_version, meta, created_at) VALUES (70, 8, 7, 'draft', 1, '{}', "
                        "'2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO jobs (id, clinic_id, kind, status, params, created_at) "
                        "VALUES ('j1', 7, 'solve', 'done', '{}', '2026-12-01 00:00:00')"))
        db.execute(text("INSERT INTO feed_tokens (id, clinic_id, kind, subject, token_hash, "
                        "created_at) VALUES (5, 8, 'patient', 'P1', 'h', "
                        "'2026-12-01 00:00:00')"))
        entries = [(1, "change", "scenario", "7", None), (2, "publish", "schedule", "70", None),
                   (3, "queue", "job", "j1", None), (4, "issue", "feed_token", "5", None),
                   (5, "membership", "user", "3", {"clinic_id": 8, "role": "manager"}),
                   (6, "change_password", "user", "3", None),
                   (7, "delete", "clinic", "99", None), (8, "create", "schedule", "71", None)]
        log = table("audit_log", column("id"), column("at"), column("action"),
                    column("entity"), column("entity_id"), column("after", JSON()))
        db.execute(log.insert(), [
            {"id": id_, "at": "2026-12-01 00:00:00", "action": action, "entity": entity,
             "entity_id": entity_id, "after": after} for id_, action, entity, entity_id, after
            in entries])
    upgrade(engine, "0009")
    with engine.connect() as db:
        found: dict[int, int | None] = dict(db.execute(text(
            "SELECT id, clinic_id FROM audit_log")).all())
    assert found == {1: 7, 2: 8, 3: 7, 4: 8, 5: 8, 6: None, 7: None, 8: None}
    with engine.begin() as db:  # a deleted clinic's entries keep what was done, not the clinic
        db.execute(text("DELETE FROM jobs WHERE clinic_id = 7"))
        db.execute(text("DELETE FROM clinics WHERE id = 7"))
        assert db.execute(text("SELECT clinic_id FROM audit_log WHERE id = 1")).scalar() is None
    downgrade(engine, "0007")
    with engine.connect() as db:
        assert "clinic_id" not in {c["name"] for c in sa_inspect(db).get_columns("audit_log")}
        assert db.execute(text("SELECT COUNT(*) FROM audit_log")).scalar() == 8
    upgrade(engine, "0009")
    engine.dispose()
