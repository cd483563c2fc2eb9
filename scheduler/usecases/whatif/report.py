"""The what-if report: ``comparison.csv`` (contract v1's columns and more), ``comparison.json``
(everything measured), ``sweep.csv``, the charts as PNG files and one self-contained
``report.html`` (charts embedded as data URIs, CSS inline, nothing fetched from a network).

The table and the JSON's ``variants`` hold results only (no timings, no host names), so two
runs of the same analysis, here or on a cluster, write the same ``comparison.csv``.
"""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scheduler.text import write_csv
from scheduler.usecases.whatif.charts import (
    coverage_chart,
    gains_chart,
    headroom_chart,
    heatmaps_chart,
    open_span,
    protocol_chart,
    risk_chart,
    sweep_chart,
)
from scheduler.usecases.whatif.results import RESOURCES, Outcome, WhatIf

__all__ = ["COLUMNS", "comparison_json", "write_report"]

COLUMNS = ("variant", "edits", "status", "wanted", "placed", "weighted", "bound", "unplaced",
           "room_utilization", "nurse_utilization", "headroom_patients", "headroom_sessions",
           "headroom_status", "capacity_sessions", "placed_vs_base", "capacity_vs_base",
           "bottleneck", "bottleneck_gain", "bottleneck_explanation", "lp_rooms", "lp_monitoring",
           "lp_hands_on", "lp_agrees", "risk_overtime_15", "risk_worst_day",
           "risk_overtime_minutes", "risk_idle_chair_minutes")
"""``comparison.csv``'s columns: contract v1's (variant, wanted, placed, weighted, unplaced,
room_utilization, nurse_utilization, headroom_patients, bottleneck) and more."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant"


def _outcome_json(o: Outcome, base: Outcome) -> dict[str, Any]:
    k = o.schedule.kpis
    assert k is not None
    out: dict[str, Any] = {
        **o.row(base),
        "edits": list(o.edits),
        "by_protocol": k.by_protocol,
        "violations": o.violations,
        "not_placed": [u.model_dump() for u in o.schedule.unplaced],
        "headroom": {"patients": o.headroom.patients, "sessions": o.headroom.sessions,
                     "status": o.headroom.status, "limit": o.headroom.limit,
                     "most": o.headroom.most, "proof": o.headroom.proof,
                     "found_by": o.headroom.found_by(),
                     "steps": [{"patients": s.patients, "fits": s.fits, "how": s.how,
                                "proven": s.proven} for s in o.headroom.steps]},
        "usage": o.usage.to_json(),
        "first": None if o.first is None else o.first.json(),
    }
    if o.cell is not None:
        out["sweep_cell"] = {"row": o.cell.row, "column": o.cell.column}
    if o.bottleneck is not None:
        b = o.bottleneck
        out["bottleneck"] = {
            "resource": b.resource, "gain": b.gain, "sentence": b.sentence,
            "extra_patients": b.extra_patients, "gains": b.gains(),
            "lp_prices": b.priced, "lp_names": b.lp_names(), "lp_agrees": b.lp_agrees(),
            "probes": [{"resource": p.resource or "stressed week", "change": p.change,
                        "placed": p.placed, "weighted": p.weighted, "status": p.status,
                        "lp_bound": p.lp_bound}
                       for p in b.probes]}
    return out


def comparison_json(result: WhatIf) -> dict[str, Any]:
    """Everything the analysis measured; ``run`` holds what depends on the machine."""
    o = result.options
    doc: dict[str, Any] = {
        "clinic": result.clinic,
        "settings": {"time_limit": o.time_limit, "seed": o.seed, "headroom": o.headroom,
                     "headroom_limit": o.headroom_limit, "rearrange": o.rearrange,
                     "bottleneck": o.bottleneck, "stress_extra": o.stress_extra,
                     "quick": o.quick, "headroom_solves": o.headroom_solves},
        "variants": [_outcome_json(x, result.outcomes[0]) for x in result.outcomes],
        "run": {"where": result.where, "seconds": result.seconds,
                "solve_seconds": {x.name: x.schedule.solver.seconds for x in result.outcomes
                                  if x.schedule.solver is not None}},
    }
    if result.sweep is not None:
        s = result.sweep
        doc["sweep"] = {"rows": {"title": s.row_title, "labels": list(s.rows)},
                        "columns": {"title": s.column_title, "labels": list(s.columns)},
                        "capacity_sessions": [list(r) for r in s.capacity],
                        "headroom_status": [list(r) for r in s.status]}
    return doc


def _write_csv(path: Path, header: list[str] | tuple[str, ...], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        write_csv(f, header, rows)  # a variant named =HYPERLINK(...) stays text
    return path


def write_report(result: WhatIf, out: Path, now: datetime | None = None) -> list[Path]:
    """Write the report's files into ``out`` (created if needed); returns their paths,
    ``report.html`` last."""
    out.mkdir(parents=True, exist_ok=True)
    charts_dir = out / "charts"
    charts_dir.mkdir(exist_ok=True)
    written = [_write_csv(out / "comparison.csv", COLUMNS,
                          [[row[c] for c in COLUMNS] for row in result.rows()])]
    doc = comparison_json(result)
    (out / "comparison.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    written.append(out / "comparison.json")
    if result.sweep is not None:
        s = result.sweep
        written.append(_write_csv(out / "sweep.csv", [s.row_title, s.column_title,
                                                      "capacity_sessions", "headroom_status"],
                                  [[r, c, s.capacity[i][j], s.status[i][j]]
                                   for i, r in enumerate(s.rows)
                                   for j, c in enumerate(s.columns)]))
    charts = _charts(result)
    for name, png in charts.items():
        (charts_dir / f"{name}.png").write_bytes(png)
        written.append(charts_dir / f"{name}.png")
    page = out / "report.html"
    page.write_text(_html(result, charts, now or datetime.now(UTC)), encoding="utf-8")
    return [*written, page]


def _charts(result: WhatIf) -> dict[str, bytes]:
    compared = list(result.compared)
    charts = {"headroom": headroom_chart(compared), "protocols": protocol_chart(compared)}
    if any(o.risk is not None for o in compared):
        charts["risk"] = risk_chart(compared)
    if any(o.bottleneck is not None for o in result.outcomes):
        charts["bottlenecks"] = gains_chart([o for o in result.outcomes
                                             if o.bottleneck is not None])
    if any(o.usage.coverage_roles for o in compared):
        charts["coverage"] = coverage_chart(compared)
    if result.sweep is not None:
        charts["sweep"] = sweep_chart(result.sweep)
    span = open_span([g for o in compared for g in (o.usage.rooms, o.usage.nurses)])
    for o in compared:
        charts[f"usage-{_slug(o.name)}"] = heatmaps_chart(o, span)
    return charts


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;
background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #dde2e8;padding-bottom:4px}
.meta{color:#5b6775;font-size:13px;margin:0 0 16px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 7px;border-bottom:1px solid #e4e8ee;text-align:right;vertical-align:top}
th{background:#eef2f7;font-weight:600}
td.l,th.l{text-align:left}
tr.base td{background:#fbf8ef}
img{max-width:100%;height:auto;display:block;margin:8px 0 4px}
.answers li{margin:6px 0}
.tag{display:inline-block;padding:0 6px;border-radius:9px;background:#e8eef8;font-size:12px}
.small{font-size:13px;color:#4a5562}
.wide{overflow-x:auto}
"""


def _signed(v: Any) -> str:
    return f"{v:+d}" if isinstance(v, int) and v else "0" if v == 0 else str(v)


def _img(charts: dict[str, bytes], name: str, alt: str) -> str:
    data = base64.b64encode(charts[name]).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _html(result: WhatIf, charts: dict[str, bytes], now: datetime) -> str:
    e = html.escape
    compared = result.compared
    o = result.options
    base = compared[0]
    start = base.scenario.horizon.start
    swept = len(result.outcomes) - len(compared)
    meta = (f"Horizon {start} + {base.scenario.horizon.days} days · {len(compared) - 1} "
            f"variant(s){f' + a sweep of {swept} cells' if swept else ''}"
            f" · each solve {o.time_limit:g} s, seed {o.seed}, one CP-SAT worker · ran on "
            f"{result.where} in {result.seconds:g} s · written {now:%Y-%m-%d %H:%M} UTC")
    answers = []
    for x, row in zip(compared, result.rows(), strict=True):
        neck = f" {e(x.bottleneck.sentence)}" if x.bottleneck else ""
        edits = f" <span class=small>({e('; '.join(x.edits))})</span>" if x.edits else ""
        versus = "" if x is base else f" ({_signed(row['placed_vs_base'])} against the base)"
        left = (f"; {row['unplaced']} wanted session(s) of its own still not placed"
                if row["unplaced"] else "")
        answers.append(
            f"<li><b>{e(x.name)}</b>{edits}: {row['placed']} of {row['wanted']} sessions placed"
            f"{e(versus)}; <b>headroom {e(x.headroom.text())} patient(s)</b> "
            f"<span class=tag>{e(x.headroom.status)}</span>"
            f"{e(f' ({x.headroom.note()})' if x.headroom.note() else '')}{e(left)}; the week holds "
            f"{row['capacity_sessions']} sessions of the mix.{neck}</li>")
    shown = [c for c in COLUMNS if c not in ("edits", "bottleneck_explanation", "bound",
                                             "headroom_sessions", "lp_rooms", "lp_monitoring",
                                             "lp_hands_on")]
    head = "".join(f'<th class="{"l" if c in ("variant", "bottleneck") else ""}">'
                   f"{e(c.replace('_', ' '))}</th>" for c in shown)
    rows = []
    for x, row in zip(compared, result.rows(), strict=True):
        cells = []
        for c in shown:
            v = row[c]
            text = (f"{v:.0%}" if c.endswith("utilization") else _signed(v)
                    if c.endswith("vs_base") else str(v))
            if c == "bottleneck" and v:
                text = RESOURCES.get(str(v), str(v))
            cells.append(f'<td class="{"l" if c in ("variant", "bottleneck") else ""}">'
                         f"{e(text)}</td>")
        rows.append(f'<tr class="{"base" if x is base else ""}">{"".join(cells)}</tr>')
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'img-src data:; style-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>What if … — {e(result.clinic)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>What if …? {e(result.clinic)}</h1><p class=meta>{e(meta)}</p>",
        f"<h2>Answers</h2><ul class=answers>{''.join(answers)}</ul>",
        f"<h2>Side by side</h2><div class=wide><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>",
        "<h2>Headroom</h2>", _img(charts, "headroom", "headroom per variant"),
        "<p class=small>New patients of the mix (the base's own patients unless the variants "
        "file gives one) that fit on top of each variant's week while every patient keeps the "
        "sessions the variant's schedule gives them (perhaps at another time). Solid: proven "
        "(one more was shown not to fit); hatched: at least this many, more not ruled out in "
        "the time given. Left: the sessions each week holds, placed plus the headroom's.</p>",
    ]
    if "bottlenecks" in charts:
        parts += ["<h2>Bottlenecks</h2>", _img(charts, "bottlenecks", "bottleneck gains"),
                  "<p class=small>Measured at a load beyond the headroom: each resource is "
                  "relaxed alone and the week re-solved; the one whose relaxation places the "
                  "most more sessions binds.</p>"]
    parts += ["<h2>Sessions by protocol</h2>", _img(charts, "protocols", "sessions by protocol")]
    if "coverage" in charts:
        parts += ["<h2>Prescriber coverage</h2>", _img(charts, "coverage", "prescriber coverage")]
    if "sweep" in charts and result.sweep is not None:
        parts += ["<h2>Sweep</h2>", _img(charts, "sweep", "sweep of weekly capacity"),
                  f"<p class=small>{e(result.sweep.row_title)} × "
                  f"{e(result.sweep.column_title or '—')}: sessions the week can hold of the "
                  "mix (placed plus headroom).</p>"]
    parts.append("<h2>When the week is busy</h2>")
    for x in compared:
        parts.append(_img(charts, f"usage-{_slug(x.name)}", f"utilization of {x.name}"))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
