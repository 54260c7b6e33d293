"""`scheduler run`: APScheduler ticks plan, enqueue and deliver; SIGTERM stops it cleanly."""

from __future__ import annotations

import logging
import os
import signal

from cycle import actions
from notifications.service import list_reminders, run_scheduler
from notifications.transport import FileTransport, sender_from
from tests.integration.conftest import ADMIN, local


def test_a_tick_delivers_and_sigterm_stops_the_scheduler(wheel, clock, smtp, smtp_sink):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    said: list[str] = []
    before = signal.getsignal(signal.SIGTERM)

    def echo(line: str) -> None:
        said.append(line)
        if " tick: " in line:  # the first tick is done: ask the process to stop, as systemd would
            os.kill(os.getpid(), signal.SIGTERM)

    run_scheduler(wheel, ADMIN, smtp, 3600, echo)  # returns only once stopped

    assert said[0] == f"scheduler: every 3600 s, mail via {smtp.describe()}; stop with Ctrl-C or SIGTERM"
    assert said[1].endswith(" tick: reminders: 4 enqueued, 4 sent in 4 messages; messages: 0 retrying, 0 failed")
    assert said[-1] == "scheduler: stopped"
    assert len(smtp_sink.take()) == 4
    assert {row["status"] for row in list_reminders(wheel, ADMIN)} == {"sent"}
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers are put back


class FlakyFolder(FileTransport):
    """A transport whose first use fails with a bug-like error (a fake of our own port)."""

    failed = False

    def send(self, msg, to):  # noqa: ANN001
        if not self.failed:
            self.failed = True
            raise RuntimeError("disk on fire")
        super().send(msg, to)


def test_a_failing_tick_is_logged_and_the_next_one_sends_what_it_had_claimed(wheel, clock, tmp_path, caplog):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    said: list[str] = []

    def echo(line: str) -> None:
        said.append(line)
        if len(said) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with caplog.at_level(logging.ERROR, logger="notifications.scheduler"):
        run_scheduler(wheel, ADMIN, FlakyFolder(tmp_path, sender_from(None)), 0.05, echo)
    assert said[1].endswith(" tick failed: RuntimeError: disk on fire")
    (logged,) = [r for r in caplog.records if r.name == "notifications.scheduler"]
    assert isinstance(logged.exc_info[1], RuntimeError)  # the traceback of the bug is kept
    # The failed tick handed its claimed rows back: the next tick sends the three it never tried at
    # once (the clock has not moved), without waiting out the lease; the one that broke waits its minute.
    assert said[2].endswith(" tick: reminders: 0 enqueued, 3 sent in 3 messages; messages: 0 retrying, 0 failed")
    rows = list_reminders(wheel, ADMIN)
    assert sorted((r["status"], r["attempts"]) for r in rows) == [("pending", 1)] + [("sent", 1)] * 3
    assert [r["last_error"] for r in rows if r["status"] == "pending"] == ["RuntimeError: disk on fire"]


def test_a_database_that_goes_away_and_comes_back_costs_one_tick_and_one_line(pg_template, ange, ange_org, tmp_path,
                                                                               caplog):  # fmt: skip
    """PostgreSQL refuses the database's connections and drops the scheduler's for a tick, then takes them again."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from cycle.clock import FixedClock
    from cycle.cycles import start_cycle
    from cycle.database import Database
    from cycle.organisation import load_organisation

    url = pg_template.fresh()
    name = make_url(url).database
    clock = FixedClock(local("2026-01-12T09:00"))
    people = Database(url, clock=clock)  # the people at work, on connections of their own
    load_organisation(people, ADMIN, ange_org)
    start_cycle(people, ADMIN, ange, 2027)
    scheduler = Database(url, clock=clock)

    def database(allow: bool) -> None:
        with pg_template.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}'))
            if not allow:  # and every connection to it dropped, the scheduler's pooled one included
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                             {"name": name})  # fmt: skip

    said: list[str] = []

    def echo(line: str) -> None:
        said.append(line)
        if len(said) == 2:  # the first tick went well: the database goes away
            database(allow=False)
        elif len(said) == 3:  # a tick failed: the database is back, and a stage opens
            database(allow=True)
            actions.open_stage(people, "karin", "ange-2027", "omvarldsanalys")
        elif len(said) == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        with caplog.at_level(logging.ERROR, logger="notifications.scheduler"):
            run_scheduler(scheduler, ADMIN, FileTransport(tmp_path, sender_from(None)), 0.1, echo)
        rows = list_reminders(people, ADMIN)
    finally:
        database(allow=True)
        people.dispose()
        scheduler.dispose()
    failed = said[2]
    assert " tick failed: cannot use the database postgresql+psycopg://" in failed and "\n" not in failed, failed
    assert "Background on this error" not in failed
    assert [r for r in caplog.records if r.name == "notifications.scheduler"] == []  # an outage is no bug
    assert said[3].endswith(" tick: reminders: 4 enqueued, 4 sent in 4 messages; messages: 0 retrying, 0 failed")
    assert {r["status"] for r in rows} == {"sent"}
