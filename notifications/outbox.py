"""The outbox: idempotent enqueueing, claiming with a lease, and recording what happened.

Idempotency lives in the database: `outbox_item` has UNIQUE(recipient, item_key, slot,
deadline), and items are inserted with ON CONFLICT DO NOTHING, so repeated planning,
a restart or a second node cannot enqueue a reminder twice. The items enqueued for one
recipient in one run become one message (a digest), rendered when it is enqueued, so a
resend of an unchanged digest is the same bytes with the same Message-ID. Just before it
is sent, delivery brings it up to date (`notifications.digest`): what was done meanwhile
is left out, and so is what a newer message to the same person carries (a later slot
of the same reminder, enqueued while this one waited for the relay); the days left are
counted again, and a digest with nothing left is withdrawn (failed, `WITHDRAWN`).

A message goes `pending → sending → sent | failed`. A sender claims pending rows whose
time has come by setting `claimed_by` and `lease_until` (and counting the attempt); a
row left `sending` by a sender that crashed is claimed again once its lease has run out.
Just before a sender hands a message to the relay it renews its lease on it (`renew`),
which fails once another sender has claimed the row or the lease has run out: it then
sends no more of it. Its send is given up (`cutoff`) well before the renewed lease ends,
so it is over before another sender may claim the row; and it records the outcome only
if the row is still its own (`claimed_by`, in the recording transaction), else it records
nothing and is told it lost the row (`LOST`). So two senders never have the same message
at the relay at once. What leases cannot prevent: a sender that stops (killed, or frozen
longer than its lease) after the relay took a message but before recording it, or a relay
that took a message without saying so before the send was given up: the message is sent
again, with the same Message-ID.
On PostgreSQL the claim skips rows another sender holds (`FOR UPDATE SKIP LOCKED`); on
SQLite the write transaction (`BEGIN IMMEDIATE`) serialises claims anyway.

A message has MAX_ATTEMPTS tries at a relay that answers: a 4xx reply, a dropped
connection or a timeout uses one up and waits (`backoff`); a 5xx reply fails it at once.
While the relay cannot be used at all (unreachable, or refusing our TLS or login: `RelayDown`)
no try is used up, since nothing was wrong with the message: it waits as long again as it
has waited so far (at most LONGEST_WAIT), and fails only once it is GIVE_UP_AFTER old.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cycle.database import Database
from cycle.errors import BadInput
from cycle.models import OutboxItem, OutboxMessage, OutboxStatus
from notifications.errors import DeliveryFailed, RelayDown, UnsafeHeader
from notifications.mail import Letter, compose, message_id
from notifications.planner import Due
from notifications.render import entries, render

LEASE = dt.timedelta(minutes=15)  # far longer than one claimed batch takes to send
LEASE_TIMEOUTS = 3  # a lease is at least this many times the transport's timeout (`require_lease`)
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_WAIT = dt.timedelta(hours=1)
CHUNK = 500
MAX_ATTEMPTS = 30  # 1, 2, 4 … 32 min, then hourly: about a day of a relay answering 4xx before giving up
# A relay that cannot be used is waited for this long: a long weekend (Easter: Thursday evening to
# Tuesday morning) with nobody at work to mend it. A reminder older than that is stale; the next
# slot's reminder takes its place.
GIVE_UP_AFTER = dt.timedelta(days=5)
PENDING, SENDING, SENT, FAILED = (s.value for s in OutboxStatus)
LOST = "lost"  # not a status: what `record` says when the row is no longer the caller's
# A failed message's last_error begins so when it was not sent because nothing in it waited any more,
# or a newer message carries all that still waits.
WITHDRAWN = "withdrawn before sending: "


@dataclass(frozen=True)
class Enqueued:
    messages: int
    items: int  # as the digests' readers count them: a notice told with its reminder is one (`render.entries`)
    refused: int  # messages that could not be built (an unsafe header): failed at once


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    items: int
    letter: Letter
    created_at: dt.datetime  # aware: when the message was enqueued
    recipient: str = ""  # username
    locale: str = ""


def key(due: Due) -> tuple:
    return (due.to.username, due.item_key, due.slot, due.key_date)


def fresh(session: Session, dues: list[Due]) -> list[Due]:
    """The planned items not yet in the outbox: what a send would enqueue now."""
    known: set[tuple] = set()
    keys = sorted({d.item_key for d in dues})
    for start in range(0, len(keys), CHUNK):  # bounded IN lists: SQLite caps bound parameters
        stmt = select(OutboxItem.recipient, OutboxItem.item_key, OutboxItem.slot, OutboxItem.deadline).where(
            OutboxItem.item_key.in_(keys[start : start + CHUNK])
        )
        known |= {tuple(row) for row in session.execute(stmt)}
    return [d for d in dues if key(d) not in known]


def enqueue(session: Session, dues: list[Due], now: dt.datetime, sender: Address) -> Enqueued:
    """One message per recipient holding their items that were not enqueued before."""
    by_person: dict[str, list[Due]] = {}
    for due in dues:
        by_person.setdefault(due.to.username, []).append(due)
    messages = items = refused = 0
    for group in by_person.values():
        row = _new_message(session, group[0], now)
        inserted = _insert_items(session, row.id, group)
        if not inserted:  # another run or node enqueued all of them first
            session.execute(delete(OutboxMessage).where(OutboxMessage.id == row.id))
            continue
        messages, items = messages + 1, items + len(entries([d.payload() for d in inserted]))  # as its reader counts
        refused += not _fill(row, inserted, sender)
    return Enqueued(messages, items, refused)


def _new_message(session: Session, due: Due, now: dt.datetime) -> OutboxMessage:
    row = OutboxMessage(recipient=due.to.username, name=due.to.name, email=due.to.email, locale=due.to.locale,
                        status=PENDING, attempts=0, next_attempt_at=_naive(now), created_at=_naive(now))  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _insert_items(session: Session, outbox_id: int, group: list[Due]) -> list[Due]:
    """INSERT … ON CONFLICT DO NOTHING; returns the items this call inserted."""
    values = [
        {
            "outbox_id": outbox_id,
            "recipient": d.to.username,
            "item_key": d.item_key,
            "slot": d.slot,
            "deadline": d.key_date,
            "kind": d.kind,
            "payload": d.payload(),
        }  # fmt: skip
        for d in group
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(OutboxItem)
        .on_conflict_do_nothing()
        .returning(OutboxItem.recipient, OutboxItem.item_key, OutboxItem.slot, OutboxItem.deadline)
    )
    inserted = {tuple(row) for row in session.execute(stmt, values)}
    return [d for d in group if key(d) in inserted]


def _fill(row: OutboxMessage, items: list[Due], sender: Address) -> bool:
    """Render the digest into the row; an unsafe header fails the row with the reason."""
    rendered = render({"username": row.recipient, "name": row.name, "locale": row.locale},
                      [d.payload() for d in items])  # fmt: skip
    row.subject, row.body_text, row.body_html = rendered.subject, rendered.text, rendered.html
    try:
        row.message_id = message_id(row.id, row.created_at, sender.domain)
        compose(letter(row), sender)
    except UnsafeHeader as err:
        row.status, row.last_error = FAILED, err.message
        return False
    return True


def letter(row: OutboxMessage) -> Letter:
    return Letter(row.name, row.email, row.subject, row.body_text, row.body_html, row.message_id or "",
                  row.created_at.replace(tzinfo=dt.UTC))  # fmt: skip


# --- claiming and recording ------------------------------------------------------


def claim(db: Database, worker: str, limit: int, lease: dt.timedelta = LEASE,
          ready_by: dt.datetime | None = None) -> list[Claimed]:  # fmt: skip
    """Take up to `limit` rows whose time had come by `ready_by` (default now), for `lease`, in one transaction."""
    now = _naive(db.clock.now())
    by = _naive(ready_by) if ready_by is not None else now
    ready = or_(
        and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= by),
        and_(OutboxMessage.status == SENDING, OutboxMessage.lease_until <= by),
    )
    with db.write() as session:
        rows = session.execute(
            select(OutboxMessage).where(ready).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit).with_for_update(skip_locked=True)
        ).scalars().all()  # fmt: skip
        counts = _item_counts(session, [r.id for r in rows])
        for row in rows:
            row.status, row.claimed_by, row.lease_until = SENDING, worker, now + lease
            row.attempts += 1
        return [Claimed(r.id, r.attempts, counts.get(r.id, 0), letter(r), r.created_at.replace(tzinfo=dt.UTC),
                        r.recipient, r.locale) for r in rows]  # fmt: skip


def _item_counts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    ids = list(ids)
    if not ids:
        return {}
    stmt = (
        select(OutboxItem.outbox_id, func.count()).where(OutboxItem.outbox_id.in_(ids)).group_by(OutboxItem.outbox_id)
    )
    return dict(session.execute(stmt).all())


def payloads(session: Session, ids: Iterable[int]) -> dict[int, list[dict]]:
    """The items of each message, as `Due.payload()` dicts, in the order they were enqueued."""
    found: dict[int, list[dict]] = {}
    stmt = select(OutboxItem.outbox_id, OutboxItem.payload).where(OutboxItem.outbox_id.in_(list(ids)))
    for outbox_id, payload in session.execute(stmt.order_by(OutboxItem.id)):
        found.setdefault(outbox_id, []).append(payload)
    return found


def later(session: Session, batch: list[Claimed]) -> dict[int, list[dict]]:
    """For each claimed message, the items of the messages to its recipient enqueued after it, queued or sent.

    Each item as `{"to", "item_key", "slot", "key_date"}`, what names it in the UNIQUE key. One query for
    the batch: the items of its recipients' messages enqueued since the oldest of it, not failed.
    """
    if not batch:
        return {}
    stmt = (
        select(OutboxItem.recipient, OutboxItem.item_key, OutboxItem.slot, OutboxItem.deadline,
               OutboxMessage.created_at, OutboxMessage.id)
        .join(OutboxMessage, OutboxMessage.id == OutboxItem.outbox_id)
        .where(OutboxMessage.recipient.in_({c.recipient for c in batch}),
               OutboxMessage.created_at >= min(_naive(c.created_at) for c in batch),
               OutboxMessage.status.in_((PENDING, SENDING, SENT)))
    )  # fmt: skip
    by_person: dict[str, list[tuple]] = {}
    for to, item_key, slot, deadline, created_at, outbox_id in session.execute(stmt):
        item = {"to": to, "item_key": item_key, "slot": slot, "key_date": deadline.isoformat()}
        by_person.setdefault(to, []).append(((created_at, outbox_id), item))
    found: dict[int, list[dict]] = {}
    for claimed in batch:
        mine = (_naive(claimed.created_at), claimed.id)
        found[claimed.id] = [item for order, item in by_person.get(claimed.recipient, ()) if order > mine]
    return found


def renew(db: Database, worker: str, claimed: Claimed, lease: dt.timedelta) -> dt.datetime | None:
    """Just before `worker` hands `claimed` over: its lease on it, renewed to run `lease` from now; None if it
    no longer holds the row (another sender claimed it, or by the clock its lease has run out, so that another
    may claim it at any moment). The renewal is one write transaction, so it and a claim never overlap."""
    now = _naive(db.clock.now())
    until = now + lease
    with db.write() as session:
        renewed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.id, OutboxMessage.claimed_by == worker,
                   OutboxMessage.status == SENDING, OutboxMessage.lease_until > now)
            .values(lease_until=until)
        )  # fmt: skip
    return until.replace(tzinfo=dt.UTC) if renewed.rowcount else None


def require_lease(lease: dt.timedelta, answer_timeout: float) -> None:
    """Refuse a lease too short for the transport's timeout: a send is given up well before its lease ends
    (`cutoff`), so a lease of a few timeouts would cut off sends to a relay that is merely slow."""
    shortest = dt.timedelta(seconds=LEASE_TIMEOUTS * answer_timeout)
    if lease < shortest:
        raise BadInput(
            f"a lease of {lease.total_seconds():g} s is too short for the mail server's timeout of "
            f"{answer_timeout:g} s: it must be at least {LEASE_TIMEOUTS} times the timeout "
            f"({shortest.total_seconds():g} s)",
            "raise --lease (ARSHJUL_LEASE_SECONDS), or lower ?timeout= in ARSHJUL_SMTP_URL",
        )


def cutoff(lease_until: dt.datetime, lease: dt.timedelta, answer_timeout: float) -> dt.datetime:
    """When a send under a lease that ends `lease_until` is given up, so that it has surely ended before then:
    the one wait an abort cannot cut short (a connect, `answer_timeout`) and a tenth of the lease (the nodes'
    clocks may differ that much) before its end."""
    return lease_until - dt.timedelta(seconds=answer_timeout) - lease / 10


def record(db: Database, worker: str, claimed: Claimed, failure: Exception | None, sent: Letter | None = None) -> str:
    """Store the outcome of one attempt; returns the row's new status, or LOST if `worker` no longer holds it.

    `sent`: the letter that went out, when it was brought up to date since it was stored; the row keeps it.
    """
    values = _outcome(claimed, failure, db.clock.now())
    if failure is None and sent is not None:
        values |= {"subject": sent.subject, "body_text": sent.text, "body_html": sent.html}
    return _store(db, worker, claimed, values)


def withdraw(db: Database, worker: str, claimed: Claimed, why: str) -> str:
    """Fail a claimed message that is no longer worth sending, untried, saying why; LOST if `worker` lost it."""
    return _store(db, worker, claimed, {"status": FAILED, "last_error": f"{WITHDRAWN}{why}",
                                        "attempts": claimed.attempts - 1})  # fmt: skip


def _store(db: Database, worker: str, claimed: Claimed, outcome: dict) -> str:
    values = {"claimed_by": None, "lease_until": None, **outcome}
    with db.write() as session:
        # Only the holder of the claim records; a sender whose lease ran out lost the row,
        # and the outcome is the new holder's to record and to count.
        updated = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == claimed.id, OutboxMessage.claimed_by == worker, OutboxMessage.status == SENDING
            )  # fmt: skip
            .values(**values)
        )
    return values["status"] if updated.rowcount else LOST


def _outcome(claimed: Claimed, failure: Exception | None, now: dt.datetime) -> dict:
    """The columns one attempt's outcome sets."""
    if failure is None:
        return {"status": SENT, "sent_at": _naive(now), "last_error": None}
    if _permanent(failure):
        return {"status": FAILED, "last_error": _message(failure)}
    if isinstance(failure, RelayDown):
        return _unsent(claimed, failure, now)
    if claimed.attempts >= MAX_ATTEMPTS:
        return {"status": FAILED, "last_error": f"gave up after {claimed.attempts} attempts: {_message(failure)}"}
    return {"status": PENDING, "last_error": _message(failure),
            "next_attempt_at": _naive(now + backoff(claimed.attempts))}  # fmt: skip


def _unsent(claimed: Claimed, failure: RelayDown, now: dt.datetime) -> dict:
    """The relay could not be used: the claim's try is given back, and the message waits unless it is too old."""
    waited = now - claimed.created_at
    values = {"attempts": claimed.attempts - 1}
    if waited >= GIVE_UP_AFTER:
        said = f"gave up after {GIVE_UP_AFTER.days} days without a mail server to take it: {_message(failure)}"
        return values | {"status": FAILED, "last_error": said}
    return values | {"status": PENDING, "last_error": _message(failure),
                     "next_attempt_at": _naive(now + outage_wait(waited))}  # fmt: skip


def release(db: Database, worker: str, ids: list[int]) -> None:
    """Hand back claimed rows that were never tried: due again at once, the claim's try given back."""
    if not ids:
        return
    with db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker, OutboxMessage.status == SENDING)
            .values(status=PENDING, claimed_by=None, lease_until=None, attempts=OutboxMessage.attempts - 1)
        )


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8 … minutes after the 1st, 2nd, 3rd … attempt, at most an hour."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20), LONGEST_WAIT)


def outage_wait(waited: dt.timedelta) -> dt.timedelta:
    """As long again as the message has waited, from a minute to an hour: tries 1, 2, 4 … minutes after enqueueing."""
    return min(max(waited, FIRST_RETRY), LONGEST_WAIT)


def _permanent(failure: Exception) -> bool:
    return isinstance(failure, UnsafeHeader) or (isinstance(failure, DeliveryFailed) and failure.permanent)


def _message(failure: Exception) -> str:
    if getattr(failure, "message", None):  # ours: a sentence for the reader
        return failure.message
    return f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__  # a bug: name it


# --- listing -------------------------------------------------------------------


def rows(session: Session, status: str | None = None, limit: int | None = None) -> list[dict]:
    """Outbox messages, oldest first; `pending` includes rows being sent right now."""
    items = select(func.count()).where(OutboxItem.outbox_id == OutboxMessage.id).scalar_subquery()
    stmt = select(OutboxMessage, items)
    if status == PENDING:
        stmt = stmt.where(OutboxMessage.status.in_((PENDING, SENDING)))
    elif status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    if limit is not None:
        found = session.execute(stmt.order_by(OutboxMessage.id.desc()).limit(limit)).all()[::-1]
    else:
        found = session.execute(stmt.order_by(OutboxMessage.id)).all()
    return [_as_dict(row, count) for row, count in found]


def _as_dict(row: OutboxMessage, items: int) -> dict:
    return {
        "id": row.id, "to": row.recipient, "email": row.email, "subject": row.subject, "status": row.status,
        "attempts": row.attempts, "next_attempt_at": _iso(row.next_attempt_at), "last_error": row.last_error,
        "created_at": _iso(row.created_at), "sent_at": _iso(row.sent_at), "message_id": row.message_id,
        "items": items,
    }  # fmt: skip


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _naive(moment: dt.datetime) -> dt.datetime:
    """UTC without tzinfo, as the schema stores moments."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
