"""The order in which ``bash scripts/test`` hands modules to its worker processes
(``--dist loadfile --no-loadscope-reorder``; loaded by tests/conftest.py).

pytest-xdist's default hands out the modules with the most tests first. The suite's longest
modules have the fewest: schemathesis's run (test_openapi.py, a dozen tests, the longest module)
and the four-week walk (two tests) went out last and ran alone on one worker while the other sat
idle (the 2026-12-06 22:05 run: the last minutes were test_openapi.py's alone). Here the modules
go out longest first, each whole (its module fixtures are built once, as under plain loadfile: no
module is split), so that the end of a run is the short ones.

Only the order of the modules changes; within a module pytest's own order stands (by its module
fixtures' parameters). Without xdist (``-n 0``) nothing changes.
"""

from __future__ import annotations

import pytest

SECONDS: dict[str, float] = {}
"""Each long module's seconds (a full run's ``--durations=0`` summed per module, on the loaded
2-core machine). Only the order depends on these: a stale figure makes a run end less evenly,
never a test differ."""
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
