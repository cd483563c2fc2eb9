"""The use cases: planning, re-planning, checking and publishing, typed in and typed out, with
no database. The command line calls them directly; the HTTP API, pages, worker and scheduled
jobs reach them through ``scheduler.service``.

>>> scenario = load_input()                       # the embedded demo clinic   # doctest: +SKIP
>>> planned = plan_week(scenario, Options(time_limit=5))                      # doctest: +SKIP
>>> publish(scenario, planned.schedule, Path("out/demo"))                    # doctest: +SKIP
"""

from scheduler.usecases.appointments import (
    cancel_appointment,
    diff_schedules,
    move_appointment,
    place_session,
    try_placement,
)
from scheduler.usecases.check import check_schedule
from scheduler.usecases.inputs import (
    MAX_WEEKS,
    load_input,
    plain_scenario,
    read_events,
    read_schedule_file,
    read_variants,
    with_patients_csv,
)
from scheduler.usecases.plan import Planned, ProgressFn, plan_week
from scheduler.usecases.publish import build_feeds, publish, publish_feeds
from scheduler.usecases.replan import Replanned, replan
from solver import Options, Progress

__all__ = [
    "MAX_WEEKS",
    "Options",
    "Planned",
    "Progress",
    "ProgressFn",
    "Replanned",
    "build_feeds",
    "cancel_appointment",
    "check_schedule",
    "diff_schedules",
    "load_input",
    "move_appointment",
    "place_session",
    "plain_scenario",
    "plan_week",
    "publish",
    "publish_feeds",
    "read_events",
    "read_schedule_file",
    "read_variants",
    "replan",
    "try_placement",
    "with_patients_csv",
]
