"""The format lives in the project: the README and docs/ link only to files of the repository
(a clone has nothing beside it), and docs/format.md names every field of the scenario's
models, so a field added to the format without its line there fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from scheduler import model

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FORMAT = ROOT / "docs" / "format.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("clinic", model.Clinic), ("horizon", model.Horizon), ("protocols", model.ProtocolSpec),
    ("rooms", model.RoomSpec), ("staff", model.StaffSpec), ("patients", model.PatientSpec),
    ("fixed", model.FixedSpec), ("settings", model.SoftGoals), ("feeds", model.FeedSettings),
    ("courses", model.CourseSpec), ("scenario", model.Scenario),
    ("clinic.self_service", model.SelfService)]


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_links_stay_inside_the_repository_and_exist(doc: Path) -> None:
    outside, missing = [], []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address
        path = (doc.parent / target).resolve()
        if not path.is_relative_to(ROOT):
            outside.append(target)
        elif not path.exists():
            missing.append(target)
    assert (outside, missing) == ([], [])
    assert "../shared" not in doc.read_text(encoding="utf-8")


@pytest.mark.parametrize(("section", "kind"), SECTIONS, ids=[s for s, _ in SECTIONS])
def test_the_format_page_names_every_field(section: str, kind: type[BaseModel]) -> None:
    text = FORMAT.read_text(encoding="utf-8")
    unnamed = [name for name, f in kind.model_fields.items()
               if not re.search(rf"[`.\s]{re.escape(f.alias or name)}[`:,\s]", text)]
    assert unnamed == [], f"docs/format.md does not describe {section}: {unnamed}"
