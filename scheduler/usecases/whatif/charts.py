"""The what-if charts, as PNG bytes (matplotlib figures drawn off screen, no pyplot state).

Each function takes the analysis's results and returns one picture a manager reads without a
legend hunt: every bar and cell carries its number.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from scheduler.usecases.whatif.figures import WEEKDAY_NAMES, Grid
from scheduler.usecases.whatif.results import RESOURCES, Outcome, SweepGrid

__all__ = ["coverage_chart", "gains_chart", "headroom_chart", "heatmaps_chart",
           "open_span", "protocol_chart", "sweep_chart"]

BLUE, ORANGE = "#2f6db5", "#e07b39"
PALETTE = ("#2f6db5", "#e07b39", "#3f9d5a", "#b5443f", "#7d5ba6", "#8c6d46", "#c75fa8",
           "#6f7f8f", "#b9a52f", "#2fa8b5")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _height(rows: int) -> float:
    return 1.2 + 0.42 * rows


def headroom_chart(outcomes: Sequence[Outcome]) -> bytes:
    """Left: sessions each variant's week holds (placed, plus the headroom's sessions), the
    base's as a line. Right: more patients each could take, solid when proven, hatched when
    "at least"."""
    names = [o.name for o in outcomes][::-1]
    rooms = [o.headroom for o in outcomes][::-1]
    fig = Figure(figsize=(11, _height(len(names))))
    held, more = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    placed = [o.schedule.kpis.placed if o.schedule.kpis else 0 for o in outcomes][::-1]
    extra = [h.sessions for h in rooms]
    held.barh(names, placed, color=BLUE, label="placed")
    held.barh(names, extra, left=placed, color="#8fb2dd", label="headroom")
    for y, (p, x) in enumerate(zip(placed, extra, strict=True)):
        held.text(p + x, y, f" {p + x}", va="center", fontsize=9)
    held.axvline(outcomes[0].capacity(), color=ORANGE, linestyle="--", linewidth=1.2,
                 label="base")
    held.set_xlim(0, max([*(p + x for p, x in zip(placed, extra, strict=True)), 1]) * 1.12)
    held.set_title("Sessions the week holds: placed + headroom")
    held.legend(fontsize=8, frameon=False, ncol=3, loc="upper center",
                bbox_to_anchor=(0.5, -0.06))
    values = [h.patients for h in rooms]
    bars = more.barh(names, values, color=[BLUE if h.status == "OPTIMAL" else "#8fb2dd"
                                           for h in rooms])
    for bar, h in zip(bars, rooms, strict=True):
        if h.status != "OPTIMAL":
            bar.set_hatch("//")
        more.annotate(h.text() + (" proven" if h.status == "OPTIMAL" else ""),
                      (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                      xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    more.set_xlim(0, max([*values, 1]) * 1.6)
    more.xaxis.get_major_locator().set_params(integer=True)
    more.set_title("Headroom: more patients of the mix")
    for ax in (held, more):
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def risk_chart(outcomes: Sequence[Outcome]) -> bytes:
    """Left: sessions placed. Right: the simulated chance that some day of the week runs more
    than 15 minutes over, and that its worst day does: what each variant's sessions cost in
    risk, side by side."""
    names = [o.name for o in outcomes][::-1]
    fig = Figure(figsize=(11, _height(len(names))))
    held, risky = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1]})
    placed = [o.schedule.kpis.placed if o.schedule.kpis else 0 for o in outcomes][::-1]
    held.barh(names, placed, color=BLUE)
    for y, p in enumerate(placed):
        held.text(p, y, f" {p}", va="center", fontsize=9)
    held.set_xlim(0, max([*placed, 1]) * 1.15)
    held.set_title("Sessions placed")
    week = [100 * o.risk.p_overtime_15 if o.risk else 0.0 for o in outcomes][::-1]
    worst = [100 * o.worst_day.p_overtime_15 if o.worst_day else 0.0 for o in outcomes][::-1]
    ys = range(len(names))
    risky.barh([y + 0.2 for y in ys], week, height=0.4, color=ORANGE,
               label="some day of the week")
    risky.barh([y - 0.2 for y in ys], worst, height=0.4, color="#f4b183",
               label="its worst day")
    for y, (w, d) in enumerate(zip(week, worst, strict=True)):
        risky.text(w, y + 0.2, f" {w:.0f} %", va="center", fontsize=8)
        risky.text(d, y - 0.2, f" {d:.0f} %", va="center", fontsize=8)
    risky.set_xlim(0, 115)
    risky.set_title("Chance of overtime beyond 15 min (simulated)")
    risky.legend(fontsize=8, frameon=False, ncol=2, loc="upper center",
                 bbox_to_anchor=(0.5, -0.06))
    for ax in (held, risky):
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def protocol_chart(outcomes: Sequence[Outcome]) -> bytes:
    """Placed and unmet sessions by protocol, one bar per variant."""
    names = [o.name for o in outcomes][::-1]
    protocols = sorted({p for o in outcomes if o.schedule.kpis
                        for p in o.schedule.kpis.by_protocol})
    fig = Figure(figsize=(11, _height(len(names))))
    placed_ax, unmet_ax = fig.subplots(1, 2, sharey=True)
    for ax, key, title in ((placed_ax, "placed", "Sessions placed"),
                           (unmet_ax, "unmet", "Sessions wanted but not placed")):
        left = np.zeros(len(names))
        for k, pid in enumerate(protocols):
            values = []
            for o in outcomes[::-1]:
                row = o.schedule.kpis.by_protocol.get(pid, {}) if o.schedule.kpis else {}
                placed = row.get("placed", 0)
                values.append(placed if key == "placed" else row.get("wanted", 0) - placed)
            ax.barh(names, values, left=left, color=PALETTE[k % len(PALETTE)], label=pid)
            for y, (x0, v) in enumerate(zip(left, values, strict=True)):
                if v >= 3:
                    ax.text(x0 + v / 2, y, str(v), ha="center", va="center", fontsize=8,
                            color="white")
            left += np.array(values)
        for y, total in enumerate(left):
            ax.text(total, y, f" {int(total)}", va="center", fontsize=9)
        ax.set_xlim(0, max([*left, 1]) * 1.15)
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
    placed_ax.legend(loc="lower center", bbox_to_anchor=(1.05, 1.06), ncol=len(protocols),
                     frameon=False, fontsize=9)
    return _png(fig)


def open_span(grids: Sequence[Grid]) -> tuple[list[int], list[int]]:
    """The weekdays and hours open in any of ``grids`` (one axis for every variant's map)."""
    days = [d for d in range(7) if any(g[d][h] is not None for g in grids for h in range(24))]
    hours = [h for h in range(24) if any(g[d][h] is not None for g in grids for d in range(7))]
    return days or list(range(5)), list(range(min(hours), max(hours) + 1)) if hours else [9]


def heatmaps_chart(outcome: Outcome, span: tuple[list[int], list[int]] | None = None
                   ) -> bytes:
    """Room and nurse utilization by weekday and hour (blank: closed)."""
    days, hours = span or open_span([outcome.usage.rooms, outcome.usage.nurses])
    fig = Figure(figsize=(11, 1.4 + 0.38 * len(days)))
    axes = fig.subplots(1, 2)
    image = None
    for ax, grid, title in ((axes[0], outcome.usage.rooms, "Rooms: chairs in use"),
                            (axes[1], outcome.usage.nurses, "Nurses: attention in use")):
        values = np.array([[np.nan if grid[d][h] is None else grid[d][h] for h in hours]
                           for d in days], dtype=float)
        image = ax.imshow(values, vmin=0, vmax=1, cmap="YlOrRd", aspect="auto")
        ax.set_xticks(range(len(hours)), [f"{h:02d}" for h in hours], fontsize=8)
        ax.set_yticks(range(len(days)), [WEEKDAY_NAMES[d] for d in days], fontsize=9)
        for y in range(len(days)):
            for x in range(len(hours)):
                if not np.isnan(values[y, x]):
                    ax.text(x, y, f"{values[y, x]:.0%}".replace("%", ""), ha="center",
                            va="center", fontsize=7,
                            color="white" if values[y, x] > 0.7 else "black")
        ax.set_title(f"{title} — {outcome.name}", fontsize=10)
        ax.set_xlabel("hour of day (local)")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="share used")
    return _png(fig)


def coverage_chart(outcomes: Sequence[Outcome]) -> bytes:
    """Hours a prescriber is on site while the clinic is open, per weekday and variant."""
    days = [d for d in range(7) if any(o.usage.open_hours[d] > 0 for o in outcomes)] \
        or list(range(5))
    fig = Figure(figsize=(11, 3.6))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(outcomes))
    for k, o in enumerate(outcomes):
        xs = [i + (k - (len(outcomes) - 1) / 2) * width for i in range(len(days))]
        ax.bar(xs, [o.usage.coverage_hours[d] for d in days], width,
               color=PALETTE[k % len(PALETTE)], label=o.name)
        ax.scatter(xs, [o.usage.open_hours[d] for d in days], marker="_", s=160,
                   color="black", zorder=3)
    ax.set_xticks(range(len(days)), [WEEKDAY_NAMES[d] for d in days])
    roles = next((o.usage.coverage_roles for o in outcomes if o.usage.coverage_roles), ())
    ax.set_ylabel("hours")
    ax.set_title(f"{' / '.join(roles) or 'on-site'} coverage: hours on site while open "
                 "(black tick: hours open)")
    ax.legend(fontsize=8, ncol=min(4, len(outcomes)), frameon=False, loc="lower left",
              bbox_to_anchor=(0, -0.35))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def gains_chart(outcomes: Sequence[Outcome]) -> bytes:
    """Sessions each resource's relaxation adds, per variant (framed: the bottleneck)."""
    measured = [o for o in outcomes if o.bottleneck is not None]
    resources = [r for r in RESOURCES if any(r in o.bottleneck.gains() for o in measured
                                             if o.bottleneck)]
    fig = Figure(figsize=(9, 1.3 + 0.42 * max(1, len(measured))))
    ax = fig.add_subplot()
    values = np.array([[o.bottleneck.gains().get(r, np.nan) if o.bottleneck else np.nan
                        for r in resources] for o in measured], dtype=float)
    top = max(1.0, float(np.nanmax(values)) if values.size and not np.isnan(values).all()
              else 1.0)
    ax.imshow(np.clip(values, 0, None), cmap="Blues", vmin=0, vmax=top, aspect="auto")
    for y, o in enumerate(measured):
        for x, r in enumerate(resources):
            v = values[y, x]
            ax.text(x, y, "n/a" if np.isnan(v) else f"+{max(0, int(v))}", ha="center",
                    va="center", fontsize=9, color="white" if v > top * 0.6 else "black")
            if o.bottleneck and o.bottleneck.resource == r:
                ax.add_patch(_frame(x, y))
    ax.set_xticks(range(len(resources)), [RESOURCES[r] for r in resources], rotation=20,
                  ha="right", fontsize=9)
    ax.set_yticks(range(len(measured)), [o.name for o in measured], fontsize=9)
    ax.set_title("Bottleneck: sessions added by relaxing each resource alone (framed: binds)")
    return _png(fig)


def _frame(x: int, y: int) -> Rectangle:
    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor=ORANGE, linewidth=2.5)


def sweep_chart(grid: SweepGrid) -> bytes:
    """Sessions the week can hold (placed plus headroom) over the sweep's grid."""
    values = np.array(grid.capacity, dtype=float)
    fig = Figure(figsize=(1.8 + 1.1 * max(1, len(grid.columns)), 1.4 + 0.5 * len(grid.rows)))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis", aspect="auto", origin="lower")
    for y in range(len(grid.rows)):
        for x in range(len(grid.columns)):
            mark = "" if grid.status[y][x] == "OPTIMAL" else "+"
            ax.text(x, y, f"{int(values[y, x])}{mark}", ha="center", va="center", fontsize=9,
                    color="white" if values[y, x] < values.mean() else "black")
    ax.set_xticks(range(len(grid.columns)), [c or "—" for c in grid.columns], rotation=15,
                  fontsize=8)
    ax.set_yticks(range(len(grid.rows)), list(grid.rows), fontsize=8)
    ax.set_xlabel(grid.column_title)
    ax.set_ylabel(grid.row_title)
    ax.set_title("Weekly capacity: sessions placed + headroom (+: at least)")
    fig.colorbar(image, ax=ax, label="sessions")
    return _png(fig)

