"""What IT meets running the installed `arshjul`: the scheduler's and the relay's settings."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import CYCLE, STAGE

FRIDAY = "2026-02-06T07:00"  # Stockholm: a week before the inputs are due on 2026-02-13
HINT = "Error: raise --lease (ARSHJUL_LEASE_SECONDS), or lower ?timeout= in ARSHJUL_SMTP_URL"


@pytest.mark.parametrize(
    ("args", "smtp_url", "said"),
    [
        (["scheduler", "run", "--lease", "60"], "smtp://127.0.0.1:1",
         "Error: a lease of 60 s is too short for the mail server's timeout of 30 s: it must be at least 3 times "
         "the timeout (90 s)"),
        (["reminders", "send", "--at", FRIDAY], "smtp://127.0.0.1:1?timeout=600",
         "Error: a lease of 900 s is too short for the mail server's timeout of 600 s: it must be at least 3 times "
         "the timeout (1800 s)"),
    ],
)  # fmt: skip
def test_a_lease_shorter_than_a_few_smtp_timeouts_is_refused_before_anything_is_written(run, url, args, smtp_url,
                                                                                       said):  # fmt: skip
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0  # reminders are due
    ran = run("--db", url, "--as", "nils", *args, env={"ARSHJUL_SMTP_URL": smtp_url})
    assert ran.code == 2, ran.stderr
    assert ran.stderr.splitlines() == [said, HINT]
    listed = run("--db", url, "--as", "nils", "reminders", "list", "--format", "json")
    assert json.loads(listed.stdout) == []  # nothing enqueued
