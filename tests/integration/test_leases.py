"""Two senders on one database and a relay that is slow to answer: a message goes out once.

Node A and node B are two delivery workers on the same SQLite file or PostgreSQL database,
sharing the injected clock. The relay is a real aiosmtpd server on 127.0.0.1 whose answers
to chosen RCPT commands wait for an event the test sets (`GatedSink`): node A is caught in
the middle of a send, the test moves the clock past a lease, lets node B run, then lets the
relay answer. Nothing here sleeps to wait for a deadline; every wait is bounded and for an
event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest

from cycle import actions
from cycle.database import Database
from notifications import outbox, service
from notifications.delivery import deliver
from notifications.service import list_reminders
from notifications.transport import SmtpTransport, sender_from
from tests.integration.conftest import Sink, free_port, local, serving

LIMIT = 10.0  # seconds any wait for the other thread may take
GATE_LIMIT = 3 * LIMIT  # seconds the relay waits for its gate at most, should a test never open it
SMTP_TIMEOUT = 60.0  # the nodes' timeout per SMTP answer: longer than any wait of this test


@dataclass
class GatedSink(Sink):
    """Records as `Sink` does; the Nth RCPT (counted from 1) in `gates` waits for its event before answering."""

    gates: dict[int, threading.Event] = field(default_factory=dict)
    entered: dict[int, threading.Event] = field(default_factory=dict)
    rcpts: int = 0

    def gate(self, n: int) -> None:
        self.gates[n], self.entered[n] = threading.Event(), threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001 - aiosmtpd's hook
        self.rcpts += 1
        n = self.rcpts
        if n in self.gates:
            self.entered[n].set()
            await asyncio.get_running_loop().run_in_executor(None, self.gates[n].wait, GATE_LIMIT)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.set()


@pytest.fixture
def relay():
    sink = GatedSink(port=free_port())
    with serving(sink):
        try:
            yield sink
        finally:
            sink.open_all()  # never leave the server's worker threads waiting


@pytest.fixture
def queued(wheel, clock):
    """Four messages enqueued (the first stage opened: one notice to each of four contributors)."""
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    clock.set(local("2026-01-12T09:05"))
    with wheel.write() as session:
        outbox.enqueue(session, service.due_now(session, clock.now()), clock.now(), sender_from(None))
    return wheel


def transport(sink: GatedSink) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", sink.port, sender_from(None), timeout=SMTP_TIMEOUT)


class Node:
    """A delivery worker running `deliver` in a thread of its own, as another process would."""

    def __init__(self, db: Database, sink: GatedSink, name: str):
        self.db, self.name, self.transport = db, name, transport(sink)
        self.tally: Counter | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self.tally = deliver(self.db, self.transport, worker=self.name)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err

    def start(self) -> Node:
        self.thread.start()
        return self

    def join(self, limit: float = LIMIT) -> bool:
        self.thread.join(limit)
        return not self.thread.is_alive()


def wait(event: threading.Event, what: str) -> None:
    assert event.wait(LIMIT), f"waited {LIMIT} s for {what}"


def received_once_each(sink: GatedSink, db: Database) -> None:
    ids = Counter(str(r.message["Message-ID"]) for r in sink.take())
    assert [mid for mid, n in ids.items() if n > 1] == [], f"a message arrived twice: {ids}"
    assert set(ids) == {r["message_id"] for r in list_reminders(db, "nils")}


@contextlib.contextmanager
def second_node(db_url: str, clock, relay, node_a):
    """Node B, on its own connection to the same database and relay as node A; both transports closed after."""
    node_b_db = Database(db_url, clock=clock)
    node_b = Node(node_b_db, relay, "node-b")
    try:
        yield node_b_db, node_b
    finally:
        node_b_db.dispose()
        node_a.transport.close()
        node_b.transport.close()


def all_sent_once(queued, relay, node_a, node_b) -> None:
    """Neither node failed, the relay took each message once, and the outbox has them all as sent."""
    assert node_a.error is None and node_b.error is None, (node_a.error, node_b.error)
    received_once_each(relay, queued)
    assert {r["status"] for r in list_reminders(queued, "nils")} == {"sent"}


def test_a_message_handed_to_a_slow_relay_near_the_end_of_its_lease_is_not_sent_by_another_node(
    queued, clock, db_url, relay
):
    relay.gate(1)  # node A's first message: the relay is slow while half a lease passes
    relay.gate(2)  # its second: handed over with only half a lease left, and slow again
    node_a = Node(queued, relay, "node-a").start()
    wait(relay.entered[1], "node A's first message at the relay")
    clock.advance(outbox.LEASE / 2)
    relay.gates[1].set()
    wait(relay.entered[2], "node A's second message at the relay")
    clock.advance(outbox.LEASE / 2 + dt.timedelta(minutes=1))  # node A's claim of its batch has run out

    with second_node(db_url, clock, relay, node_a) as (_, node_b):
        node_b._run()  # in this thread: node B claims what is free and sends it
        relay.gates[2].set()
        assert node_a.join(), "node A did not finish"
    all_sent_once(queued, relay, node_a, node_b)
    # Node A renewed its lease as it handed the second message over: node B left it alone.
    assert (node_a.tally["messages"], node_a.tally["taken_over"]) == (2, 2)
    assert (node_b.tally["messages"], node_b.tally["taken_over"]) == (2, 0)


def test_a_send_that_outlasts_its_lease_is_cut_off_before_another_node_may_take_the_message(
    queued, clock, db_url, relay
):
    relay.gate(1)  # node A's first message: the relay does not answer while a whole lease passes
    node_a = Node(queued, relay, "node-a").start()
    wait(relay.entered[1], "node A's first message at the relay")
    clock.advance(outbox.LEASE)
    assert node_a.join(), "node A did not give up on the relay"  # before its lease ends: its send is over

    with second_node(db_url, clock, relay, node_a) as (node_b_db, node_b):
        node_b._run()  # node B claims what is free: whatever node A was no longer sending
        relay.open_all()  # the relay answers node A at last
        assert node_a.join(), "node A did not finish"
        clock.advance(dt.timedelta(minutes=1))
        again = deliver(node_b_db, node_b.transport, worker="node-b")
    all_sent_once(queued, relay, node_a, node_b)
    assert (node_a.tally["messages"], node_a.tally["retrying"], node_a.tally["taken_over"]) == (0, 1, 3)
    assert (node_b.tally["messages"], again["messages"]) == (3, 1)
