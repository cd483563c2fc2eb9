"""Arithmetic on half-open minute spans ``[start, end)``, shared by the candidates, the greedy,
the CP-SAT model, the LP bound and the score.

Unless a function says otherwise, a tuple or list of spans is sorted and its spans do not
overlap (the problem's invariant)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

import numpy as np

from solver.problem import Interval, Mode, Protocol

_END = 10**12


def inside(start: int, end: int, spans: Sequence[Interval]) -> bool:
    """True when ``[start, end)`` lies wholly inside one of ``spans``: a binary search finds the
    only span that could hold it."""
    i = bisect_right(spans, (start, _END)) - 1
    return i >= 0 and spans[i][0] <= start and end <= spans[i][1]


def inside_many(starts: np.ndarray, a: int, b: int, spans: Sequence[Interval]) -> np.ndarray:
    """``inside(s + a, s + b, spans)`` for every ``s`` of ``starts`` at once."""
    if not spans:
        return np.zeros(len(starts), bool)
    lo = np.fromiter((x for x, _ in spans), np.int64, len(spans))
    hi = np.fromiter((y for _, y in spans), np.int64, len(spans))
    i = np.searchsorted(lo, starts + a, side="right") - 1
    return (i >= 0) & (hi[np.maximum(i, 0)] >= starts + b)


def overlaps_any(start: int, end: int, spans: Sequence[Interval]) -> bool:
    """True when ``[start, end)`` shares a moment with one of ``spans``."""
    i = bisect_right(spans, (end, -_END)) - 1  # the last span starting before ``end``
    return i >= 0 and spans[i][1] > start


def union(spans: Iterable[Interval]) -> tuple[Interval, ...]:
    """Any spans, sorted, with overlapping or touching ones joined: a hand-over at 12:00
    between two people's shifts covers a phase across 12:00."""
    out: list[Interval] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def pieces(spans: Sequence[Interval], window: Sequence[Interval]) -> list[Interval]:
    """The non-empty intersections of ``spans`` with ``window``."""
    return [(max(a, x), min(b, y)) for a, b in spans for x, y in window
            if max(a, x) < min(b, y)]


def overlap(spans: Sequence[Interval], window: Sequence[Interval]) -> int:
    """Minutes of ``spans`` that fall inside ``window``."""
    return sum(max(0, min(b, y) - max(a, x)) for a, b in spans for x, y in window)


def max_overlap(spans: list[Interval], start: int, end: int) -> int:
    """The largest number of ``spans`` (any, overlapping) that overlap one moment of
    ``[start, end)``."""
    events: list[tuple[int, int]] = []
    for a, b in spans:
        if a < end and start < b:
            events.append((max(a, start), 1))
            events.append((min(b, end), -1))
    events.sort()
    best = level = 0
    for _, delta in events:
        level += delta
        best = max(best, level)
    return best


def mode_blocks(protocol: Protocol, modes: dict[str, Mode],
                wanted: frozenset[Mode]) -> list[Interval]:
    """Offsets from the session's start of maximal runs of consecutive phases whose mode is in
    ``wanted`` (``HANDS`` or ``LOAD``)."""
    blocks: list[Interval] = []
    t = 0
    for p in protocol.phases:
        if modes.get(p.name) in wanted:
            if blocks and blocks[-1][1] == t:
                blocks[-1] = (blocks[-1][0], t + p.minutes)
            else:
                blocks.append((t, t + p.minutes))
        t += p.minutes
    return blocks
