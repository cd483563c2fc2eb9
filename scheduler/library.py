"""The embedded demo clinic and protocol library: package data, found with importlib.resources,
so an installed wheel solves the demo from any folder.

>>> data_text(DEMO).startswith("# The embedded demo clinic")
True
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["DATA_FILES", "DEMO", "DEMO_EVENTS", "DEMO_VARIANTS", "PROTOCOLS", "data_text"]

DEMO = "demo.yaml"
"""The demo clinic: a busy week of six rooms, six nurses, two prescribers, ~110 patients."""
DEMO_EVENTS = "demo-events.yaml"
"""A front-desk Monday morning of events for the demo week."""
DEMO_VARIANTS = "demo-variants.yaml"
"""What-if variants of the demo week: the questions managers ask (a chair, a nurse, hours)."""
PROTOCOLS = "protocols.yaml"
"""The protocol library: DOMAIN.md's treatments with default durations and staffing."""


DATA_FILES = (DEMO, DEMO_EVENTS, DEMO_VARIANTS, PROTOCOLS)


def data_text(name: str) -> str:
    """The text of one of the embedded files (``DEMO``, ``DEMO_EVENTS``, ``DEMO_VARIANTS``,
    ``PROTOCOLS``)."""
    return files("scheduler").joinpath("data", name).read_text(encoding="utf-8")
