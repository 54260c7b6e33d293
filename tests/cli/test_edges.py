"""What a demanding user or a script types at the installed `arshjul`: empty arguments,
dates at the ends of the calendar, huge limits, usage slips. Every error is `Error:` lines
with the contract's exit code, nothing is written, and the log stays verifiable."""

from __future__ import annotations

import json

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
        assert any(line.startswith("Error: ") for line in ran.stderr.splitlines())
    assert entries(run, url) == before
    assert_verified(run, url)
