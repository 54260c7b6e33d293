"""The injected clock and parsing what users type for dates and moments."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cycle.clock import UTC, Clock, FixedClock, SystemClock, local_date, parse_date, parse_moment
from cycle.errors import BadInput

STHLM = "Europe/Stockholm"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


# --- clocks -------------------------------------------------------------------------


def test_system_clock_is_aware_utc_and_current():
    before = dt.datetime.now(UTC)
    now = SystemClock().now()
    assert now.utcoffset() == dt.timedelta(0)
    assert before <= now <= dt.datetime.now(UTC)


def test_fixed_clock_stands_still_until_moved():
    clock = FixedClock(utc(2027, 2, 10, 8, 0))
    assert clock.now() == clock.now() == utc(2027, 2, 10, 8, 0)
    assert clock.advance(dt.timedelta(days=3, hours=1)) == utc(2027, 2, 13, 9, 0)
    assert clock.now() == utc(2027, 2, 13, 9, 0)
    clock.set(utc(2026, 1, 1))
    assert clock.now() == utc(2026, 1, 1)


def test_fixed_clock_keeps_moments_in_utc():
    clock = FixedClock(dt.datetime(2027, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    assert clock.now() == utc(2027, 6, 1, 8, 0)
    assert clock.now().tzinfo is UTC


def test_fixed_clock_refuses_naive_moments():
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(dt.datetime(2027, 1, 1))
    clock = FixedClock(utc(2027, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(dt.datetime(2027, 1, 1))


def test_clocks_are_clocks_and_know_the_local_date():
    clock = FixedClock(utc(2027, 12, 31, 23, 30))  # already 2028 in Stockholm
    assert isinstance(clock, Clock) and isinstance(SystemClock(), Clock)
    assert clock.today(STHLM) == dt.date(2028, 1, 1)
    assert clock.today("UTC") == dt.date(2027, 12, 31)


# --- parse_date ---------------------------------------------------------------------


def test_parse_date():
    assert parse_date("2027-02-10") == dt.date(2027, 2, 10)
    assert parse_date("2028-02-29") == dt.date(2028, 2, 29)


@pytest.mark.parametrize(
    "text",
    ["2027-02-30", "2027-02-29", "2027-13-01", "2027-00-10", "0000-01-01", "2027-2-10", "20270210",
     "2027-02-10T08:00", " 2027-02-10", "2027/02/10", "10-02-2027", "", "idag", "２０２７-０２-１０"],
)  # fmt: skip
def test_parse_date_rejects_anything_but_a_real_yyyy_mm_dd(text):
    with pytest.raises(BadInput) as caught:
        parse_date(text)
    assert caught.value.message == f"invalid date '{text}': expected YYYY-MM-DD"


def test_parse_date_error_message_is_exact():
    with pytest.raises(BadInput) as caught:
        parse_date("2027-02-30")
    assert caught.value.lines() == [
        "invalid date '2027-02-30': expected YYYY-MM-DD",
        "no such day in the calendar",
    ]
    assert caught.value.exit_code == 2


# --- parse_moment -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-02-10", utc(2027, 2, 9, 23, 0)),  # local midnight, winter time
        ("2027-07-10", utc(2027, 7, 9, 22, 0)),  # local midnight, summer time
        ("2027-02-10T08:00", utc(2027, 2, 10, 7, 0)),
        ("2027-07-10T08:00", utc(2027, 7, 10, 6, 0)),
        ("2027-07-10T08:00:30", utc(2027, 7, 10, 6, 0, 30)),
        ("2027-07-10 08:00", utc(2027, 7, 10, 6, 0)),
        ("2027-07-10T08:00Z", utc(2027, 7, 10, 8, 0)),
        ("2027-07-10t08:00z", utc(2027, 7, 10, 8, 0)),
        ("2027-07-10T08:00:00+00:00", utc(2027, 7, 10, 8, 0)),
        ("2027-07-10T08:00+01:00", utc(2027, 7, 10, 7, 0)),  # an explicit offset beats the zone
        ("2027-07-10T08:00-05:30", utc(2027, 7, 10, 13, 30)),
        ("2027-07-10T08:00+0200", utc(2027, 7, 10, 6, 0)),
        ("2027-07-10T08:00:00.250000Z", utc(2027, 7, 10, 8, 0, 0, 250000)),  # as `log --format json` prints
        ("2027-12-31T23:30-01:00", utc(2028, 1, 1, 0, 30)),
    ],
)
def test_parse_moment(text, expected):
    moment = parse_moment(text, STHLM)
    assert moment == expected
    assert moment.tzinfo is UTC


def test_moment_in_the_spring_gap_uses_the_winter_offset():
    # 2027-03-28 02:00-03:00 does not exist in Stockholm; 02:30 is read as +01:00,
    # which is 03:30 summer time on the wall clock.
    moment = parse_moment("2027-03-28T02:30", STHLM)
    assert moment == utc(2027, 3, 28, 1, 30)
    assert moment == parse_moment("2027-03-28T03:30", STHLM)
    assert parse_moment("2027-03-28T01:59", STHLM) == utc(2027, 3, 28, 0, 59)
    assert parse_moment("2027-03-28T03:00", STHLM) == utc(2027, 3, 28, 1, 0)


def test_moment_in_the_autumn_overlap_is_the_first_occurrence():
    # 2027-10-31 02:00-03:00 happens twice; the first (summer time, +02:00) is meant.
    assert parse_moment("2027-10-31T02:30", STHLM) == utc(2027, 10, 31, 0, 30)
    assert parse_moment("2027-10-31T01:59", STHLM) == utc(2027, 10, 30, 23, 59)
    assert parse_moment("2027-10-31T03:00", STHLM) == utc(2027, 10, 31, 2, 0)


def test_moment_follows_the_given_zone():
    assert parse_moment("2027-07-10T08:00", "UTC") == utc(2027, 7, 10, 8, 0)
    assert parse_moment("2027-07-10T08:00", "America/New_York") == utc(2027, 7, 10, 12, 0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2027-02-30T08:00", "expected YYYY-MM-DD"),
        ("2027-02-10T24:00", "no such time of day"),
        ("2027-02-10T08:60", "no such time of day"),
        ("2027-02-10T08:00:60", "no such time of day"),
        ("2027-02-10T08:00+24:00", "UTC offset +24:00 is out of range"),
        ("2027-02-10T08:00+01:60", "UTC offset +01:60 is out of range"),
        ("2027-02-10T8:00", "expected YYYY-MM-DD"),
        ("2027-02-10T08", "expected YYYY-MM-DD"),
        ("2027-02-10Z", "expected YYYY-MM-DD"),
        ("2027-02-10T08:00 CET", "expected YYYY-MM-DD"),
        ("2027-02-10T08:00+1", "expected YYYY-MM-DD"),
        ("0001-01-01T00:30", "out of range"),  # before year 1 in UTC
        ("9999-12-31T23:00-05:00", "out of range"),
        ("nu", "expected YYYY-MM-DD"),
        ("", "expected YYYY-MM-DD"),
    ],
)
def test_parse_moment_rejects_bad_strings(text, reason):
    with pytest.raises(BadInput) as caught:
        parse_moment(text, STHLM)
    assert caught.value.message.startswith(f"invalid moment '{text}': ")
    assert reason in caught.value.message


@pytest.mark.parametrize("zone", ["Europe/Stockholmm", "", "../etc/passwd", "Mars/Olympus"])
def test_unknown_time_zone_is_bad_input(zone):
    with pytest.raises(BadInput, match="unknown time zone"):
        parse_moment("2027-02-10", zone)


@given(st.datetimes(dt.datetime(1971, 1, 1), dt.datetime(2099, 12, 31), timezones=st.just(UTC)))
def test_parse_moment_round_trips_iso_output(moment):
    assert parse_moment(moment.isoformat(), STHLM) == moment
    assert parse_moment(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), STHLM) == moment.replace(microsecond=0)


@given(st.text(max_size=30))
def test_parse_moment_raises_only_bad_input(text):
    try:
        moment = parse_moment(text, STHLM)
    except BadInput:
        return
    assert moment.tzinfo is UTC


# --- local_date ---------------------------------------------------------------------


def test_local_date():
    assert local_date(utc(2027, 12, 31, 22, 59), STHLM) == dt.date(2027, 12, 31)
    assert local_date(utc(2027, 12, 31, 23, 0), STHLM) == dt.date(2028, 1, 1)
    assert local_date(utc(2027, 6, 30, 22, 0), STHLM) == dt.date(2027, 7, 1)  # summer: +02:00
    assert local_date(parse_moment("2027-03-28", STHLM), STHLM) == dt.date(2027, 3, 28)


def test_local_date_refuses_naive_moments():
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(dt.datetime(2027, 1, 1), STHLM)
