"""The README's architecture section names every module of the three packages, so a newcomer
finds each one's job there (and a module nobody can say one line about shows up here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scheduler", "solver", "calendars")
LEFT_OUT = {"__init__.py", "__main__.py"}


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Architecture\n")
    return text[start:text.index("\n## ", start + 1)]


def test_every_module_is_listed_in_the_readme_architecture() -> None:
    section = _section()
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in LEFT_OUT or "migrations" in path.parts:
                continue
            name = path.name if path.parent.name != "routes" else path.stem
            if not re.search(rf"(?<![\w/]){re.escape(name)}(?![\w])", section):
                missing.append(str(path.relative_to(ROOT)))
    assert missing == [], f"modules the README's architecture does not list: {missing}"


def test_every_module_says_its_job_in_its_first_docstring_line() -> None:
    import ast

    silent = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            empty_init = path.name == "__init__.py" and path.stat().st_size == 0
            if "migrations" in path.parts or empty_init:
                continue
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            if not doc:
                silent.append(str(path.relative_to(ROOT)))
    assert silent == [], f"modules without a docstring saying their job: {silent}"
