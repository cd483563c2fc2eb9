"""``python -m bench weekly --baseline``: an older commit's solver materialized from git history
and run beside this tree's on the same instance (skipped, saying why, without the history)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.baseline import BASELINE, ROOT, NoHistory, materialize, portable, run_tree
from bench.generate import Spec, generate


def _history() -> str | None:
    """Why the round-one commit cannot be materialized here (None: it can)."""
    try:
        with materialize(BASELINE):
            return None
    except NoHistory as exc:
        return str(exc)


def test_no_history_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(NoHistory, match="not a git checkout"), materialize(BASELINE, tmp_path):
        pass
    if _history() is None:  # a commit that is not there (kept) beside one that is (broken)
        with pytest.raises(NoHistory, match="not in the history"), \
                materialize("0" * 40):
            pass


def test_a_shallow_clone_says_how_to_get_the_history(tmp_path: Path) -> None:
    if _history() is not None:
        pytest.skip(f"no git history here: {_history()}")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", str(clone)],
                   check=True)
    with pytest.raises(NoHistory, match="unshallow"), materialize(BASELINE, clone):
        pass


@pytest.mark.solve
def test_round_one_and_today_solve_the_same_week_side_by_side() -> None:
    why = _history()
    if why is not None:
        pytest.skip(why)
    data = portable(generate(Spec("S", "room", 1.0)))
    with materialize(BASELINE) as old:
        assert (old / "solver" / "model.py").is_file()  # round one's layout, not this tree's
        assert not (old / "solver" / "cpmodel.py").exists()
        before = run_tree(old, data, 1, 1)
    now = run_tree(ROOT, data, 1, 1)
    for side in (before, now):
        assert side.valid and 0 < side.placed <= side.weighted <= side.bound
    assert not old.exists()  # nothing left behind
