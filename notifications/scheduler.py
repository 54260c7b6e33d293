"""`arshjul scheduler run`: APScheduler 3 ticks that plan, enqueue and deliver.

One interval job in an in-memory job store, `coalesce=True` (a backlog of missed ticks
runs once), `max_instances=1` (ticks never overlap) and `misfire_grace_time=None` (a
late tick still runs). APScheduler's job stores cannot be shared between processes,
so nothing here is relied on for correctness: several schedulers may run against one
database, and the outbox's UNIQUE key and leases keep every reminder to one delivery.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable

from cycle.database import Database, outage
from cycle.errors import ArshjulError
from notifications.transport import Transport

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
log = logging.getLogger(__name__)


def run_scheduler(db: Database, actor: str, transport: Transport, interval_seconds: float,
                  echo: Callable[[str], None], lease: dt.timedelta | None = None) -> None:  # fmt: skip
    """Tick now and every `interval_seconds` until SIGTERM or SIGINT; then return.

    `lease`: how long this node holds the messages it claimed (default `outbox.LEASE`).
    """
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    from notifications import outbox, service

    outbox.require_lease(lease or outbox.LEASE, transport.answer_timeout)  # refused now, not at every tick
    service.require_admin(db, actor, "run the reminder scheduler")
    # A tick longer than the interval makes APScheduler skip the next one with a warning
    # each time: that is `max_instances=1` doing its job, not something to wake anyone for.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=dt.UTC)
    scheduler.add_job(
        _tick, "interval", args=(db, actor, transport, echo, lease), seconds=interval_seconds, id="reminders",
        next_run_time=dt.datetime.now(dt.UTC), coalesce=True, max_instances=1, misfire_grace_time=None,
    )  # fmt: skip
    echo(f"scheduler: every {interval_seconds:g} s, mail via {transport.describe()}; stop with Ctrl-C or SIGTERM")
    stop = threading.Event()
    previous = _on_stop_signals(lambda *_: stop.set())
    try:
        scheduler.start()
        # The signal only sets the event: shutting the scheduler down from inside a signal
        # handler interrupts whatever the main thread was doing in APScheduler's own loop.
        stop.wait()
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)  # a tick under way finishes, so it hands back no claimed rows
        _restore(previous)
    echo("scheduler: stopped")


def _tick(db: Database, actor: str, transport: Transport, echo: Callable[[str], None],
          lease: dt.timedelta | None = None) -> None:  # fmt: skip
    """One round; a failure is reported and the next tick tries again (delivery hands back what it had claimed)."""
    from notifications import service

    started = db.clock.now()
    try:
        counts = service.send_reminders(db, actor, None, transport, lease)
    except ArshjulError as err:
        echo(f"{started:%Y-%m-%dT%H:%M:%SZ} tick failed: {_one_line(err)}")
        return
    except Exception as err:  # a database outage or a bug must not end a long-running scheduler
        down = outage(db.url, err)
        if down is not None:
            # Not a bug. The pool finds a dropped connection out before the next tick uses it
            # (pool_pre_ping), so that tick works.
            echo(f"{started:%Y-%m-%dT%H:%M:%SZ} tick failed: {_one_line(down)}")
            return
        echo(f"{started:%Y-%m-%dT%H:%M:%SZ} tick failed: {type(err).__name__}: {err}")
        # Not one of ours, so possibly a bug: keep its traceback for whoever reads the log.
        log.error("reminder tick failed", exc_info=err)
        return
    echo(f"{started:%Y-%m-%dT%H:%M:%SZ} tick: " + service.summary(counts))


def _one_line(err: ArshjulError) -> str:
    """The error as one line of the scheduler's log: its lines, and the lines within them, joined."""
    return "; ".join(part.strip() for line in err.lines() for part in line.splitlines() if part.strip())


def _on_stop_signals(handler) -> dict:
    """Install `handler` for SIGTERM and SIGINT; only the main thread may."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def _restore(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
