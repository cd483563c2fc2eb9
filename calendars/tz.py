"""RRULE-style VTIMEZONE components derived from the IANA database.

icalendar's ``add_missing_timezones()`` writes each transition as an RDATE list, which Mozilla's
ical.js 2.2 (Thunderbird) and Outlook read an hour off in summer. This writes what those clients
expect: one STANDARD and one DAYLIGHT observance, each with a yearly ``BYMONTH``/``BYDAY`` rule
("second Sunday of March at 02:00"), taken from the zone's transitions in the year before the
feed's first event.
"""

from __future__ import annotations

import calendar as cal
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _offset(tz: ZoneInfo, t: datetime) -> timedelta:
    return t.astimezone(tz).utcoffset() or timedelta(0)


def _transitions(tz: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) for each change of offset in ``year``."""
    out = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    before = _offset(tz, t)
    while t < end:
        after = _offset(tz, t + step)
        if after != before:
            lo, hi = 0, int(step.total_seconds() // 60)  # minutes after t: lo old, hi new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(tz, t + timedelta(minutes=mid)) == before:
                    lo = mid
                else:
                    hi = mid
            out.append((t + timedelta(minutes=hi), before, after))
            before = after
        t += step
    return out


def _rule(local: datetime) -> vRecur:
    """The yearly rule that lands on ``local``'s date: nth (or last) weekday of its month."""
    nth = (local.day - 1) // 7 + 1
    if local.day + 7 > cal.monthrange(local.year, local.month)[1]:
        nth = -1
    return vRecur({"FREQ": "YEARLY", "BYMONTH": local.month,
                   "BYDAY": f"{nth}{_DAYS[local.weekday()]}"})


def vtimezone(name: str, year: int) -> Timezone:
    """A VTIMEZONE for IANA zone ``name`` valid from ``year - 1`` on, RRULE-style."""
    tz = ZoneInfo(name)
    component = Timezone()
    component.add("tzid", name)
    changes = _transitions(tz, year - 1)
    if not changes:
        offset = datetime(year, 1, 1, tzinfo=tz).utcoffset() or timedelta(0)
        std = TimezoneStandard()
        std.add("dtstart", datetime(1970, 1, 1))  # noqa: DTZ001 - VTIMEZONE local time
        std.add("tzoffsetfrom", offset)
        std.add("tzoffsetto", offset)
        std.add("tzname", datetime(year, 1, 1, tzinfo=tz).tzname() or name)
        component.add_component(std)
        return component
    for change, old_offset, new_offset in changes:
        new = change.astimezone(tz)
        part = TimezoneDaylight() if new.dst() else TimezoneStandard()
        wall = (change + old_offset).replace(tzinfo=None)  # local time before the change
        part.add("dtstart", wall)
        part.add("tzoffsetfrom", old_offset)
        part.add("tzoffsetto", new_offset)
        part.add("tzname", new.tzname() or name)
        part.add("rrule", _rule(wall))
        component.add_component(part)
    return component
