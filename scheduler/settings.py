"""The application's one settings class, read from ``CHAIRTIME_*`` environment variables.

Read once, at an entry point (the CLI's ``main``, later the service's start), and passed down:
nothing below the entry points reads the environment.

>>> Settings(time_limit=5).time_limit
5.0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


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
    seed: int = Field(default=0, description="CP-SAT random seed.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_solves: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="Solves the service runs at once (more wait in the queue).")
    token_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        default=30, description="Minutes a sign-in's bearer token lasts.")

    @property
    def database(self) -> str:
        """The database URL in force: ``database_url``, else SQLite in ``data_dir``."""
        return self.database_url or f"sqlite:///{self.data_dir / 'chairtime.db'}"
