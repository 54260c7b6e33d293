"""`scheduler run`: APScheduler ticks plan, enqueue and deliver; SIGTERM stops it cleanly."""

from __future__ import annotations

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
    assert said[1].endswith(" tick: enqueued 4, sent 4, failed 0, retrying 0, messages 4")
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


def test_a_failing_tick_is_reported_and_the_next_one_runs(wheel, clock, tmp_path):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    said: list[str] = []

    def echo(line: str) -> None:
        said.append(line)
        if len(said) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    run_scheduler(wheel, ADMIN, FlakyFolder(tmp_path, sender_from(None)), 0.05, echo)
    assert said[1].endswith(" tick failed: RuntimeError: disk on fire")
    # The claimed rows wait for their lease; nothing is lost and nothing is sent twice.
    assert said[2].endswith(" tick: enqueued 0, sent 0, failed 0, retrying 0, messages 0")
    assert {row["status"] for row in list_reminders(wheel, ADMIN)} == {"sending"}
