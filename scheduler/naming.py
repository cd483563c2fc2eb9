"""Names for the ids in a sentence: the checker's, the solver's and the events' words name
staff, rooms, patients and protocols by id; what a page or an API answer shows names them
("Dana Fischer (N4)"), the id beside on its first mention.

The checker and the solver stay as they are (their words are the CLI's contract and the
tests'): the service and the pages translate what they show with a :class:`Namer` of the
scenario the words were said about.

>>> say = Namer({"N4": "Dana Fischer", "R1": "Room 1", "P001": "Dev Evans"})
>>> say("N4 is hands-on with two patients at once around Tue 09:00")
'Dana Fischer (N4) is hands-on with two patients at once around Tue 09:00'
>>> say("room R1 is not open for the whole session; P001's sessions, P001 again")
"Room 1 (R1) is not open for the whole session; Dev Evans (P001)'s sessions, Dev Evans again"
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from scheduler.documents import Appointment
from scheduler.model import Scenario

__all__ = ["Namer"]


class Namer:
    """Translates sentences: each known id becomes its name, with the id beside it (in
    parentheses) the first time it appears in a sentence; ids in ``bare`` (protocols) become
    the name alone. A word before an id that the name already starts with is not repeated
    ("room R1" -> "Room 1 (R1)"). An id in parentheses is left as it is, so translating twice
    changes nothing."""

    def __init__(self, names: dict[str, str], bare: Iterable[str] = ()) -> None:
        self.names = {k: v for k, v in names.items() if v and v.strip() and v != k}
        self.bare = set(bare)
        self.pattern: re.Pattern[str] | None = None
        if self.names:
            ids = "|".join(re.escape(k) for k in sorted(self.names, key=len, reverse=True))
            self.pattern = re.compile(
                rf"(?:(?P<word>\b[A-Za-z]+) )?(?<![\w(.-])(?P<id>{ids})(?![\w-]|\.\w|\))")

    @classmethod
    def of(cls, scenario: Scenario, appointments: Iterable[Appointment] = ()) -> Namer:
        """The names of ``scenario``'s staff, rooms, patients and protocols (and, when given,
        ``appointments`` as "Dev Evans's session")."""
        patients = {p.id: p.name or p.id for p in scenario.patients}
        names = {**{p.id: p.name for p in scenario.protocols if p.name},
                 **{r.id: r.name for r in scenario.rooms if r.name},
                 **{s.id: s.name for s in scenario.staff if s.name},
                 **{p.id: p.name for p in scenario.patients if p.name}}
        for a in appointments:
            names[a.id] = f"{patients.get(a.patient, a.patient)}'s session"
        return cls(names, bare=[p.id for p in scenario.protocols])

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        seen: set[str] = set()

        def named(match: re.Match[str]) -> str:
            key, word = match.group("id"), match.group("word")
            name = self.names[key]
            said = name if key in self.bare or key in seen else f"{name} ({key})"
            seen.add(key)
            if word is None:
                return said
            if name.split()[0].casefold() == word.casefold():
                return said
            return f"{word} {said}"

        return self.pattern.sub(named, text)
