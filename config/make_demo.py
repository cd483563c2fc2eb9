"""The embedded demo clinic, ``scheduler/data/demo.yaml``: ``python config/make_demo.py``.

``config/demo.yaml`` links to it; the package ships it (``importlib.resources``).

A realistic, busy week (seeded, so the file is reproducible): six rooms (one a two-chair Spravato
bay, one a private therapy suite with shorter hours), six nurses on split shifts with different
qualifications, two prescribers, a KAP therapist, and about 110 patients across the treatments of
DOMAIN.md, inductions and maintenance, some with narrow availability.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

SEED = 20261207
START = date(2026, 12, 7)
WEEK = ("mon", "tue", "wed", "thu", "fri")
DATA = Path(__file__).resolve().parent.parent / "scheduler" / "data"


def hours(days: tuple[str, ...], *spans: tuple[str, str]) -> dict[str, list[list[str]]]:
    return {d: [list(s) for s in spans] for d in days}


PROTOCOLS: list[dict[str, Any]] = yaml.safe_load(
    (DATA / "protocols.yaml").read_text(encoding="utf-8"))["protocols"]

ROOMS = [
    {"id": "R1", "name": "Room 1", "features": ["recliner", "iv-pump"], "chairs": 1},
    {"id": "R2", "name": "Room 2", "features": ["recliner", "iv-pump"], "chairs": 1},
    {"id": "R3", "name": "Room 3", "features": ["recliner", "iv-pump"], "chairs": 1},
    {"id": "R4", "name": "Room 4", "features": ["recliner"], "chairs": 1,
     "hours": hours(WEEK, ("08:00", "14:00"))},
    {"id": "BAY", "name": "Spravato bay", "features": ["recliner"], "chairs": 2},
    {"id": "SUITE", "name": "Therapy suite", "features": ["recliner", "private"], "chairs": 1,
     "hours": hours(WEEK, ("09:00", "17:30"))},
]

STAFF = [
    {"id": "N1", "name": "Alice Moreno", "role": "nurse", "max_patients": 4,
     "qualifications": ["spravato", "iv", "im"],
     "shifts": hours(WEEK, ("07:45", "12:00"), ("12:30", "16:15"))},
    {"id": "N2", "name": "Ben Okafor", "role": "nurse", "max_patients": 4,
     "qualifications": ["spravato", "im"],
     "shifts": hours(WEEK, ("09:45", "14:00"), ("14:30", "18:00")), "time_off": ["2026-12-09"]},
    {"id": "N3", "name": "Chen Wei", "role": "nurse", "max_patients": 3,
     "qualifications": ["iv", "im"],
     "shifts": hours(("mon", "tue", "wed", "thu"), ("07:45", "16:15"))},
    {"id": "N4", "name": "Dana Fischer", "role": "nurse", "max_patients": 4,
     "qualifications": ["spravato", "iv"],
     "shifts": hours(("tue", "wed", "thu", "fri"), ("09:45", "18:00"))},
    {"id": "N5", "name": "Eli Haddad", "role": "nurse", "max_patients": 3,
     "qualifications": ["spravato"],
     "shifts": hours(("mon", "wed", "fri"), ("07:45", "13:15"))},
    {"id": "N6", "name": "Farah Singh", "role": "nurse", "max_patients": 3,
     "qualifications": ["iv", "spravato", "im"],
     "shifts": hours(("mon", "tue", "thu", "fri"), ("11:45", "18:00"))},
    {"id": "D1", "name": "Dr. Grace Lin", "role": "prescriber", "max_patients": 0,
     "shifts": hours(WEEK, ("07:45", "16:30"))},
    {"id": "D2", "name": "Dr. Hugo Reyes", "role": "prescriber", "max_patients": 0,
     "shifts": hours(WEEK, ("12:00", "18:00")), "time_off": ["2026-12-11"]},
    {"id": "T1", "name": "Iris Novak, LCSW", "role": "therapist", "max_patients": 1,
     "shifts": hours(("mon", "tue", "wed", "thu"), ("09:00", "17:30"))},
]

FIRST = ["Ava", "Ben", "Cleo", "Dev", "Ema", "Finn", "Gia", "Hal", "Ines", "Jon", "Kai", "Lena",
         "Mo", "Nia", "Oto", "Pia", "Quin", "Rae", "Sam", "Tess", "Uma", "Vic", "Wes", "Yara"]
LAST = ["Abbott", "Baker", "Cruz", "Diaz", "Evans", "Ford", "Garcia", "Hayes", "Ito", "Jones",
        "Khan", "Lopez", "Mills", "Nolan", "Ortiz", "Park", "Quist", "Rossi", "Shah", "Tran"]


def narrow(rng: random.Random) -> dict[str, list[list[str]]]:
    days = rng.sample(WEEK, rng.choice((2, 3)))
    start = rng.choice(("08:00", "09:00", "10:00", "12:00", "13:00"))
    end = {"08:00": "13:00", "09:00": "14:00", "10:00": "15:00", "12:00": "17:30",
           "13:00": "18:00"}[start]
    return {d: [[start, end]] for d in sorted(days, key=WEEK.index)}


def patient(rng: random.Random, n: int) -> dict[str, Any]:
    kind = rng.choices(
        ("esk-induction", "esk-maint", "iv-induction", "iv-booster", "im", "kap"),
        weights=(14, 42, 8, 12, 16, 6))[0]
    p: dict[str, Any] = {"id": f"P{n:03d}", "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}"}
    if kind == "esk-induction":
        p |= {"protocol": rng.choice(("esk-56", "esk-84")), "sessions": 2, "min_gap_days": 3,
              "priority": 3, "rems_enrolled": True}
    elif kind == "esk-maint":
        p |= {"protocol": "esk-84", "sessions": 1, "min_gap_days": 5, "priority": 1,
              "rems_enrolled": True,
              "last_session": str(START - timedelta(days=rng.choice((5, 6, 7, 12, 13))))}
    elif kind == "iv-induction":
        p |= {"protocol": "iv-ketamine", "sessions": 2, "min_gap_days": 2, "priority": 3}
    elif kind == "iv-booster":
        p |= {"protocol": "iv-ketamine", "sessions": 1, "priority": 1}
    elif kind == "im":
        p |= {"protocol": "im-ketamine", "sessions": 1, "priority": 2}
    else:
        p |= {"protocol": "kap", "sessions": 1, "priority": 2}
    if rng.random() < 0.35:
        p["availability"] = narrow(rng)
    if rng.random() < 0.04:
        p["priority"] = 5
    if rng.random() < 0.25:
        p["preferred_staff"] = [rng.choice(["N1", "N2", "N4", "N6"])]
    return p


def induction_history(rng: random.Random, done: int, missed: bool) -> list[str]:
    """Mondays and Thursdays of the weeks before START, one session dropped when ``missed``."""
    weeks = (done + 1 + missed) // 2
    first = START - timedelta(days=7 * weeks)
    days = [first + timedelta(days=7 * (k // 2) + 3 * (k % 2)) for k in range(done + missed)]
    if missed:
        days.pop(rng.randrange(1, len(days)))
    return [str(d) for d in days]


def with_course(rng: random.Random, p: dict[str, Any], kind: str) -> dict[str, Any]:
    """The patient's plain week turned into a course state (scheduler/courses.py derives the
    same week back: the 1-week demo keeps its sessions)."""
    for plain in ("sessions", "min_gap_days"):
        p.pop(plain, None)
    if p.get("priority") != 5:
        p.pop("priority", None)  # derived from the course (and its pace)
    if kind == "esk-induction":
        done = rng.choice((0, 2, 2, 4, 4, 6))
        missed = done > 0 and rng.random() < 0.3
        course: dict[str, Any] = {"id": "esk-trd",
                                  "history": induction_history(rng, done, missed)}
        if done:
            course["dose"] = 84 if p["protocol"] == "esk-84" else 56
        else:
            if p["protocol"] == "esk-84":  # 84 mg chosen: the first session at 56, then 84
                course["dose"] = 84       # (a dose step inside the week: patients[].step)
            p["protocol"] = "esk-56"  # the label's first dose
    elif kind == "esk-maint":
        since = (START - date.fromisoformat(p["last_session"])).days
        course = {"id": "esk-trd", "done": rng.choice((12, 16, 20, 30)), "dose": 84}
        if since >= 12:
            course["every_weeks"] = 2
            if rng.random() < 0.1:
                course["worsening"] = True
    elif kind == "iv-induction":
        done = rng.choice((0, 2, 4))
        course = {"id": "iv-ketamine", "history": induction_history(rng, done, False)}
    elif kind == "iv-booster":
        course = {"id": "iv-ketamine", "done": 6}
        p["last_session"] = str(START - timedelta(days=rng.choice((15, 17, 19, 20))))
    elif kind == "im":
        course = {"id": "im-weekly", "done": rng.choice((8, 10, 14))}
    else:
        # the two preparation sessions (kap-prep, by video) come first: these are dosing
        course = {"id": "kap", "done": 2 + rng.choice((0, 1, 2, 3, 4))}
    p["course"] = course
    return p


IM_WEEKLY = {
    "id": "im-weekly",
    "name": "IM ketamine, weekly (this clinic's own course)",
    "protocol": "im-ketamine",
    "stages": [{"name": "maintenance", "per_week": 1, "min_gap_days": 5,
                "ideal_gap_days": [7, 7], "priority": 2}],
}


def kind_of(p: dict[str, Any]) -> str:
    if p["protocol"].startswith("esk"):
        return "esk-induction" if p["sessions"] == 2 else "esk-maint"
    if p["protocol"] == "iv-ketamine":
        return "iv-induction" if p["sessions"] == 2 else "iv-booster"
    return "im" if p["protocol"] == "im-ketamine" else "kap"


def build() -> dict[str, Any]:
    rng = random.Random(SEED)
    patients = [patient(rng, n) for n in range(1, 113)]
    patients[0] |= {"protocol": "esk-84", "sessions": 2, "min_gap_days": 3, "priority": 3,
                    "rems_enrolled": True}
    patients[0].pop("availability", None)
    patients[0].pop("last_session", None)
    patients[7]["rems_enrolled"] = False if patients[7]["protocol"].startswith("esk") else None
    courses = random.Random(SEED + 1)  # its own stream: the patients above stay as they were
    for p in patients:
        if p.get("rems_enrolled") is None:
            p.pop("rems_enrolled", None)
        with_course(courses, p, kind_of(p))
    patients[0]["course"] = {"id": "esk-trd", "history": ["2026-11-30", "2026-12-03"],
                             "dose": 84}
    # KAP integration by video (the kap course's follow_up): P012 dosed last Friday, so its
    # integration is due Mon-Tue; and a new esketamine patient whose prescriber chose 84 mg:
    # the label's first dose is 56 mg, so the week steps from esk-56 to esk-84 (patients[].step)
    patients[11]["last_session"] = str(START - timedelta(days=3))
    # KAP preparation by video (the kap course's first stage, kap-prep): P046 is new (its
    # first preparation this week, the second next week, then dosing: a multi-week plan steps
    # from kap-prep to kap), P090 has one preparation left (this week; dosing from next week)
    patients[45]["course"] = {"id": "kap", "done": 0}
    patients[89]["course"] = {"id": "kap", "done": 1}
    patients.append({"id": "P113", "name": "Zoe Marsh", "protocol": "esk-56",
                     "rems_enrolled": True, "course": {"id": "esk-trd", "dose": 84}})
    return {
        "version": 1,
        "clinic": {
            "name": "Riverside Ketamine Clinic",
            "timezone": "America/New_York",
            "slot_minutes": 5,
            "hours": hours(WEEK, ("08:00", "18:00")),
            "closed_dates": [],
            "address": "200 Riverside Drive, Suite 4, Springfield",
            "arrival_instructions": "Please arrange a ride home: no driving until tomorrow.",
        },
        "horizon": {"start": str(START), "days": 7},
        "feeds": {"name": "Riverside Clinic"},
        "protocols": PROTOCOLS,
        "courses": [IM_WEEKLY],
        "rooms": ROOMS,
        "staff": STAFF,
        "patients": patients,
        "fixed": [
            {"id": "A-0001", "patient": "P001", "start": "2026-12-07T09:00", "room": "BAY",
             "staff": {"nurse": "N1"}},
        ],
    }


def main() -> None:
    data = build()
    header = (__doc__ or "").strip().splitlines()[0]
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    (DATA / "demo.yaml").write_text(f"# {header}\n{text}", encoding="utf-8")


if __name__ == "__main__":
    main()
