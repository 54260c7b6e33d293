"""Several reminder nodes on one database, as real processes, against a real SMTP server.

Multi-node: three `arshjul scheduler run` processes (the installed command) share one
PostgreSQL database and deliver to an aiosmtpd server on 127.0.0.1. The database holds
500 open stages, each overdue on the real clock (their deadline was last June), so each
has one reminder due now to its own owner: 500 messages. Every one arrives, none twice,
counted by Message-ID and by item (the stage each message names). Then again with one
node killed (SIGKILL) in the middle of sending and a fresh one started in its place: every
reminder still arrives; a message arrives twice only if the killed node had claimed it
and may have sent it before dying, and then with the same Message-ID. The lease is a few
seconds (`--lease`), so the killed node's claims come free while the test waits; the
test waits for outcomes it polls, never for a deadline.

Downtime: every scheduler down from 2026-09-14 to 2026-10-14 while the slots of 32
inputs pass; then three `reminders send` processes start at once: each item gets its
latest slot only, once, and a later run adds nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from cycle import actions, cycles, organisation
from cycle.database import Database
from cycle.models import OutboxItem, OutboxMessage
from notifications.service import send_reminders
from tests.cli.conftest import arshjul_command, clean_env
from tests.integration.conftest import Sink, free_port, local, serving
from tests.procs import Command, commands, wait_for
from workflows.definition import (
    DeadlineRule,
    InputDef,
    Organisation,
    PersonDef,
    ReminderPolicy,
    RoleDef,
    StageDef,
    UnitDef,
    Workflow,
)

STAGES = 500
NODES = 3
LEASE_SECONDS = 5
LIMIT = 90.0  # seconds to wait for all mail; a normal run needs a few
COMMAND_LINE = re.compile(r"arshjul stage submit \S+ (s\d{3})")


# --- a slow-enough SMTP server -----------------------------------------------------------


@dataclass
class SlowSink(Sink):
    """Takes ~20 ms per message, like a real relay, so that a node is caught in mid-batch."""

    delay: float = 0.02

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's hook
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def relay():
    with serving(SlowSink(port=free_port())) as sink:
        yield sink


# --- 500 overdue stages ----------------------------------------------------------------


def overdue_wheel(year: int) -> tuple[Organisation, Workflow]:
    units = tuple(UnitDef(f"u{n:03d}", f"Enhet {n}") for n in range(STAGES))
    people = (PersonDef("admin", "Ada Admin", "admin@example.se", roles=(RoleDef("admin"),)),) + tuple(
        PersonDef(f"o{n:03d}", f"Ägare {n}", f"o{n:03d}@example.se", roles=(RoleDef("owner", f"u{n:03d}"),))
        for n in range(STAGES)
    )
    stages = tuple(StageDef(f"s{n:03d}", f"Steg {n}", f"u{n:03d}", f"u{n:03d}", DeadlineRule(-1, 6, 15))
                   for n in range(STAGES))  # fmt: skip
    wheel = Workflow("noder", "Nodtest", "Europe/Stockholm", "SE", ReminderPolicy(), stages, source="test_nodes")
    return Organisation(units, people, (), source="test_nodes"), wheel


@pytest.fixture(scope="module")
def seeded(pg_template) -> str:
    """A database with the 500 stages open, made once; each test works on a copy of it."""
    year = dt.date.today().year
    org, wheel = overdue_wheel(year)
    url = pg_template.fresh()
    db = Database(url)
    organisation.load_organisation(db, "admin", org)
    cid = cycles.start_cycle(db, "admin", wheel, year).cycle
    for n in range(STAGES):
        actions.open_stage(db, f"o{n:03d}", cid, f"s{n:03d}")
    db.dispose()
    return make_url(url).database


@pytest.fixture
def copy_url(pg_template, seeded) -> str:
    name = f"{seeded}_c{time.monotonic_ns() % 10**8}"
    pg_template._execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded}"')
    pg_template.created.append(name)
    yield pg_template.url.set(database=name).render_as_string(hide_password=False)
    pg_template.drop(name)


def node(url: str, port: int, folder, name: str) -> Command:
    args = ["--db", url, "--as", "admin", "scheduler", "run", "--interval", "1", "--lease", str(LEASE_SECONDS)]
    # A timeout of 1 s per SMTP answer, as the lease must be at least 3 of them.
    return Command(args, folder, name, env={"ARSHJUL_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=1"})


def outbox(db: Database) -> dict:
    with db.read() as session:
        rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        items = session.execute(select(func.count()).select_from(OutboxItem)).scalar_one()
    return {"items": items, **dict(rows)}


def all_delivered(db: Database, sink: SlowSink):
    """The outbox holds the 500 items, every message sent, and the sink has them all."""
    state = outbox(db)
    done = state["items"] == STAGES and set(state) == {"items", "sent"} and len(sink.received) >= state["sent"]
    return state if done else None


def arrived(sink: SlowSink) -> tuple[Counter, dict[str, set[str]]]:
    """Messages by Message-ID, and the Message-IDs that each stage's reminder arrived under."""
    ids, stages = Counter(), {}
    for got in sink.received:
        message = email.message_from_bytes(got.raw, policy=email.policy.default)
        mid = message["Message-ID"]
        ids[mid] += 1
        body = message.get_body(("plain",)).get_content()
        for stage in COMMAND_LINE.findall(body):
            stages.setdefault(stage, set()).add(mid)
            assert got.to == f"o{stage[1:]}@example.se", f"{stage}'s reminder went to {got.to}"
    return ids, stages


def sent_ids(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.execute(select(OutboxMessage.message_id)).scalars())


@pytest.mark.slow
def test_three_scheduler_nodes_deliver_every_reminder_once(copy_url, relay, tmp_path):
    db = Database(copy_url)
    started = time.monotonic()
    with commands(*(node(copy_url, relay.port, tmp_path, f"node{i}") for i in range(NODES))) as nodes:
        wait_for(lambda: all_delivered(db, relay), LIMIT, "every reminder to be delivered")
        took = time.monotonic() - started
        for each in nodes:
            assert each.stop() == 0, each.output()
    ids, stages = arrived(relay)
    assert set(ids) == sent_ids(db) and len(ids) == STAGES
    assert [mid for mid, n in ids.items() if n > 1] == [], "a message arrived twice"
    assert sorted(stages) == [f"s{n:03d}" for n in range(STAGES)]
    assert all(len(under) == 1 for under in stages.values())
    for each in nodes:
        said = each.output()
        assert "tick failed" not in said and "Traceback" not in said, said
        assert said.rstrip().endswith("scheduler: stopped"), said
    ticks = [int(m) for each in nodes for m in re.findall(r"sent in (\d+) messages?;", each.output())]
    assert sum(ticks) == STAGES, f"the nodes' own counts: {ticks}"
    assert sum(1 for n in ticks if n) >= 2, f"one node did all the work: {ticks}"  # the work was shared
    db.dispose()
    assert took < LIMIT


@pytest.mark.slow
def test_a_node_killed_mid_send_loses_nothing_and_duplicates_only_what_it_held(copy_url, relay, tmp_path):
    db = Database(copy_url)
    with commands(*(node(copy_url, relay.port, tmp_path, f"node{i}") for i in range(NODES))) as nodes:
        by_pid = {each.pid: each for each in nodes}
        victim, held = wait_for(lambda: busy_node(db, relay, by_pid), LIMIT, "a node in mid-batch")
        victim.kill()
        in_flight = claimed_by(db, victim.pid)  # the dead node's claims, as they stay until the lease ends
        nodes.append(node(copy_url, relay.port, tmp_path, "restarted"))
        wait_for(lambda: all_delivered(db, relay), LIMIT, "every reminder to be delivered after the kill")
        for each in nodes:
            if each is not victim:
                assert each.stop() == 0, each.output()
    assert in_flight, f"the killed node held {held} messages when chosen, none after the kill"
    ids, stages = arrived(relay)
    assert set(ids) == sent_ids(db), "a reminder did not arrive"
    twice = {mid: n - 1 for mid, n in ids.items() if n > 1}
    assert set(twice) <= in_flight, "a message the killed node did not hold arrived twice"
    assert sum(twice.values()) <= len(in_flight)
    assert sorted(stages) == [f"s{n:03d}" for n in range(STAGES)]
    assert all(len(under) == 1 for under in stages.values()), "an item arrived under two Message-IDs"
    db.dispose()


def busy_node(db: Database, sink: SlowSink, by_pid: dict[int, Command]):
    """(node, claims) for one of our nodes holding at least 5 messages, once some mail has arrived."""
    if len(sink.received) < 50:
        return None
    with db.read() as session:
        rows = session.execute(
            select(OutboxMessage.claimed_by, func.count()).where(OutboxMessage.status == "sending")
            .group_by(OutboxMessage.claimed_by)
        ).all()  # fmt: skip
    for worker, held in rows:
        pid = int(worker.split(":")[-2])
        if held >= 5 and pid in by_pid:
            return by_pid[pid], held
    assert outbox(db).get("pending", 0) + sum(n for _, n in rows), "all was sent before a node was caught mid-batch"
    return None


def claimed_by(db: Database, pid: int) -> set[str]:
    with db.read() as session:
        stmt = select(OutboxMessage.message_id).where(
            OutboxMessage.status == "sending", OutboxMessage.claimed_by.like(f"%:{pid}:%")
        )
        return set(session.execute(stmt).scalars())


# --- downtime ----------------------------------------------------------------------------

RESTART = "2026-10-14T08:00"  # a Wednesday; the schedulers were last up on 2026-09-14
# Input deadline as days from the restart day -> the latest slot due at the restart.
OFFSETS = {13: "before-14", 6: "before-7", 1: "before-1", 0: "deadline", -2: "deadline",
           -5: "overdue-3", -8: "overdue-6", -21: "overdue-21"}  # fmt: skip
EARLIER = {-21: "before-14"}  # slots already sent on 2026-09-14, before the downtime
UNITS = ("u1", "u2", "u3", "u4")


def downtime_wheel() -> tuple[Organisation, Workflow]:
    day = dt.date(2026, 10, 14)
    stages = []
    for n, offset in enumerate(OFFSETS):
        due = day + dt.timedelta(days=offset)
        assert due.weekday() < 5, f"{due} is a weekend day: the deadline would move"
        item = InputDef("underlag", "Underlag", UNITS, "ks", DeadlineRule(-1, due.month, due.day))
        stages.append(StageDef(f"k{n}", f"Steg {n}", "ks", "ks", DeadlineRule(-1, 12, 15), inputs=(item,)))
    people = [PersonDef("admin", "Ada Admin", "admin@example.se", roles=(RoleDef("admin"),)),
              PersonDef("agare", "Åsa Ägare", "agare@example.se", roles=(RoleDef("owner", "ks"),))]  # fmt: skip
    people += [PersonDef(f"c{u}", f"Bidrag {u}", f"c{u}@example.se", roles=(RoleDef("contributor", u),)) for u in UNITS]
    units = (UnitDef("ks", "Kommunstyrelsen"), *(UnitDef(u, f"Enhet {u}", "ks") for u in UNITS))
    wheel = Workflow("nere", "Driftstopp", "Europe/Stockholm", "SE", ReminderPolicy(), tuple(stages), source="test")
    return Organisation(units, tuple(people), (), source="test"), wheel


def expected_series() -> dict[tuple[str, str], list[str]]:
    """(recipient, item) -> the slots it gets, in order: what went out before, then the latest at the restart."""
    series = {}
    for n, offset in enumerate(OFFSETS):
        slots = [s for s in (EARLIER.get(offset), OFFSETS[offset]) if s]
        for unit in UNITS:
            series[(f"c{unit}", f"submit:nere-2027/k{n}/underlag@{unit}")] = slots
            if offset <= -3:  # escalate_after_days: the stage's owner is told as well
                series[("agare", f"escalation:nere-2027/k{n}/underlag@{unit}")] = [OFFSETS[offset]]
    return series


@pytest.mark.slow
def test_after_downtime_each_item_gets_only_its_latest_slot_once(db, clock, smtp, smtp_sink):
    org, wheel = downtime_wheel()
    clock.set(local("2026-09-14T07:00"))
    organisation.load_organisation(db, "admin", org)
    cid = cycles.start_cycle(db, "admin", wheel, 2027).cycle
    for n in range(len(OFFSETS)):
        actions.open_stage(db, "agare", cid, f"k{n}")
    clock.set(local("2026-09-14T08:00"))
    send_reminders(db, "admin", None, smtp)  # the last run before the downtime: notices and one before-14
    before = len(smtp_sink.take())

    env = {"ARSHJUL_SMTP_URL": f"smtp://127.0.0.1:{smtp_sink.port}"}
    argv = [*arshjul_command(), "--db", db.url, "--as", "admin", "reminders", "send", "--at", RESTART]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, env=clean_env(**env)) for _ in range(NODES)]
    try:
        said = [p.communicate(timeout=LIMIT)[1].decode() for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert [p.returncode for p in procs] == [0] * NODES, said
    assert sum(int(re.search(r"reminders: (\d+) enqueued", s).group(1)) for s in said) == len(expected_series())

    clock.set(local("2026-10-14T09:00"))
    assert send_reminders(db, "admin", None, smtp)["enqueued"] == 0  # and nothing more the same day

    with db.read() as session:
        rows = session.execute(
            select(OutboxItem.recipient, OutboxItem.item_key, OutboxItem.slot).where(~OutboxItem.slot.like("event-%"))
            .order_by(OutboxItem.id)
        ).all()  # fmt: skip
        messages = session.execute(text("SELECT count(*), count(DISTINCT message_id) FROM outbox_message")).one()
    series: dict[tuple[str, str], list[str]] = {}
    for recipient, key, slot in rows:
        series.setdefault((recipient, key), []).append(slot)
    assert series == expected_series()
    received = Counter(m.message["Message-ID"] for m in smtp_sink.take())
    assert set(received.values()) == {1}, "a message arrived twice"
    assert before + len(received) == messages[0] == messages[1]
