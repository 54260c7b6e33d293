"""Deadlines on the working-day calendar.

A deadline that falls on a weekend, a public holiday or a de-facto holiday moves to the
previous working day: nobody can be expected to deliver on julafton, and moving earlier
(never later) keeps a deadline a promise the organisation can still meet.

Pure: no database, no clock. Holiday tables come from the `holidays` package and are
built lazily, one year at a time, because building them is slow compared to looking up.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import functools
import threading

import holidays

from cycle.errors import BadInput
from workflows.definition import DeadlineRule

# Days that are not public holidays but are treated as such (Sweden: midsommarafton,
# julafton, nyårsafton, which the annual leave law equates with Sundays).
_CATEGORIES = (holidays.PUBLIC, holidays.DE_FACTO)


class WorkingDays:
    """The working-day calendar of one country: weekends and holidays are non-working."""

    def __init__(self, country: str, language: str | None = None):
        self.country = _country_code(country)
        probe = holidays.country_holidays(self.country)
        self._categories = tuple(c for c in _CATEGORIES if c in probe.supported_categories)
        self._language = language or probe.default_language
        self._years: dict[int, _Year] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WorkingDays({self.country!r})"

    def is_working_day(self, day: dt.date) -> bool:
        return day not in self._year(day.year).closed

    def on_or_before(self, day: dt.date) -> dt.date:
        """`day` if it is a working day, else the nearest working day before it."""
        while not self.is_working_day(day):
            day -= dt.timedelta(days=1)
        return day

    def holiday_name(self, day: dt.date) -> str | None:
        """The holiday on `day` in the calendar's language; None on ordinary days and plain weekends."""
        return self._year(day.year).names.get(day)

    def holidays_between(self, first: dt.date, last: dt.date) -> dict[dt.date, str]:
        """Holidays (public and de-facto) from `first` to `last`, both included, in date order."""
        found: dict[dt.date, str] = {}
        for year in range(first.year, last.year + 1):
            names = self._year(year).names
            found.update((d, names[d]) for d in sorted(names) if first <= d <= last)
        return found

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            # The lock keeps two scheduler threads from building the same year twice.
            with self._lock:
                table = self._years.get(year) or self._build(year)
                self._years[year] = table
        return table

    def _build(self, year: int) -> _Year:
        table = holidays.country_holidays(
            self.country, years=year, categories=self._categories, language=self._language
        )
        # Ask the package day by day so that its own weekend rules (and any weekend
        # days it marks as working) apply; a year's lookups are then one set test.
        closed = frozenset(d for d in _days_of(year) if not table.is_working_day(d))
        return _Year(closed=closed, names=dict(table))


class _Year:
    __slots__ = ("closed", "names")

    def __init__(self, closed: frozenset[dt.date], names: dict[dt.date, str]):
        self.closed = closed
        self.names = names


@functools.cache
def _cached_working_days(country: str) -> WorkingDays:
    return WorkingDays(country)


def working_days(country: str) -> WorkingDays:
    """The shared calendar for `country`, so holiday tables are built once per process."""
    return _cached_working_days(_country_code(country))


def nominal_date(rule: DeadlineRule, year: int) -> dt.date:
    """The rule's date in the cycle for `year`, before moving off non-working days.

    `-02-29` means the last day of February, so a leap-day rule works in every year.
    """
    target_year = year + rule.year_offset
    if not 1 <= rule.month <= 12 or not 1 <= rule.day <= _longest_month(rule.month):
        raise BadInput(f"invalid deadline '{rule}': no such day")
    if not dt.MINYEAR <= target_year <= dt.MAXYEAR:
        raise BadInput(f"deadline '{rule}' for year {year} is out of range")
    last = _calendar.monthrange(target_year, rule.month)[1]
    return dt.date(target_year, rule.month, min(rule.day, last))


def resolve(rule: DeadlineRule, year: int, calendar: WorkingDays) -> dt.date:
    """The deadline `rule` gives in the cycle for `year`: its date, or the working day before."""
    return _on_or_before(calendar, nominal_date(rule, year))


def meeting_deadline(meeting: dt.date, days_before: int, calendar: WorkingDays) -> dt.date:
    """`days_before` calendar days before `meeting`, or the working day before that."""
    if days_before < 0:
        raise BadInput(f"days before a meeting must be 0 or more, not {days_before}")
    try:
        nominal = meeting - dt.timedelta(days=days_before)
    except OverflowError:
        raise BadInput(f"{days_before} days before {meeting} is out of range") from None
    return _on_or_before(calendar, nominal)


def days_before_giving(meeting: dt.date, deadline: dt.date, calendar: WorkingDays) -> list[int]:
    """Every `days_before` for which `meeting_deadline(meeting, …)` is `deadline`, most first.

    One, unless `deadline` was moved back off days off: a Friday deadline is 8, 9 or 10 days
    before a Monday meeting, since the Saturday and the Sunday move to that Friday too. A
    deadline no rule gives (a day off, or after the meeting) gets its plain distance alone.
    """
    most = (meeting - deadline).days
    if most < 0 or not calendar.is_working_day(deadline):
        return [max(most, 0)]
    found = [most]
    for days in range(most - 1, -1, -1):
        if calendar.is_working_day(meeting - dt.timedelta(days=days)):
            break
        found.append(days)
    return found


def _on_or_before(calendar: WorkingDays, day: dt.date) -> dt.date:
    try:
        return calendar.on_or_before(day)
    except OverflowError:
        raise BadInput(f"no working day on or before {day}") from None


def _country_code(country: str) -> str:
    code = country.strip().upper()
    if code not in _supported_countries():
        raise BadInput(f"unknown holiday country '{country}'", hint="use an ISO 3166 code such as SE")
    return code


@functools.lru_cache(maxsize=1)
def _supported_countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


def _longest_month(month: int) -> int:
    return _calendar.monthrange(2000, month)[1]  # 2000 is a leap year: February has 29


def _days_of(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    size = 366 if _calendar.isleap(year) else 365
    return [first + dt.timedelta(days=n) for n in range(size)]
