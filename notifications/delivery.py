"""Delivering what the outbox holds: claim a batch, send each message, record each outcome.

Sending happens outside any database transaction (a slow relay must not hold the
SQLite write lock); the claim's lease keeps other senders off the rows meanwhile.
Times come from the injected clock, so retries and leases are tested without sleeping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator

from cycle.clock import Clock
from cycle.database import Database
from notifications import digest, outbox
from notifications.errors import DeliveryFailed, RelayDown, UnsafeHeader
from notifications.mail import compose
from notifications.transport import Transport

BATCH = 10  # rows per claim: small enough to send well within one lease
WATCH_SECONDS = 0.1  # how often a send's watch reads the clock (an injected clock may jump)


class Tally(Counter):
    """What one run did, as counts; and why it stopped early, if the relay could not be used."""

    relay_down: str | None = None


def worker_id() -> str:
    """Who holds a claim: host, process and a per-run nonce, for `claimed_by`."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def deliver(db: Database, transport: Transport, worker: str | None = None,
            lease: dt.timedelta = outbox.LEASE) -> Tally:  # fmt: skip
    """Send every message whose time has come; counts `messages`, `items`, `retrying`, `failed`, `withdrawn`,
    `taken_over`.

    Each message is brought up to date just before it is sent (`digest`): `items` counts what
    went out; a message with nothing left that waits, or only what a newer message to the same
    person carries, is withdrawn (stored as failed, saying so).

    A claim holds its rows for `lease`; a sender that dies leaves them to others after that.
    A row whose lease ran out before it was sent, or before its outcome was recorded here, is
    counted `taken_over`: another sender holds it now (or will), and its outcome is that sender's.
    """
    outbox.require_lease(lease, transport.answer_timeout)
    worker = worker or worker_id()
    tally = Tally(messages=0, items=0, retrying=0, failed=0, withdrawn=0, taken_over=0)
    # Only rows whose time had come when the run started: one retried during a long run
    # waits for the next run, instead of being claimed (and its attempt counted) again.
    start = db.clock.now()
    snapshot = None
    try:
        while batch := outbox.claim(db, worker, BATCH, lease, ready_by=start):
            snapshot = _snapshot(db, worker, batch, snapshot)
            if not _send_batch(db, transport, worker, batch, tally, snapshot, lease):
                break
    finally:
        transport.close()
    return tally


def _snapshot(db: Database, worker: str, batch: list[outbox.Claimed], last: digest.Snapshot | None) -> digest.Snapshot:
    """The agenda to bring `batch` up to date by; should reading it fail, the batch is handed back untried."""
    try:
        return digest.read(db, batch, last)
    except Exception:
        outbox.release(db, worker, [c.id for c in batch])
        raise


def _send_batch(db: Database, transport: Transport, worker: str, batch: list[outbox.Claimed], tally: Tally,
                snapshot: digest.Snapshot, lease: dt.timedelta) -> bool:  # fmt: skip
    """Send a claimed batch; False when the relay is down, after handing the rest back for later."""
    for n, claimed in enumerate(batch):
        try:
            tally.update(send_one(db, transport, worker, claimed, snapshot, lease))
        except RelayDown as down:
            # Hammering a relay that refuses us helps nobody: the rest wait for the next run.
            for rest in batch[n:]:
                tally.update(_counted(outbox.record(db, worker, rest, down)))
            tally.relay_down = down.message
            return False
        except Exception as bug:
            _hand_back(db, worker, claimed, batch[n + 1 :], bug)
            raise
    return True


def _hand_back(db: Database, worker: str, tried: outbox.Claimed, untried: list[outbox.Claimed], bug: Exception) -> None:
    """After an unexpected error, give the batch back instead of leaving it `sending` until the lease runs out.

    The message that was being sent counts a failed try, so one that always trips the bug backs
    off and at last fails with the error named, instead of blocking the outbox's head each run;
    the untried ones are released as they were, for the next run.
    """
    outbox.record(db, worker, tried, bug)
    outbox.release(db, worker, [c.id for c in untried])


def send_one(db: Database, transport: Transport, worker: str, claimed: outbox.Claimed,
             snapshot: digest.Snapshot, lease: dt.timedelta) -> Counter:  # fmt: skip
    """One attempt at one claimed message, brought up to date by `snapshot`, recorded; what it adds to the tally.

    The lease is renewed just before the message is handed over, and the send is given up before the renewed
    lease ends (`outbox.cutoff`): no other sender can claim the message while this one may still be sending it.
    """
    until = outbox.renew(db, worker, claimed, lease)
    if until is None:
        # The lease ran out (a slow relay outlasted it with the messages before this one): another
        # sender may have claimed and sent this row meanwhile, or will; sending it too would deliver it twice.
        return Counter(taken_over=1)
    revised = digest.revise(claimed, snapshot)
    if revised.letter is None:
        if outbox.withdraw(db, worker, claimed, revised.why) == outbox.LOST:
            return Counter(taken_over=1)
        return Counter(withdrawn=1)
    try:
        msg = compose(revised.letter, transport.sender)
        with _cut_off(db.clock, outbox.cutoff(until, lease, transport.answer_timeout), transport):
            transport.send(msg, revised.letter.to_email)
    except RelayDown:
        raise
    except (DeliveryFailed, UnsafeHeader) as err:
        return _counted(outbox.record(db, worker, claimed, err))
    if outbox.record(db, worker, claimed, None, revised.letter if revised.changed else None) == outbox.LOST:
        return Counter(taken_over=1)
    return Counter(messages=1, items=revised.items)


@contextlib.contextmanager
def _cut_off(clock: Clock, moment: dt.datetime, transport: Transport) -> Iterator[None]:
    """While the block runs, a watch that aborts the transport once `clock` reaches `moment`, and again at each
    look until the block ends (a connect under way cannot be cut short, the connection it makes can). The clock
    is the injected one, by which leases are reckoned, so it is read every WATCH_SECONDS rather than slept on."""
    if not transport.answer_timeout:  # waits for no server: nothing to cut short
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_SECONDS):
            if clock.now() >= moment:
                transport.abort()

    watcher = threading.Thread(target=watch, name="arshjul-send-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _counted(status: str) -> Counter:
    """A failed attempt in the tally: failed for good (a permanent error, or too many tries), else retrying."""
    if status == outbox.LOST:
        return Counter(taken_over=1)
    return Counter(failed=1) if status == outbox.FAILED else Counter(retrying=1)
