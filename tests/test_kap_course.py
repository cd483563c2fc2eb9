"""KAP as the issue's course library has it: preparation (``kap-prep``, by video), dosing, and
an integration by video 1-3 days after each DOSING. A preparation stage names its own protocol
(``courses[].stages[].protocol``); a patient whose horizon crosses from preparation into dosing
carries ``step: {after: <preparation sessions left>, protocol: kap}``, and a follow-up follows
only sessions of the protocol the patient ends the horizon on (the step's, else their own):
never a preparation session, in the checker, the model, the greedy floor and the explanations.
"""

from __future__ import annotations

from typing import Any

from scheduler.check import check
from scheduler.validate import validate_scenario
from tests.test_check import appointment
from tests.test_video_and_steps import MON, THU, TUE, WED, call, clinic, kap

Doc = dict[str, Any]
PREP_PHASES = (("preparation", 50), ("notes", 10))


# ----------------------------------------------------------------------------- checker pair
def prep_clinic() -> Doc:
    """test_video_and_steps' clinic with a video preparation protocol and P04, who has one
    preparation session left and then doses (a step), with integrations by video."""
    data = clinic()
    data["protocols"].append(
        {"id": "prep", "name": "KAP preparation", "video": True,
         "phases": [{"name": n, "minutes": m} for n, m in PREP_PHASES],
         "staff": [{"role": "therapist", "modes": {"preparation": "hands_on",
                                                   "notes": "hands_on"}}]})
    data["patients"].append(
        {"id": "P04", "protocol": "prep", "sessions": 2, "min_gap_days": 2,
         "last_session": "2026-12-05", "step": {"after": 1, "protocol": "kap"},
         "follow_up": {"protocol": "call", "days": [1, 3]}})
    return data


def prep(aid: str, day: str) -> Doc:
    a = appointment(aid, "P04", f"{day}T09:00", protocol="prep", phases=PREP_PHASES,
                    staff={"therapist": "T1"})
    a["room"] = None
    return a


def verdict(appointments: list[Doc]) -> list[str]:
    scenario = validate_scenario(prep_clinic())
    return [str(v) for v in check(scenario, {"appointments": appointments})]


def test_integration_kept_after_the_dosing_that_follows_preparation() -> None:
    assert verdict([prep("A1", MON), kap("A2", WED, "P04"), call("A3", THU, "P04")]) == []


def test_integration_after_a_preparation_session_is_refused() -> None:
    """Tue is 1 day after Monday's preparation and 3 after Saturday's last session (also a
    preparation: the patient's own protocol before the step): neither is a dosing."""
    found = verdict([prep("A1", MON), call("A2", TUE, "P04"), kap("A3", WED, "P04")])
    assert found == ["patients A2: P04's call on 2026-12-08 follows none of P04's sessions by "
                     "1-3 days (each session has at most one)"]

