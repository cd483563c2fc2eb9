"""The demo week solved and re-planned on Monday morning, deterministically (one worker, seed 0,
CP-SAT's deterministic time), gives byte for byte the files kept in tests/fixtures/golden/: a
refactoring that changes a schedule, a change list or a feed line shows here.

Kept there: both schedule.json files (``solver.seconds``, the only clock-dependent field, set to
0), Monday's changes.json, three of Monday's feeds in full (so a diff is readable), and
``manifest.sha256`` for every other file written (feeds, rems.csv, the re-planned scenario).
``CHAIRTIME_GOLDEN_WRITE=1`` rewrites them from this tree's run, for a change meant to show.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
SAME = ["--workers", "1", "--seed", "0", "--deterministic", "--time-limit", "1"]
KEPT = ["demo/schedule.json", "monday/schedule.json", "monday/changes.json"]
IN_FULL = ["monday/feeds/patient-P001.ics", "monday/feeds/room-R1.ics",
           "monday/feeds/staff-N1.ics"]


def _normalized(path: Path) -> str:
    """The file's text; a schedule's with ``solver.seconds`` at 0."""
    text = path.read_bytes().decode("utf-8")  # no newline translation: byte for byte
    if path.name != "schedule.json":
        return text
    text, n = re.subn(r'"seconds": [0-9.e+-]+', '"seconds": 0', text)
    assert n == 1, f"{path}: {n} solver.seconds fields"
    return text


def _hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and str(p.relative_to(out)) not in KEPT}


def write_golden(out: Path) -> None:
    """The fixture from a run's ``demo`` and ``monday`` folders in ``out``."""
    shutil.rmtree(GOLDEN, ignore_errors=True)
    for name in KEPT:
        (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
        (GOLDEN / name).write_bytes(_normalized(out / name).encode("utf-8"))
    for name in IN_FULL:
        (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / name, GOLDEN / name)
    (GOLDEN / "manifest.sha256").write_text(
        "".join(f"{digest}  {name}\n" for name, digest in _hashes(out).items()), encoding="utf-8")


def _run(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "scheduler", "-q", *args], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _diff(want: str, got: str, name: str) -> str:
    lines = difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{name}",
                                 f"now/{name}", lineterm="", n=2)
    return "\n".join(list(lines)[:80])


@pytest.mark.solve
@pytest.mark.slow
def test_the_demo_week_and_its_monday_replan_match_the_golden_files(tmp_path: Path) -> None:
    _run("solve", "--out", str(tmp_path / "demo"), *SAME, "--now", "2026-12-01T12:00:00+00:00")
    _run("replan", "config/demo.yaml", str(tmp_path / "demo" / "schedule.json"),
         "config/demo-events.yaml", "--out", str(tmp_path / "monday"), *SAME,
         "--now", "2026-12-07T07:00:00-05:00")
    if os.environ.get("CHAIRTIME_GOLDEN_WRITE") == "1":
        write_golden(tmp_path)
    for name in KEPT:
        want = _normalized(GOLDEN / name)
        got = _normalized(tmp_path / name)
        assert got == want, _diff(want, got, name)
    for name in IN_FULL:  # CRLF lines: compared as bytes
        want_bytes, got_bytes = (GOLDEN / name).read_bytes(), (tmp_path / name).read_bytes()
        assert got_bytes == want_bytes, _diff(want_bytes.decode(), got_bytes.decode(), name)
    lines = (GOLDEN / "manifest.sha256").read_text(encoding="utf-8").splitlines()
    manifest = {name: digest for digest, name in (line.split("  ", 1) for line in lines)}
    hashes = _hashes(tmp_path)
    differ = sorted(name for name in manifest.keys() | hashes.keys()
                    if manifest.get(name) != hashes.get(name))
    assert differ == [], "files not byte-identical to the golden run (or missing, or new)"
