"""The injected clock, and reading dates and moments that users type.

Code that depends on the time takes a `Clock` (or a `now`) instead of calling
`datetime.now()`, so tests and `--at` can move time without sleeping.

Moments are always timezone-aware and in UTC inside arshjul; local time exists only
at the edges, in the workflow's time zone.

Local times that do not exist or exist twice (daylight saving changes) are read the
way `zoneinfo` reads them with `fold=0`, which is deterministic:
- in the spring gap (Europe/Stockholm 2027-03-28 02:00-03:00) the wall time is taken
  with the offset in force before the change, so 02:30 is 01:30 UTC, shown as 03:30;
- in the autumn overlap (2027-10-31 02:00-03:00 happens twice) the first occurrence,
  still summer time, is meant: 02:30 is 00:30 UTC.
"""

from __future__ import annotations

import abc
import datetime as dt
import re
import zoneinfo

from cycle.errors import BadInput

# Written out here, not taken from the process locale (strftime), which may lack Swedish or differ per machine.
MONTHS = {
    "sv": ("januari", "februari", "mars", "april", "maj", "juni",
           "juli", "augusti", "september", "oktober", "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June",
           "July", "August", "September", "October", "November", "December"),
}  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

UTC = dt.UTC

_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})")
_MOMENT = re.compile(
    _DATE.pattern
    + r"(?:[T ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    + r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,6}))?)?"
    + r"(?P<offset>Z|[+-][0-9]{2}:?[0-9]{2})?)?",
    re.IGNORECASE,
)
_MOMENT_FORMATS = "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][±HH:MM|Z]"
# The years arshjul plans in, as `cycle start --year` takes them: moments and moved deadlines
# stay inside, so that the days before and after them (reminders, horizons) are dates too.
FIRST_YEAR, LAST_YEAR = 1901, 9998


class Clock(abc.ABC):
    """Where arshjul gets the current moment from."""

    @abc.abstractmethod
    def now(self) -> dt.datetime:
        """The current moment, timezone-aware, in UTC."""

    def today(self, tz_name: str) -> dt.date:
        """The current date on the wall calendar of `tz_name`."""
        return local_date(self.now(), tz_name)


class SystemClock(Clock):
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock(Clock):
    """A clock that stands still until told to move; for tests and `--at`."""

    def __init__(self, moment: dt.datetime):
        self._moment = _as_utc(moment)

    def now(self) -> dt.datetime:
        return self._moment

    def set(self, moment: dt.datetime) -> None:
        self._moment = _as_utc(moment)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move forward (or back, with a negative delta); returns the new moment."""
        self._moment += delta
        return self._moment


def parse_date(text: str) -> dt.date:
    """A strict `YYYY-MM-DD` date; anything else is BadInput."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise BadInput(f"invalid date '{text}': expected YYYY-MM-DD")
    return _date_from(match, f"invalid date '{text}': expected YYYY-MM-DD")


def parse_moment(text: str, tz_name: str) -> dt.datetime:
    """A moment as typed by a user, in UTC.

    Without a UTC offset it is wall-clock time in `tz_name`; a bare date is its local
    midnight. See the module notes for the daylight saving changes.
    """
    match = _MOMENT.fullmatch(text)
    if match is None:
        raise BadInput(f"invalid moment '{text}': expected {_MOMENT_FORMATS}")
    day = _date_from(match, f"invalid moment '{text}': expected {_MOMENT_FORMATS}")
    require_planned_year(day, f"invalid moment '{text}'")
    tzinfo = _offset(match["offset"], text) if match["offset"] else zone(tz_name)
    try:
        local = dt.datetime.combine(day, _time_from(match), tzinfo)
        return local.astimezone(UTC)
    except ValueError:
        raise BadInput(f"invalid moment '{text}': no such time of day") from None
    except OverflowError:
        raise BadInput(f"invalid moment '{text}': out of range") from None


def require_planned_year(day: dt.date, what: str) -> None:
    """BadInput unless `day` falls in the years arshjul plans in (FIRST_YEAR to LAST_YEAR)."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise BadInput(f"{what}: out of range", hint=f"arshjul plans in the years {FIRST_YEAR} to {LAST_YEAR}")


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    """The date `moment` falls on in `tz_name`."""
    if moment.tzinfo is None:
        raise ValueError("local_date needs a timezone-aware moment")
    return moment.astimezone(zone(tz_name)).date()


def zone(tz_name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone `tz_name`; an unknown name is BadInput."""
    try:
        return zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown time zone '{tz_name}'", hint="use an IANA name such as Europe/Stockholm") from None


def _as_utc(moment: dt.datetime) -> dt.datetime:
    # A naive moment is a bug in the caller, not bad user input: which zone was meant is unknowable.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the clock needs a timezone-aware moment")
    return moment.astimezone(UTC)


def _date_from(match: re.Match[str], message: str) -> dt.date:
    try:
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise BadInput(message, hint="no such day in the calendar") from None


def _time_from(match: re.Match[str]) -> dt.time:
    fraction = (match["fraction"] or "").ljust(6, "0")
    return dt.time(
        int(match["hour"] or 0),
        int(match["minute"] or 0),
        int(match["second"] or 0),
        int(fraction),
    )


def _offset(text: str, moment: str) -> dt.timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise BadInput(f"invalid moment '{moment}': UTC offset {text} is out of range")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
