"""The reminder use cases the CLI calls: plan, send, list, the transport, the scheduler.

Importing this module is cheap: jinja2, smtplib and APScheduler load only in the
functions that need them. Every use case is for admins (contract: `reminders …`,
`scheduler run`).

`send_reminders` returns counts. Of reminder items as their readers count them (the
items of a digest: a notice and the reminder to act on the same work are one, see
`render.entries`): `enqueued`, newly put in the outbox, and `sent`, delivered. Of messages (one
digest per recipient, holding items): `enqueued_messages`, newly put in the outbox,
`messages`, delivered (carrying the `sent` items), `retrying`, to be tried again later,
`failed`, failed for good, counting `refused`: those that could not even be built (an
unsafe header) when enqueued; and, only when it happened, `withdrawn`: messages not
sent because nothing in them waited for their recipient any more by the time they could
go (stored as failed, `outbox.WITHDRAWN`), `taken_over`: messages whose lease ran out
while this run held them, so that another sender now owns (and counts) their outcome, and
`relay_down`: why the relay could not be used (the messages wait for it, keeping their
tries). `summary` words them for people, each number with what it counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cycle import agenda, people
from cycle.database import Database
from cycle.errors import BadInput
from cycle.models import OutboxStatus

if TYPE_CHECKING:
    from notifications.planner import Due
    from notifications.transport import Transport

# Event notices are read from this much of the log: enough to ride out a long weekend
# of downtime, little enough that the query stays cheap on a million entries.
NOTICE_WINDOW = dt.timedelta(days=4)
STATUSES = tuple(s.value for s in OutboxStatus if s is not OutboxStatus.SENDING)


def require_admin(db: Database, actor: str, doing: str) -> None:
    with db.read() as session:
        people.require(people.person(session, actor), "admin", None, doing)


def plan_reminders(db: Database, actor: str, at: dt.datetime | None) -> list[dict]:
    """Dry run: what `send_reminders` at `at` would enqueue, one row per item and recipient."""
    at = at or db.clock.now()
    with db.read() as session:
        people.require(people.person(session, actor), "admin", None, "plan reminders")
        return [due.as_plan() for due in due_now(session, at)]


def due_now(session: Session, at: dt.datetime) -> list[Due]:
    """Planned at `at` and not yet in the outbox."""
    from notifications import outbox, planner

    found = agenda.read(session, since=at - NOTICE_WINDOW, until=at)
    return outbox.fresh(session, planner.plan(found, at))


def send_reminders(db: Database, actor: str, at: dt.datetime | None, transport: Transport,
                   lease: dt.timedelta | None = None) -> dict:  # fmt: skip
    """Enqueue what is due at `at` (idempotent), then deliver every message whose time has come.

    `lease`: how long a claimed message is this sender's (default `outbox.LEASE`).
    """
    from notifications import delivery, outbox

    at = at or db.clock.now()
    outbox.require_lease(lease or outbox.LEASE, transport.answer_timeout)  # before anything is enqueued
    with db.write() as session:
        people.require(people.person(session, actor), "admin", None, "send reminders")
        enqueued = outbox.enqueue(session, due_now(session, at), db.clock.now(), transport.sender)
    tally = delivery.deliver(db, transport, lease=lease or outbox.LEASE)
    counts = {
        "enqueued": enqueued.items, "sent": tally["items"], "failed": tally["failed"] + enqueued.refused,
        "retrying": tally["retrying"], "messages": tally["messages"], "enqueued_messages": enqueued.messages,
        "refused": enqueued.refused,
    }  # fmt: skip
    if tally["withdrawn"]:
        counts["withdrawn"] = tally["withdrawn"]
    if tally["taken_over"]:
        counts["taken_over"] = tally["taken_over"]
    if tally.relay_down:
        counts["relay_down"] = tally.relay_down
    return counts


def summary(counts: Mapping[str, int | str]) -> str:
    """`send_reminders`' counts as one line for the log, each number named with what it counts:
    `reminders: 4 enqueued, 3 sent in 3 messages; messages: 1 retrying, 0 failed`, then anything unusual."""
    failed = f"{counts['failed']} failed"
    if counts.get("refused"):
        failed += f" ({counts['refused']} could not be built)"
    line = (f"reminders: {counts['enqueued']} enqueued, {counts['sent']} sent in {_messages(counts['messages'])}; "
            f"messages: {counts['retrying']} retrying, {failed}")  # fmt: skip
    if counts.get("withdrawn"):
        line += f", {counts['withdrawn']} withdrawn"
    if counts.get("taken_over"):
        line += f", {counts['taken_over']} taken over by another sender"
    if counts.get("relay_down"):
        line += f"; {counts['relay_down']} (the messages wait for it, keeping their tries)"
    return line


def _messages(n: int | str) -> str:
    return f"{n} message" if n == 1 else f"{n} messages"


def list_reminders(db: Database, actor: str, status: str | None = None, limit: int | None = None) -> list[dict]:
    """Outbox messages, oldest first; `status` is pending (which includes sending), sent or failed."""
    from notifications import outbox

    if status is not None and status not in STATUSES:
        raise BadInput(f"unknown status '{status}': use one of {', '.join(STATUSES)}")
    with db.read() as session:
        people.require(people.person(session, actor), "admin", None, "list reminders")
        return outbox.rows(session, status, limit)


def transport_from_env(environ: Mapping[str, str], mail_dir: str | Path) -> Transport:
    """SMTP when `ARSHJUL_SMTP_URL` is set, else `.eml` files written to `mail_dir`."""
    from notifications import transport

    return transport.transport_from_env(environ, mail_dir)


def run_scheduler(db: Database, actor: str, transport: Transport, interval_seconds: float,
                  echo: Callable[[str], None], lease: dt.timedelta | None = None) -> None:  # fmt: skip
    """Long-running: plan, enqueue and deliver every `interval_seconds` until SIGTERM/SIGINT."""
    from notifications import scheduler

    scheduler.run_scheduler(db, actor, transport, interval_seconds, echo, lease)
