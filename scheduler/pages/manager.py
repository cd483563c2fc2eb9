"""The manager's pages: what-if analysis and utilization (written next)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
