"""How ``bash scripts/test`` shares the suite among its worker processes (pytest-xdist's
``--dist loadgroup --no-loadscope-reorder``; loaded by tests/conftest.py).

- A module's tests stay on one worker (its module-scoped fixtures are built once), as under
  ``--dist loadfile``, but for the two database halves of a module on ``database_kind``: each
  half builds its own module fixtures anyway (a server on a database of that kind), so its
  SQLite and its PostgreSQL halves are two work units that two workers run at once. (The
  four-week walk's halves took 100 s each, one after the other on one worker.) A value
  cached for both halves in the module (test_board_drag's planned week) is then computed by
  each worker that runs a half.
- The units are handed out longest first (:data:`SECONDS`, measured; else an estimate from the
  marks, :data:`COST`), so that a long walk does not start when every other unit is done and
  run on alone at the end.

Measured (2026-12-06, the whole suite on 2 cores shared with other work, load 5-9): ``-n 2
--dist loadfile`` 2,238 s; ``-n 3`` with these groups 1,739 s, but with two tests that race a
clock (a re-plan's quality within its time limit, a feed's rate limit) failing under that load
(both pass alone). ``bash scripts/test -n 3`` runs so; the default stays a process per core.

Without xdist (``-n 0``), or with another ``--dist``, this changes nothing a test sees: the marks
only name a group, and the order keeps each module's tests together in pytest's own order.
"""

from __future__ import annotations

import pytest

SECONDS = {
    "tests/test_openapi.py[sqlite]": 150, "tests/test_openapi.py[postgresql]": 145,
    "tests/test_four_weeks.py[sqlite]": 110, "tests/test_four_weeks.py[postgresql]": 85,
    "tests/test_bound.py": 60, "tests/test_differential.py": 45, "tests/test_golden.py": 45,
    "tests/test_service.py[sqlite]": 40, "tests/test_service.py[postgresql]": 40,
    "tests/test_bench.py": 38, "tests/test_pages.py": 35,
    "tests/test_new_clinic_walk.py[sqlite]": 30, "tests/test_new_clinic_walk.py[postgresql]": 28,
    "tests/test_proxy_flows.py": 25, "tests/test_board_drag.py[sqlite]": 25,
    "tests/test_board_drag.py[postgresql]": 25,
}
"""The longest units, measured (a full run's ``--durations=0``, summed per unit; roughly the
seconds of an idle 2-core machine). Only the order of the units depends on these: a stale
figure makes a run end less evenly, never a test differ."""
COST = {"browser": 10.0, "slow": 5.0, "solve": 2.0, "db": 0.3}
"""Any other unit's estimate: per test the highest of these its marks give, else
:data:`QUICK`, summed (all such units measured under 25 s)."""
QUICK = 0.05


def group(item: pytest.Item) -> str:
    """The work unit of a test: its module, or its module's half on one kind of database."""
    module = item.nodeid.split("::", 1)[0]
    params = getattr(getattr(item, "callspec", None), "params", {})
    kind = params.get("database_kind")
    return f"{module}[{kind}]" if kind else module


def cost(item: pytest.Item) -> float:
    return max((COST[m.name] for m in item.iter_markers() if m.name in COST), default=QUICK)


def grouping(config: pytest.Config) -> bool:
    """In an xdist worker of a ``--dist loadgroup`` run."""
    return bool(getattr(config.option, "loadgroup", False))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Name each test's unit before xdist's own hook appends it to the node id."""
    if not grouping(config):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group(item)))


@pytest.hookimpl(specname="pytest_collection_modifyitems", trylast=True)
def pytest_collection_modifyitems_by_cost(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The costliest units first, each unit's tests in pytest's own order (by fixture
    parameters), so that the end of a run is the short units."""
    if not grouping(config):
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        name = str(mark.args[0] if mark and mark.args else group(item))
        units.setdefault(name, []).append(item)
    def seconds(name: str) -> float:
        return SECONDS.get(name) or sum(cost(item) for item in units[name])

    items[:] = [item for name in sorted(units, key=lambda name: -seconds(name))
                for item in units[name]]
