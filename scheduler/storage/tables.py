"""The database tables (SQLAlchemy 2, typed ORM): organizations and their clinics with versioned
scenario data, schedules as drafts and published versions with their appointments, users with a
role per clinic (memberships), access tokens, jobs, the audit log, and calendar feeds (tokens,
published bodies, event history). Every instant is stored as UTC (a naive UTC column, read back
as aware UTC), so SQLite and PostgreSQL store the same thing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("front_desk", "manager", "admin")
"""Who may do what in a clinic: a membership's role, or ``admin`` for an organization's
admins (every clinic of the organization)."""
CLINIC_ROLES = ("front_desk", "manager")
"""A membership's roles (an admin is one by the organization, not by a membership)."""
SCHEDULE_STATES = ("draft", "published")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FEED_KINDS = ("patient", "staff", "room", "clinic")
OUTBOX_STATES = ("held", "pending", "sending", "sent", "failed", "dropped", "skipped")
"""A message's life: ``held`` (a change notice waiting out its hold), ``pending`` (to send at
``send_after``), ``sending`` (claimed by a sender until ``claimed_until``), then ``sent``,
``failed`` (given up: shown to the desk), ``dropped`` (a held notice whose changes were
undone within the hold: nothing to say) or ``skipped`` (a reminder for a patient with no
e-mail address: kept so that the next rounds do not look again)."""


class UTCDateTime(TypeDecorator[datetime]):
    """An aware instant in, stored as naive UTC, an aware UTC instant out."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give an aware instant")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Organization(Base):
    """A clinic operator: its clinics, its accounts; nothing is shared between two."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)


class User(Base):
    """An account of one organization: its admin (``admin``) or a member of some of its clinics
    (``memberships``, each with a role and the staff member the account is there)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(default=False)
    """The organization's admin: every role in every clinic of it, and its accounts."""
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    """A one-time password (first start, an admin's reset): nothing but changing it works."""
    password_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Membership.clinic_id",
        lazy="selectin")


class Membership(Base):
    """An account's role in one clinic, and which of the clinic's staff (``staff[].id``) the
    account is there (its holder may take a link to that staff member's own feed)."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint(f"role IN {CLINIC_ROLES}", name="role"),
                      UniqueConstraint("user_id", "clinic_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[User] = relationship(back_populates="memberships")


class AccessToken(Base):
    """A short-lived bearer token (an API client's, or a page session's cookie); only its SHA-256
    is stored. Signing out sets ``expires_at`` to the moment."""

    __tablename__ = "access_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime | None] = mapped_column(default=now)
    user: Mapped[User] = relationship(lazy="joined")


class Clinic(Base):
    __tablename__ = "clinics"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)


class ScenarioVersion(Base):
    """A clinic's scenario data (contract v1) as of one change; never edited, only added."""

    __tablename__ = "scenario_versions"
    __table_args__ = (UniqueConstraint("clinic_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    number: Mapped[int]
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ScheduleRow(Base):
    """A schedule of one clinic: a draft (editable; ``row_version`` guards concurrent writes) or a
    published version (``number`` 1, 2, …; immutable)."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint(f"status IN {SCHEDULE_STATES}", name="status"),
        UniqueConstraint("clinic_id", "number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    scenario_version_id: Mapped[int] = mapped_column(ForeignKey("scenario_versions.id"))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    number: Mapped[int | None]
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    """Raised by one on every write; a writer names the version it read (``repo.claim_draft``)."""
    meta: Mapped[dict[str, Any]]
    """schedule.json without its appointments: scenario, generated_at, solver, unplaced, kpis."""
    changes: Mapped[list[Any] | None]
    """A re-plan's change list against ``based_on``."""
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"))
    made_from_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"))
    """The published version this one was made from (migration 0007): for a draft, the
    clinic's latest published version when its solve or re-plan began (a re-plan's base, or
    its base's); for a published version, the one it replaced. None: nothing was published
    then. A draft whose ``made_from`` is no longer the latest published is superseded: it can
    be neither edited nor published (``repo.superseded``)."""
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None]
    appointments: Mapped[list[AppointmentRow]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan",
        order_by="AppointmentRow.start_at")


class AppointmentRow(Base):
    __tablename__ = "appointments"
    __table_args__ = (UniqueConstraint("schedule_id", "ref"),
                      Index("ix_appointments_room_start", "schedule_id", "room", "start_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(64))
    """The appointment's stable id in schedule.json (``A-0001``)."""
    patient: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(64))
    room: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """None for a video session (it takes no room; migration 0004)."""
    staff: Mapped[dict[str, Any]]
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    phases: Mapped[list[Any]]
    rems_form_due: Mapped[date | None]
    """The REMS monitoring form's due date, for a session of a REMS protocol."""
    schedule: Mapped[ScheduleRow] = relationship(back_populates="appointments")


class Job(Base):
    """A long task (a solve, a re-plan, a what-if, a simulation) run by a worker process;
    polled by its id."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(f"status IN {JOB_STATES}", name="status"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    params: Mapped[dict[str, Any]]
    progress: Mapped[dict[str, Any] | None]
    result_schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"))
    result: Mapped[dict[str, Any] | None]
    """A result that is data, not a schedule (a simulation's figures; migration 0005)."""
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AuditEntry(Base):
    """Who did what, when, and the state before and after; the clinic it was done in (none: an
    account's own business), so a clinic's managers read its entries and no other's."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    clinic_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinics.id", ondelete="SET NULL"), index=True)
    """The clinic (migration 0009); a deleted clinic's entries lose it, keeping what was done."""
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class FeedToken(Base):
    """A capability for one calendar feed (a patient's, a staff member's, a room's, the
    clinic's): only the token's SHA-256 is stored. Revoked and rotated-away tokens stay, with
    ``revoked_at``; at most one live token per feed (a partial unique index)."""

    __tablename__ = "feed_tokens"
    __table_args__ = (
        CheckConstraint(f"kind IN {FEED_KINDS}", name="kind"),
        Index("ix_feed_tokens_live", "clinic_id", "kind", "subject", unique=True,
              sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    subject: Mapped[str] = mapped_column(String(64))
    """The patient's, staff member's or room's id; empty for the clinic's feed."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class FeedBody(Base):
    """One feed's bytes as rendered from the clinic's latest published version: what
    ``GET /feeds/{token}.ics`` serves. ``etag`` is the body's SHA-256; ``last_modified`` moves
    only when the body changes, and never backwards."""

    __tablename__ = "feed_bodies"
    __table_args__ = (
        CheckConstraint(f"kind IN {FEED_KINDS}", name="kind"),
        UniqueConstraint("clinic_id", "kind", "subject"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    subject: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(64))
    last_modified: Mapped[datetime]
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"))
    """The published version it was rendered from (None: before any publish)."""


class FeedState(Base):
    """A clinic's published event history (calendars' ``advance`` state: each event's
    sequence, last change and cancellation), continued from version to version."""

    __tablename__ = "feed_state"
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"),
                                           primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"))
    """The published version the state reflects."""
    events: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=now)


class OutboxMessage(Base):
    """A message to a patient or a staff member, written in the transaction of the change that
    causes it (a change notice) or by the reminders job, and sent by the outbox job: claimed
    (``sending`` until ``claimed_until``, committed) before it is handed to the mail server,
    so a sender killed between the claim and the send leaves it to be sent once after the
    claim runs out (migration 0010). ``key`` is its idempotency key: one message per key."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(f"status IN {OUTBOX_STATES}", name="status"),
        Index("ix_outbox_due", "status", "send_after"),
        Index("ix_outbox_held", "clinic_id", "kind", "subject", unique=True,
              sqlite_where=text("status = 'held'"),
              postgresql_where=text("status = 'held'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    """``patient-notice``, ``staff-notice``, ``reminder`` or ``link``."""
    channel: Mapped[str] = mapped_column(String(12), default="email")
    subject: Mapped[str] = mapped_column(String(64))
    """The patient's or staff member's id in the clinic's scenario."""
    status: Mapped[str] = mapped_column(String(12))
    send_after: Mapped[datetime]
    """Not before this instant; for a held notice, the last change it gathers (it is released
    the hold after it)."""
    baseline: Mapped[dict[str, Any] | None]
    """A held notice's subject's sessions as they were before the first change it gathers."""
    to_address: Mapped[str | None] = mapped_column(String(254))
    title: Mapped[str | None] = mapped_column(String(300))
    """The message's Subject line."""
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[Any] | None]
    """``[{"filename", "content_type", "data"}]``, data as text (an ``.ics``)."""
    unsubscribe_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    """SHA-256 of the one-click unsubscribe token of a reminder (made when it is claimed;
    the token itself is only in the message sent)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    sent_at: Mapped[datetime | None]


class MailOptOut(Base):
    """A patient who asked for no more reminders (by the one-click link or at the desk)."""

    __tablename__ = "mail_optouts"
    __table_args__ = (UniqueConstraint("clinic_id", "patient"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(20))
    """``link`` (List-Unsubscribe) or ``desk``."""
    created_at: Mapped[datetime] = mapped_column(default=now)


class SelfServiceToken(Base):
    """A patient's private self-service link (a capability, like a feed's, but its own): only
    the token's SHA-256 is stored; rotated-away tokens stay with ``revoked_at``; at most one
    live token per patient (migration 0010)."""

    __tablename__ = "self_service_tokens"
    __table_args__ = (
        Index("ix_self_service_tokens_live", "clinic_id", "patient", unique=True,
              sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]


MARKS = ("arrived", "completed", "no_show")
"""What the front desk records of a published session on the day."""


class AttendanceMark(Base):
    """What happened to one published session (``appointments.ref``, stable across the live
    schedule's versions and, by the rolling solve's numbering, across weeks): arrived,
    completed or no-show (migration 0008). Clearing a mark deletes its row. ``patient`` is the
    session's patient when it was marked: a mark holds only while the ref is still that
    patient's session."""

    __tablename__ = "attendance_marks"
    __table_args__ = (CheckConstraint(f"mark IN {MARKS}", name="mark"),
                      UniqueConstraint("clinic_id", "ref"))
    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(64))
    patient: Mapped[str] = mapped_column(String(64))
    mark: Mapped[str] = mapped_column(String(12))
    marked_at: Mapped[datetime] = mapped_column(default=now)
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
