"""The order in which ``bash scripts/test`` hands modules to its worker processes
(``--dist loadfile --no-loadscope-reorder``; loaded by tests/conftest.py).

pytest-xdist's default hands out the modules with the most tests first. The suite's longest
modules have the fewest: schemathesis's run (test_openapi.py, a dozen tests, the longest module)
and the four-week walk (two tests) went out last and ran alone on one worker while the other sat
idle unless other modules happened to be left (the 2026-12-06 22:05 run: the four-week walk
began at minute 34 of 42; that run still ended within 100 s of an even split). Here the modules
go out longest first, each whole (its module fixtures are built once, as under plain loadfile: no
module is split), so that the end of a run is the short ones.

Only the order of the modules changes; within a module pytest's own order stands (by its module
fixtures' parameters). Without xdist (``-n 0``) nothing changes.
"""

from __future__ import annotations

import pytest

SECONDS: dict[str, float] = {
    "tests/test_four_weeks.py": 450, "tests/test_openapi.py": 446, "tests/test_service.py": 422,
    "tests/test_bound.py": 232, "tests/test_outbox.py": 223, "tests/test_pages.py": 138,
    "tests/test_pages_manager.py": 137, "tests/test_pages_desk.py": 123,
    "tests/test_jobs_hardening.py": 122, "tests/test_bench.py": 119,
    "tests/test_accounts.py": 118, "tests/test_feeds_http.py": 117,
    "tests/test_differential.py": 112, "tests/test_new_clinic_walk.py": 110,
    "tests/test_selfservice_browser.py": 109, "tests/test_patients_browser.py": 105,
    "tests/test_golden.py": 104, "tests/test_board_drag.py": 104,
}
"""Each long module's seconds (2026-12-06 22:05, ``-n 2 --dist loadfile --durations=0`` summed
per module, schemathesis's subtests left out as they lie inside their test; load 5.3-5.6 on the
2 shared cores, all modules 4,871 s, wall 2,535 s). Only the order depends on these: a stale
figure makes a run end less evenly, never a test differ."""
COST = {"browser": 10.0, "slow": 5.0, "solve": 2.0, "db": 0.3}
"""Any other module's estimate: per test the highest of these its marks give, else QUICK."""
QUICK = 0.05


def module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def cost(item: pytest.Item) -> float:
    return max((COST[m.name] for m in item.iter_markers() if m.name in COST), default=QUICK)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest modules first (after the marks are set and pytest has ordered the items by
    their fixtures), each module's items in the order they had."""
    if not getattr(config.option, "numprocesses", None):
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(module(item), []).append(item)

    def seconds(name: str) -> float:
        return SECONDS.get(name) or sum(cost(item) for item in units[name])

    items[:] = [item for name in sorted(units, key=lambda name: -seconds(name))
                for item in units[name]]
