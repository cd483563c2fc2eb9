"""The application's exceptions, one hierarchy under :class:`ChairtimeError`.

Callers map them without reading messages: :class:`InvalidInput` is exit 2 or HTTP 422 (every
problem, each with its field path), :class:`NotFound` is 404, :class:`Forbidden` 403,
:class:`Conflict` 409, :class:`TooMany` 429 with ``Retry-After``.

>>> raise InvalidInput([Issue("staff[3].shifts.tue", "ends at 09:00, not after 12:00")])
Traceback (most recent call last):
scheduler.errors.InvalidInput: staff[3].shifts.tue: ends at 09:00, not after 12:00
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChairtimeError", "Conflict", "Forbidden", "InvalidInput", "InvalidScenario", "Issue",
           "NotFound", "TooMany"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in an input: where (a field path such as ``staff[3].shifts.tue``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ChairtimeError(Exception):
    """Base of the errors this package raises on purpose."""


class InvalidInput(ChairtimeError, ValueError):
    """An input (scenario, patients CSV, events, variants, a schedule) is not valid; ``issues``
    lists every problem found, each naming its field."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


InvalidScenario = InvalidInput
"""The name the core used first; the same class."""


class NotFound(ChairtimeError, LookupError):
    """Something named by id does not exist (``kind`` ``id``)."""

    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"no {kind} '{id}'")


class Conflict(ChairtimeError):
    """The request clashes with the current state (a stale version, a taken slot)."""


class Forbidden(ChairtimeError):
    """The signed-in account may see this but not do it (its role in the clinic is too low, or
    it must change its password first)."""


class TooMany(ChairtimeError):
    """A limit on how much one account may ask for at once is reached (queued jobs, …): ask
    again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)
