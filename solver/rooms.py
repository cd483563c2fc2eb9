"""Interchangeable rooms pooled into classes, and rooms given back to sessions afterwards.

Rooms with the same features and hours differ only in which chair a patient sits in. The model
and the greedy treat such a class as one resource of all its chairs; since sessions occupy a chair
over an interval, any set of sessions that never overlaps more than the class's chairs can be
seated chair by chair in order of start (interval graphs colour with as many colours as their
largest clique), so rooms are assigned exactly, after the search. Rooms named by fixed or known
appointments stay classes of their own, so those keep their exact room.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from solver.problem import Interval, Placement, Problem


@dataclass(frozen=True, slots=True)
class RoomClass:
    id: str
    rooms: tuple[str, ...]
    chairs: int
    features: frozenset[str]
    hours: tuple[Interval, ...] | None


def room_classes(problem: Problem) -> dict[str, RoomClass]:
    """Classes by id; a room kept on its own has its own id as the class id."""
    pinned = {a.room for a in (*problem.fixed, *problem.previous)}
    groups: dict[object, list[str]] = {}
    for r in problem.rooms:
        key: object = r.id if r.id in pinned else (r.features, r.hours)
        groups.setdefault(key, []).append(r.id)
    rooms = {r.id: r for r in problem.rooms}
    out = {}
    for ids in groups.values():
        cid = ids[0] if len(ids) == 1 else "class:" + "+".join(ids)
        first = rooms[ids[0]]
        out[cid] = RoomClass(cid, tuple(ids), sum(rooms[i].chairs for i in ids),
                             first.features, first.hours)
    return out


def class_of(problem: Problem) -> dict[str, str]:
    """Room id (or class id) -> class id."""
    out: dict[str, str] = {}
    for c in room_classes(problem).values():
        out[c.id] = c.id
        for r in c.rooms:
            out[r] = c.id
    return out


def assign_rooms(problem: Problem, appointments: list[Placement]) -> list[Placement]:
    """Give every appointment booked in a pooled class a real room, chair by chair."""
    classes = room_classes(problem)
    chairs = {r.id: r.chairs for r in problem.rooms}
    out = [a for a in appointments if a.room is None or not a.room.startswith("class:")]
    pooled: dict[str, list[Placement]] = {}
    for a in appointments:  # a video session (room None) takes no room
        if a.room is not None and a.room.startswith("class:"):
            pooled.setdefault(a.room, []).append(a)
    for cid, booked in pooled.items():
        free = [(-(10**9), room, seat) for room in classes[cid].rooms
                for seat in range(chairs[room])]
        heapq.heapify(free)  # (free from, room, chair), earliest free first
        for a in sorted(booked, key=lambda a: (a.start, a.patient)):
            protocol = problem.appointment_protocol(a)
            ready, room, seat = heapq.heappop(free)
            if ready > a.start:  # cannot happen when the class never overlaps beyond its chairs
                raise ValueError(f"room class {cid} over capacity at minute {a.start}")
            out.append(Placement(a.patient, a.day, a.start, room, a.staff, a.id, a.protocol))
            heapq.heappush(free, (a.start + protocol.minutes + protocol.turnover, room, seat))
    return out
