"""Deadlines against the real Swedish calendar (the `holidays` package, no mocks)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cycle.deadlines import WorkingDays, meeting_deadline, nominal_date, resolve, working_days
from cycle.errors import BadInput
from workflows.definition import DeadlineRule

SE = working_days("SE")
D = dt.date


def rule(text: str) -> DeadlineRule:
    """`Y-12-25`, `Y+1-01-01`, `Y-1-04-30` as in a workflow file."""
    head, month, day = text.rsplit("-", 2)
    return DeadlineRule(int(head[1:] or 0), int(month), int(day))


# Every public and de-facto holiday of 2026-2028 that falls on a weekday.
WEEKDAY_HOLIDAYS = [
    D(2026, 1, 1), D(2026, 1, 6), D(2026, 4, 3), D(2026, 4, 6), D(2026, 5, 1), D(2026, 5, 14),
    D(2026, 6, 19), D(2026, 12, 24), D(2026, 12, 25), D(2026, 12, 31),
    D(2027, 1, 1), D(2027, 1, 6), D(2027, 3, 26), D(2027, 3, 29), D(2027, 5, 6), D(2027, 6, 25),
    D(2027, 12, 24), D(2027, 12, 31),
    D(2028, 1, 6), D(2028, 4, 14), D(2028, 4, 17), D(2028, 5, 1), D(2028, 5, 25), D(2028, 6, 6),
    D(2028, 6, 23), D(2028, 12, 25), D(2028, 12, 26),
]  # fmt: skip


def test_weekday_holidays_are_not_working_days():
    assert [d for d in WEEKDAY_HOLIDAYS if SE.is_working_day(d)] == []


def test_every_other_weekday_of_2026_to_2028_is_a_working_day():
    day, others = D(2026, 1, 1), []
    while day.year <= 2028:
        if day.weekday() < 5 and day not in WEEKDAY_HOLIDAYS:
            others.append(day)
        day += dt.timedelta(days=1)
    assert [d for d in others if not SE.is_working_day(d)] == []


@pytest.mark.parametrize(
    "day",
    [
        D(2027, 3, 25),  # skärtorsdag
        D(2027, 1, 5),  # trettondagsafton
        D(2027, 11, 5),  # the Friday before alla helgons dag
        D(2028, 6, 5),  # the Monday before nationaldagen
    ],
)
def test_eves_that_are_not_de_facto_holidays_are_working_days(day):
    assert SE.is_working_day(day)


def test_weekends_are_not_working_days():
    assert not SE.is_working_day(D(2027, 2, 13))
    assert not SE.is_working_day(D(2027, 2, 14))
    assert SE.is_working_day(D(2027, 2, 15))


@pytest.mark.parametrize(
    ("text", "year", "expected"),
    [
        # 2026
        ("Y-04-03", 2026, D(2026, 4, 2)),  # långfredag
        ("Y-04-06", 2026, D(2026, 4, 2)),  # annandag påsk, over the whole Easter weekend
        ("Y-05-14", 2026, D(2026, 5, 13)),  # Kristi himmelfärds dag
        ("Y-06-06", 2026, D(2026, 6, 5)),  # nationaldagen on a Saturday
        ("Y-06-19", 2026, D(2026, 6, 18)),  # midsommarafton
        ("Y-06-20", 2026, D(2026, 6, 18)),  # midsommardagen
        ("Y-10-31", 2026, D(2026, 10, 30)),  # alla helgons dag
        ("Y-12-26", 2026, D(2026, 12, 23)),  # julafton, juldagen, annandag jul
        ("Y-12-31", 2026, D(2026, 12, 30)),  # nyårsafton
        ("Y-01-01", 2026, D(2025, 12, 30)),  # nyårsdagen, back into the previous year's nyårsafton
        ("Y-01-06", 2026, D(2026, 1, 5)),  # trettondedag jul
        # 2027
        ("Y-12-25", 2027, D(2027, 12, 23)),
        ("Y+1-01-01", 2027, D(2027, 12, 30)),
        ("Y-06-25", 2027, D(2027, 6, 24)),  # midsommarafton
        ("Y-03-29", 2027, D(2027, 3, 25)),  # annandag påsk
        ("Y-05-06", 2027, D(2027, 5, 5)),  # Kristi himmelfärds dag
        ("Y-06-06", 2027, D(2027, 6, 4)),  # nationaldagen on a Sunday
        ("Y-11-06", 2027, D(2027, 11, 5)),  # alla helgons dag
        ("Y-01-06", 2027, D(2027, 1, 5)),  # trettondedag jul on a Wednesday
        ("Y-1-12-24", 2027, D(2026, 12, 23)),  # Y-1: julafton 2026
        ("Y-1-04-30", 2027, D(2026, 4, 30)),  # Y-1 on a working day: unchanged
        # 2028
        ("Y-04-14", 2028, D(2028, 4, 13)),  # långfredag
        ("Y-04-17", 2028, D(2028, 4, 13)),  # annandag påsk
        ("Y-05-01", 2028, D(2028, 4, 28)),  # första maj on a Monday
        ("Y-05-25", 2028, D(2028, 5, 24)),  # Kristi himmelfärds dag
        ("Y-06-06", 2028, D(2028, 6, 5)),  # nationaldagen on a Tuesday
        ("Y-06-23", 2028, D(2028, 6, 22)),  # midsommarafton
        ("Y-11-04", 2028, D(2028, 11, 3)),  # alla helgons dag
        ("Y-12-26", 2028, D(2028, 12, 22)),  # juldagen Monday, annandag jul Tuesday
        ("Y+1-01-01", 2028, D(2028, 12, 29)),  # nyårsdagen Monday, nyårsafton Sunday
    ],
)
def test_resolve_moves_holidays_to_the_previous_working_day(text, year, expected):
    assert resolve(rule(text), year, SE) == expected


@pytest.mark.parametrize(
    ("text", "year", "expected"),
    [
        ("Y-02-10", 2027, D(2027, 2, 10)),  # Wednesday
        ("Y-02-13", 2027, D(2027, 2, 12)),  # Saturday
        ("Y-02-14", 2027, D(2027, 2, 12)),  # Sunday
        ("Y+1-03-31", 2027, D(2028, 3, 31)),  # Friday, next year
        ("Y-1-03-31", 2027, D(2026, 3, 31)),  # Tuesday, previous year
    ],
)
def test_resolve_on_ordinary_days_and_weekends(text, year, expected):
    assert resolve(rule(text), year, SE) == expected


def test_leap_day_rule_means_the_last_day_of_february():
    assert nominal_date(rule("Y-02-29"), 2028) == D(2028, 2, 29)
    assert nominal_date(rule("Y-02-29"), 2027) == D(2027, 2, 28)
    assert resolve(rule("Y-02-29"), 2027, SE) == D(2027, 2, 26)  # the 28th is a Sunday


@pytest.mark.parametrize("bad", [DeadlineRule(0, 4, 31), DeadlineRule(0, 13, 1), DeadlineRule(0, 2, 30)])
def test_impossible_rules_are_bad_input(bad):
    with pytest.raises(BadInput, match="invalid deadline"):
        resolve(bad, 2027, SE)


def test_rule_outside_the_calendar_is_bad_input():
    with pytest.raises(BadInput, match="out of range"):
        resolve(rule("Y+1-01-01"), 9999, SE)


@pytest.mark.parametrize(
    ("meeting", "days_before", "expected"),
    [
        (D(2027, 2, 15), 7, D(2027, 2, 8)),  # Monday to Monday
        (D(2027, 2, 10), 0, D(2027, 2, 10)),  # the meeting day itself
        (D(2027, 2, 17), 4, D(2027, 2, 12)),  # lands on a Saturday
        (D(2027, 1, 13), 7, D(2027, 1, 5)),  # lands on trettondedag jul
        (D(2027, 7, 2), 7, D(2027, 6, 24)),  # lands on midsommarafton
        (D(2027, 4, 5), 7, D(2027, 3, 25)),  # lands on annandag påsk, Easter behind it
        (D(2028, 1, 10), 10, D(2027, 12, 30)),  # lands on nyårsafton, previous year
    ],
)
def test_meeting_deadline(meeting, days_before, expected):
    assert meeting_deadline(meeting, days_before, SE) == expected


def test_meeting_deadline_refuses_negative_days():
    with pytest.raises(BadInput, match="0 or more"):
        meeting_deadline(D(2027, 2, 15), -1, SE)


def test_holidays_between_names_each_holiday_in_order():
    found = SE.holidays_between(D(2027, 12, 20), D(2028, 1, 6))
    assert list(found) == [D(2027, 12, 24), D(2027, 12, 25), D(2027, 12, 26), D(2027, 12, 31),
                           D(2028, 1, 1), D(2028, 1, 6)]  # fmt: skip
    assert found[D(2027, 12, 24)] == "Julafton"
    assert SE.holiday_name(D(2027, 6, 25)) == "Midsommarafton"
    assert SE.holiday_name(D(2027, 2, 13)) is None  # a plain Saturday


def test_working_days_is_shared_per_country():
    assert working_days("SE") is working_days("se") is SE


def test_unknown_country_is_bad_input():
    with pytest.raises(BadInput, match="unknown holiday country 'XX'"):
        WorkingDays("XX")


def test_country_without_de_facto_holidays_uses_public_ones():
    us = working_days("US")
    assert not us.is_working_day(D(2027, 11, 25))  # Thanksgiving
    assert us.is_working_day(D(2027, 11, 26))
    assert resolve(rule("Y-07-05"), 2027, us) == D(2027, 7, 2)  # Independence Day observed


rules = st.builds(
    DeadlineRule,
    year_offset=st.integers(-1, 1),
    month=st.integers(1, 12),
    day=st.integers(1, 31),
).filter(lambda r: r.day <= (29 if r.month == 2 else 30 if r.month in (4, 6, 9, 11) else 31))


@given(rules, st.integers(1960, 2099))
def test_resolved_is_the_nearest_working_day_on_or_before_the_nominal_date(deadline, year):
    nominal = nominal_date(deadline, year)
    resolved = resolve(deadline, year, SE)
    assert SE.is_working_day(resolved)
    assert nominal - dt.timedelta(days=10) <= resolved <= nominal
    between = [resolved + dt.timedelta(days=n) for n in range(1, (nominal - resolved).days + 1)]
    assert not any(SE.is_working_day(d) for d in between)  # includes the nominal date if moved


@given(st.dates(D(1960, 1, 1), D(2099, 12, 31)), st.integers(0, 60))
def test_meeting_deadline_is_a_working_day_at_least_days_before(meeting, days_before):
    deadline = meeting_deadline(meeting, days_before, SE)
    nominal = meeting - dt.timedelta(days=days_before)
    assert SE.is_working_day(deadline)
    assert nominal - dt.timedelta(days=10) <= deadline <= nominal
