"""The application's exceptions: each carries every problem found, with its field path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in an input: where (a field path such as ``staff[3].shifts.tue``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ChairtimeError(Exception):
    """Base of the errors this package raises on purpose."""


class InvalidScenario(ChairtimeError, ValueError):
    """A scenario (or an input derived from one) is not valid; ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))
