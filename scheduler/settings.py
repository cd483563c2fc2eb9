"""The application's one settings class, read from ``CHAIRTIME_*`` environment variables.

Read once, at an entry point (the CLI's ``main``, later the service's start), and passed down:
nothing below the entry points reads the environment.

>>> Settings(time_limit=5).time_limit
5.0
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SEED_MAX", "Settings"]

SEED_MAX = 2**31 - 1
"""The largest CP-SAT random seed (an int32)."""


MIB = 1024 * 1024


def _cores() -> int:
    return max(2, os.cpu_count() or 2)


class Settings(BaseSettings):
    """Where Chairtime keeps its data and how long it searches; each field is ``CHAIRTIME_``
    plus its name in capitals (``CHAIRTIME_TIME_LIMIT=30``)."""

    model_config = SettingsConfigDict(env_prefix="CHAIRTIME_", frozen=True, extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("chairtime", appauthor=False)),
        description="Folder for the database, backups and published feeds.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default a SQLite file in data_dir.")
    time_limit: Annotated[float, Field(gt=0, le=24 * 3600)] = Field(
        default=20.0, description="Seconds a solve may search (a time limit keeps the best).")
    workers: Annotated[int, Field(ge=1, le=256)] = Field(
        default_factory=_cores, description="CP-SAT search workers per solve.")
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = Field(
        default=0, description="CP-SAT random seed (0 to 2^31 - 1).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_solves: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="Solves and re-plans the service runs at once (more wait in "
                               "the queue); a what-if analysis runs beside them, one at a time.")
    max_queued_per_user: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=5, description="Jobs (solves, re-plans, what-ifs, simulations) one account may "
        "have queued or running at once; one more is refused with 429 and Retry-After.")
    token_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        default=30, description="Minutes a sign-in's bearer token lasts.")
    public_url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")] | None = Field(
        default=None, description="The service's address as patients reach it "
        "(https://calendar.example.org): the base of feed links; default the request's own.")
    scheduler: bool = Field(
        default=True, description="Run the scheduled jobs in this process (only the one that "
        "holds the database's jobs lock does).")
    draft_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        default="thu", description="Weekday the next week's draft is solved.")
    draft_time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = Field(
        default="07:00", description="Time of day (jobs_timezone) of the weekly draft.")
    backup_time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = Field(
        default="02:30", description="Time of day (jobs_timezone) of the nightly SQLite backup "
        "and of dropping expired cancelled events from feeds.")
    jobs_timezone: str = Field(default="UTC", description="Time zone of draft_time and "
                               "backup_time (an IANA name: America/New_York).")
    backup_days: Annotated[int, Field(ge=0, le=3650)] = Field(
        default=7, description="Days a nightly SQLite backup is kept (0: no backups).")
    feed_token_limit: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=60, description="Feed requests one token may make per feed_limit_seconds.")
    feed_address_limit: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=600, description="Feed requests one client address may make per "
        "feed_limit_seconds.")
    feed_limit_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = Field(
        default=60.0, description="The window of the feed rate limits.")
    password_checks: Annotated[int, Field(ge=1, le=64)] = Field(
        default_factory=lambda: max(1, _cores() // 2),
        description="Password checks (argon2, 64 MiB and a fraction of a second of a core "
        "each) the service runs at once; sign-ins beyond wait (default one per two cores).")
    password_queue: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=16, description="Sign-ins that may wait for a password check; beyond them "
        "the answer is 503 with Retry-After at once.")
    sign_in_account_failures: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=5, description="Failed sign-ins for one e-mail (known or not) before it is "
        "locked, for sign_in_lock_seconds, doubled with each failure after.")
    sign_in_address_failures: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=20, description="Failed sign-ins from one client address (an IPv6 /64) "
        "before it is locked in the same way.")
    sign_in_window: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] = Field(
        default=900.0, description="Seconds after its last failure that an e-mail's or an "
        "address's failures are forgotten (a success forgets an e-mail's at once).")
    sign_in_lock_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=1.0, description="The first lock after too many failed sign-ins.")
    sign_in_max_lock_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = Field(
        default=300.0, description="The longest lock, however many failures.")
    max_body_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = Field(
        default=MIB, description="Largest request body the service reads, in bytes (a larger "
        "one is refused with 413 as it arrives, before it is parsed or signed in).")
    max_upload_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = Field(
        default=5 * MIB, description="Largest body of a whole scenario: its file upload, a "
        "patients CSV, a PUT of the scenario.")
    proxy_headers: bool = Field(
        default=False, description="Behind a reverse proxy: take the client's address and "
        "scheme (https, hence Secure cookies) from X-Forwarded-For and X-Forwarded-Proto, when "
        "the request comes from forwarded_allow_ips.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1", description="The proxies whose forwarded headers are believed: "
        "addresses or networks, comma-separated (10.0.0.0/8, ::1), or * for any.")

    clock: AwareDatetime | None = Field(
        default=None, description="The clock the service plans by, standing still at this "
        "instant (ISO 8601 with its offset): the day a sick call is for, the past a re-plan "
        "keeps, the past the live edits refuse, where the slot finder starts, whether a week "
        "has begun, which week the weekly draft is for. For demonstrations and tests; default "
        "the real time.")

    smtp_host: Annotated[str, Field(min_length=1, max_length=253)] | None = Field(
        default=None, description="The SMTP server patients' and staff's e-mail goes through "
        "(none: messages wait in the outbox, and the desk's page says mail is off).")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None, description="Its port; default 465 with smtp_tls=tls, else 587 with "
        "starttls, else 25.")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="starttls (upgrade a plain connection, port 587), tls "
        "(TLS from the first byte, port 465) or none (a local relay only).")
    smtp_username: str | None = Field(
        default=None, description="The SMTP account (from the environment only, never stored "
        "in the database).")
    smtp_password: SecretStr | None = Field(
        default=None, description="Its password (CHAIRTIME_SMTP_PASSWORD; never logged, never "
        "stored in the database).")
    smtp_timeout: Annotated[float, Field(gt=0, le=600)] = Field(
        default=30.0, description="Seconds to wait for the SMTP server.")
    mail_from: Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")] = Field(
        default="chairtime@localhost", description="The From address of every message.")
    notice_hold_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = Field(
        default=3.0, description="Minutes a change notice is held after the last change of "
        "a patient's (or a staff member's) sessions, so that a move and its undo send nothing "
        "and two moves send one notice with the final time.")
    reminder_hours: Annotated[float, Field(ge=0, le=14 * 24)] | None = Field(
        default=48.0, description="Hours before a session its first reminder goes (none: no "
        "such reminder).")
    reminder_evening: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = Field(
        default="18:00", description="Clinic-local time of the evening-before reminder (none: "
        "no such reminder).")
    outbox_seconds: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=20.0, description="How often the outbox job runs: releases held notices, writes "
        "due reminders and sends what is due.")
    outbox_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        default=8, description="Tries before a message is given up and shown to the desk as "
        "failed; the wait doubles after each (outbox_retry_seconds, then twice that, ...).")
    outbox_retry_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = Field(
        default=30.0, description="The wait after a message's first failed try.")
    outbox_claim_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = Field(
        default=300.0, description="How long a sender's claim on a message lasts: a message "
        "claimed by a process that died is tried again after it.")

    late_cancel_hours: Annotated[float, Field(ge=0, le=14 * 24)] = Field(
        default=24.0, description="Hours before a session after which a patient cannot cancel "
        "or move it through their self-service link (the page says: please call); a clinic's "
        "clinic.self_service.late_cancel_hours takes its place there.")
    self_service: Annotated[str, Field(pattern=r"^(|(confirm|cancel|reschedule)"
                                               r"(,(confirm|cancel|reschedule))*)$")] = Field(
        default="confirm,cancel,reschedule", description="What patients may do through their "
        "self-service link, comma-separated (empty: they only see their sessions): the "
        "ceiling over every clinic's own switches (clinic.self_service), which turn actions "
        "off, never on.")
    self_service_limit: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=30, description="Self-service requests one link (and, ten times as many, one "
        "client address) may make per feed_limit_seconds.")

    @field_validator("jobs_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known time zone (IANA names: "
                             "America/New_York)") from exc
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in (i.strip() for i in value.split(",")):
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an address or network (10.0.0.0/8, ::1) "
                                 "nor *") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def feed_urls(self, served_at: str, token: str) -> tuple[str, str]:
        """A feed link as https (behind ``public_url``, else where the request came in) and
        as ``webcal://`` (which opens a calendar app's subscribe dialog)."""
        url = f"{self.public_url or served_at.rstrip('/')}/feeds/{token}.ics"
        return url, "webcal://" + url.split("://", 1)[1]

    def now(self) -> datetime:
        """What the pages call now: ``clock`` when it is set, else the real time (UTC)."""
        return self.clock if self.clock is not None else datetime.now(UTC)

    @property
    def smtp_port_in_force(self) -> int:
        """``smtp_port``, else the usual port of ``smtp_tls``."""
        if self.smtp_port is not None:
            return self.smtp_port
        return {"tls": 465, "starttls": 587, "none": 25}[self.smtp_tls]

    @property
    def database(self) -> str:
        """The database URL in force: ``database_url``, else SQLite in ``data_dir``."""
        return self.database_url or f"sqlite:///{self.data_dir / 'chairtime.db'}"
