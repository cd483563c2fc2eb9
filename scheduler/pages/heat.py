"""Heat maps of use by weekday and hour, as the what-if and utilization pages draw them."""

from __future__ import annotations

from typing import Any

from scheduler.service.reports import WEEKDAY_NAMES, Grid

__all__ = ["heat_rows", "hours_open"]


def heat_rows(grid: list[list[float | None]] | Grid, hours: range,
               opening: Grid | None = None) -> list[dict[str, Any]]:
    """A heat map's rows (open weekdays only), each cell a percentage and a shade 0..10;
    with ``opening`` (a grid that is None where the clinic is closed), an hour open but with
    nothing of this resource is a ``gap``, not ``closed``."""
    rows = []
    for d, values in enumerate(grid):
        cells = [values[h] for h in hours]
        is_open = [opening is not None and opening[d][h] is not None for h in hours]
        if all(v is None for v in cells) and not any(is_open):
            continue
        rows.append({"day": WEEKDAY_NAMES[d],
                     "cells": [(None, "gap" if here else "closed") if v is None else
                               (round(100 * v), f"h{min(10, int(v * 10 + 0.5))}")
                               for v, here in zip(cells, is_open, strict=True)]})
    return rows


def hours_open(grids: list[Any]) -> range:
    """The hours any of ``grids`` is open, first to last."""
    open_hours = [h for g in grids for day in g for h, v in enumerate(day) if v is not None]
    return range(min(open_hours), max(open_hours) + 1) if open_hours else range(0)
