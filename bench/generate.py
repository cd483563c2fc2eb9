"""Seeded, realistic benchmark clinics in contract v1 (``python -m bench generate`` writes them).

Sizes follow the issue: S (3 rooms, ~45 patients), M (8, ~130), L (18, ~330), XL (40, ~700),
one week each, and a four-week M. Each comes room-limited (nurses to spare) or staff-limited
(chairs to spare), at a load factor that scales the number of patients (1.0 is about what the
clinic can treat). Treatments, durations and staffing are the protocol library's
(``config/protocols.yaml``); clinics have split shifts, two-chair bays, rooms with shorter hours,
patients with narrow availability and prescribers who leave early.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

ROOT = Path(__file__).resolve().parents[1]
WEEK = ("mon", "tue", "wed", "thu", "fri")
START = date(2027, 1, 4)  # a Monday
Limit = Literal["room", "staff"]

SIZES: dict[str, tuple[int, int]] = {"S": (3, 45), "M": (8, 130), "L": (18, 330),
                                     "XL": (40, 700)}


@dataclass(frozen=True, slots=True)
class Spec:
    size: str
    limit: Limit
    load: float
    weeks: int = 1
    seed: int = 1

    @property
    def name(self) -> str:
        weeks = f"x{self.weeks}w" if self.weeks > 1 else ""
        return f"{self.size}{weeks}-{self.limit}-{self.load:.2f}"


def protocols() -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "config" / "protocols.yaml").read_text(encoding="utf-8"))
    return list(data["protocols"])


def _hours(days: tuple[str, ...] | list[str], *spans: tuple[str, str]
           ) -> dict[str, list[list[str]]]:
    return {d: [list(s) for s in spans] for d in days}


def _rooms(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rooms = []
    suites = max(1, n // 8)
    for i in range(n):
        room: dict[str, Any] = {"id": f"R{i + 1:02d}", "name": f"Room {i + 1}",
                                "features": ["recliner"], "chairs": 1}
        if i < suites:
            room |= {"features": ["recliner", "private"], "name": f"Suite {i + 1}",
                     "hours": _hours(WEEK, ("09:00", "17:30"))}
        elif i % 5 == 1:
            room |= {"chairs": 2, "name": f"Bay {i + 1}"}
        elif i % 5 in (2, 3):
            room["features"] = ["recliner", "iv-pump"]
        if i % 7 == 6:
            room["hours"] = _hours(WEEK, ("08:00", "14:00"))
        rooms.append(room)
    return rooms


def _staff(rng: random.Random, rooms: list[dict[str, Any]], limit: Limit
           ) -> list[dict[str, Any]]:
    chairs = sum(r["chairs"] for r in rooms)
    nurses = math.ceil(chairs / 1.6) + 1 if limit == "room" else max(2, math.ceil(chairs / 2.6))
    cap = 4 if limit == "room" else 3
    shifts = [
        _hours(WEEK, ("07:45", "12:00"), ("12:30", "16:15")),
        _hours(WEEK, ("09:45", "14:00"), ("14:30", "18:00")),
        _hours(("mon", "tue", "wed", "thu"), ("07:45", "16:15")),
        _hours(("tue", "wed", "thu", "fri"), ("09:45", "18:00")),
        _hours(("mon", "wed", "fri"), ("07:45", "13:15")),
    ]
    quals = [["spravato", "iv", "im"], ["spravato", "im"], ["iv", "im"], ["spravato", "iv"],
             ["spravato"]]
    staff = [{"id": f"N{i + 1:02d}", "role": "nurse", "max_patients": cap,
              "qualifications": quals[i % len(quals)], "shifts": shifts[i % len(shifts)]}
             for i in range(nurses)]
    prescribers = max(2, math.ceil(len(rooms) / 8))
    for i in range(prescribers):
        early = i % 2 == 1  # every other prescriber leaves early
        staff.append({"id": f"D{i + 1:02d}", "role": "prescriber", "max_patients": 0,
                      "shifts": _hours(WEEK, ("07:45", "15:00") if early
                                       else ("10:00", "18:00"))})
    suites = sum(1 for r in rooms if "private" in r["features"])
    for i in range(suites):
        staff.append({"id": f"T{i + 1:02d}", "role": "therapist", "max_patients": 1,
                      "shifts": _hours(WEEK[i % 2: i % 2 + 4], ("09:00", "17:30"))})
    return staff


def _narrow(rng: random.Random) -> dict[str, list[list[str]]]:
    days = sorted(rng.sample(WEEK, rng.choice((2, 3))), key=WEEK.index)
    start = rng.choice(("08:00", "09:00", "10:00", "12:00", "13:00"))
    end = {"08:00": "13:00", "09:00": "14:00", "10:00": "15:00", "12:00": "17:30",
           "13:00": "18:00"}[start]
    return {d: [[start, end]] for d in days}


def _patient(rng: random.Random, n: int, weeks: int) -> dict[str, Any]:
    kind = rng.choices(("esk-induction", "esk-maint", "iv-induction", "iv-booster", "im", "kap"),
                       weights=(14, 42, 8, 12, 16, 6))[0]
    p: dict[str, Any] = {"id": f"P{n:04d}"}
    if kind == "esk-induction":
        p |= {"protocol": rng.choice(("esk-56", "esk-84")), "sessions": 2 * weeks,
              "min_gap_days": 3, "priority": 3}
    elif kind == "esk-maint":
        p |= {"protocol": "esk-84", "sessions": weeks, "min_gap_days": 5, "priority": 1,
              "last_session": str(START - timedelta(days=rng.choice((5, 6, 7, 12))))}
    elif kind == "iv-induction":
        p |= {"protocol": "iv-ketamine", "sessions": 2 * weeks, "min_gap_days": 2,
              "priority": 3}
    elif kind == "iv-booster":
        p |= {"protocol": "iv-ketamine", "sessions": max(1, weeks // 2), "min_gap_days": 14,
              "priority": 1}
    elif kind == "im":
        p |= {"protocol": "im-ketamine", "sessions": weeks, "min_gap_days": 5, "priority": 2}
    else:
        p |= {"protocol": "kap", "sessions": weeks, "min_gap_days": 5, "priority": 2}
    if p["protocol"].startswith("esk"):
        p["rems_enrolled"] = True  # a REMS protocol books enrolled patients only
    if rng.random() < 0.3:
        p["availability"] = _narrow(rng)
    if rng.random() < 0.04:
        p["priority"] = 5
    return p


def generate(spec: Spec) -> dict[str, Any]:
    """A contract-v1 scenario for ``spec`` (the same spec always gives the same scenario)."""
    rng = random.Random(f"{spec.size}-{spec.limit}-{spec.load}-{spec.weeks}-{spec.seed}")
    n_rooms, base = SIZES[spec.size]
    rooms = _rooms(rng, n_rooms)
    staff = _staff(rng, rooms, spec.limit)
    patients = [_patient(rng, i + 1, spec.weeks) for i in range(round(base * spec.load))]
    for p in patients:  # only nurses who exist can be preferred
        if rng.random() < 0.2:
            p["preferred_staff"] = [rng.choice([s["id"] for s in staff if s["role"] == "nurse"])]
    return {
        "version": 1,
        "clinic": {"name": f"Bench {spec.name}", "timezone": "America/Chicago",
                   "slot_minutes": 5, "hours": _hours(WEEK, ("08:00", "18:00"))},
        "horizon": {"start": str(START), "days": 7 * spec.weeks},
        "protocols": protocols(),
        "rooms": rooms,
        "staff": staff,
        "patients": patients,
    }


def suite(quick: bool = False) -> list[tuple[Spec, float]]:
    """The benchmark instances with their time limits (seconds)."""
    if quick:
        return [(Spec("S", "room", 1.0), 5), (Spec("S", "staff", 1.0), 5),
                (Spec("M", "room", 1.0), 15), (Spec("M", "staff", 1.15), 15)]
    out: list[tuple[Spec, float]] = []
    for limit in ("room", "staff"):
        for load in (0.8, 1.0, 1.15):
            out += [(Spec("S", limit, load), 10), (Spec("M", limit, load), 30)]
        out += [(Spec("L", limit, 1.0), 60), (Spec("XL", limit, 1.0), 120),
                (Spec("M", limit, 1.0, weeks=4), 60)]
    return out
