"""What a demanding user or a script types at the installed `arshjul`: empty arguments,
dates at the ends of the calendar, huge limits, usage slips. Every error is `Error:` lines
with the contract's exit code, nothing is written, and the log stays verifiable."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import CYCLE, INPUT, STAGE


def entries(run, url) -> int:
    return len(json.loads(run("--db", url, "--as", "ulf", "log", "--format", "json").stdout))


def assert_verified(run, url) -> None:
    ran = run("--db", url, "--as", "ulf", "audit", "verify")
    assert ran.code == 0, ran.stdout + ran.stderr


def test_deadline_set_with_an_empty_input_is_refused_and_the_log_stays_verifiable(run, url):
    before = entries(run, url)
    for args in (("", "2026-03-01"), ("", "2026-03-01", "--unit", "bou")):
        ran = run("--db", url, "--as", "oskar", "deadline", "set", CYCLE, STAGE, *args, "-m", "Flyttad")
        assert ran.code == 2, ran.stderr
        assert all(line.startswith("Error: ") for line in ran.stderr.splitlines())
    assert entries(run, url) == before
    assert_verified(run, url)


def test_log_with_a_huge_limit_or_the_last_day_of_the_calendar_shows_everything(run, url):
    everything = entries(run, url)
    for args in (("--limit", "1" + "0" * 30), ("--until", "9999-12-31"), ("--since", "0001-01-01")):
        ran = run("--db", url, "--as", "ulf", "log", "--format", "json", *args)
        assert ran.code == 0, ran.stderr
        assert len(json.loads(ran.stdout)) == everything


def test_reminders_at_the_end_of_the_calendar_is_bad_input(run, url):
    for at in ("9999-12-31T12:00", "9999-12-31", "1900-06-01T08:00"):
        ran = run("--db", url, "--as", "nils", "reminders", "plan", "--at", at)
        assert ran.code == 2, ran.stderr
        assert ran.stderr.startswith(f"Error: invalid moment '{at}': out of range")


def test_a_deadline_outside_the_calendar_is_bad_input_and_writes_nothing(run, url):
    before = entries(run, url)
    for args in ((INPUT, "--unit", "sbf", "0001-01-01"), (INPUT, "--unit", "sbf", "9999-12-31"), ("1900-12-31",)):
        ran = run("--db", url, "--as", "oskar", "deadline", "set", CYCLE, STAGE, *args, "-m", "Flyttad")
        assert ran.code == 2, ran.stderr
        assert ran.stderr.startswith("Error: ") and "1901" in ran.stderr
    assert entries(run, url) == before
    assert_verified(run, url)


def test_an_empty_as_is_bad_usage_not_the_login_name(run, url):
    before = entries(run, url)
    login = {"LOGNAME": "oskar", "USER": "oskar"}  # the owner who could open the stage
    ran = run("--db", url, "--as", "", "stage", "open", CYCLE, STAGE, env=login)
    assert ran.code == 2, ran.stderr
    assert ran.stderr.startswith("Error: --as needs a username")
    assert entries(run, url) == before
    assert run("--db", url, "stage", "open", CYCLE, STAGE, env={**login, "ARSHJUL_USER": ""}).code == 0


@pytest.mark.parametrize("args", [
    ("--nope", "status"), ("stage", "fly"), ("log", "--limit", "0"), ("log", "--event", "nope"),
    ("status", CYCLE, "--at", "2026-02-30"), ("stage", "return", CYCLE, STAGE),
    ("deadline", "set", CYCLE, STAGE, "2026-03-01"), ("deadline", "set", CYCLE, STAGE, INPUT, "2026-03-01", "-m", "x"),
    ("reminders", "list", "--status", "nope"), ("cycle", "list", "--format", "ndjson"),
    ("stage", "return", CYCLE, STAGE, "-m", " "), ("deadline", "set", CYCLE, STAGE, "2026-03-01", "-m", ""),
    ("input", "return", CYCLE, STAGE, INPUT, "--unit", "bou", "-m", "\t"),
])  # fmt: skip
def test_a_usage_error_is_error_lines_like_every_other_error(run, url, args):
    ran = run("--db", url, "--as", "nils", *args)
    assert ran.code == 2
    lines = ran.stderr.splitlines()
    assert lines and all(line.startswith("Error: ") for line in lines), ran.stderr
    assert "--help" in lines[-1]


def test_a_table_keeps_one_row_a_line_and_no_control_characters_of_a_comment(run, url):
    comment = "rad ett\nrad två\r\tslut\x1b[2J"
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE, "-m", comment).code == 0
    table = run("--db", url, "--as", "ulf", "log").stdout
    assert len(table.splitlines()) == entries(run, url) + 1  # the header and one line per entry
    assert "\x1b" not in table and "\r" not in table and "\t" not in table
    assert table.splitlines()[-1].endswith(r"rad ett\nrad två\r\tslut\x1b[2J")
    kept = json.loads(run("--db", url, "--as", "ulf", "log", "--format", "json").stdout)[-1]["comment"]
    assert kept == comment  # scripts get the text as it was written


def test_a_log_period_that_ends_before_it_begins_is_bad_input_not_an_empty_log(run, url):
    ran = run("--db", url, "--as", "ulf", "log", "--since", "2026-03-01", "--until", "2026-02-01")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.splitlines()[0] == "Error: the period ends (2026-02-01) before it begins (2026-03-01)"
    same_day = run("--db", url, "--as", "ulf", "log", "--since", "2026-02-01", "--until", "2026-02-01")
    assert same_day.code == 0  # one day, both ends included
