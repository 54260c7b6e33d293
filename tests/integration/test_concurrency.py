"""Concurrent actions from separate processes on one database, on SQLite and PostgreSQL.

What a user relies on when several people act at the same moment:
- of many approvers deciding the same submitted stage or input at once, exactly one
  wins; every other is told, in words, that the state has moved (a refusal, exit 1),
  never "database is locked" or another error; the log records one decision;
- many people acting on different rows at once all succeed, and the log stays one
  unbroken chain: no gaps, no fork, every entry where its author was told it landed.

Every worker is a fresh interpreter (the "spawn" start method) with its own engine,
released together by a barrier. Workers are bounded in number and time: a worker that
hangs or dies fails the test, and is killed.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections import Counter
from functools import partial

import pytest
from sqlalchemy import select

from cycle import actions, audit, cycles, log, organisation
from cycle.clock import FixedClock
from cycle.database import Database, is_sqlite
from cycle.errors import Refused, StaleState, WrongState
from cycle.models import InputItem, Stage
from tests.chain import assert_one_unbroken_chain
from tests.procs import SPAWN, spawned
from tests.procs import collect as procs_collect
from tests.wheel import MEETINGS, ORG, PEOPLE, WHEEL
from workflows.definition import InputDef, MeetingDef, Organisation, PersonDef, RoleDef, StageDef, Workflow

pytestmark = pytest.mark.slow

NOW = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
YEAR = 2027
ROUNDS = 10
WRITERS, ACTIONS_EACH = 8, 25
TIME_LIMIT = 120.0  # seconds for a whole test's workers; far above a normal run

# The test wheel plus a per-meeting stage with inputs, so that every ks meeting gives a
# fresh stage and fresh inputs to race on.
FOLLOW_UP = StageDef(
    "uppfoljning", "Uppföljning", "ks", "ks", per_meeting="ks", days_before_meeting=14,
    inputs=(InputDef("siffror", "Siffror", ("bou", "soc"), "ks"),),
)  # fmt: skip
WHEEL_PLUS = Workflow(WHEEL.id, WHEEL.name, WHEEL.timezone, WHEEL.holidays, WHEEL.reminders,
                      WHEEL.stages + (FOLLOW_UP,), source="tests/integration/test_concurrency.py")  # fmt: skip
MORE_MEETINGS = tuple(MeetingDef("ks", dt.date(YEAR, m, d)) for m, d in
                      ((1, 13), (3, 10), (5, 12), (6, 9), (8, 18), (10, 13), (11, 10), (12, 8), (12, 15)))  # fmt: skip
MEETING_DAYS = sorted(m.date for m in MEETINGS + MORE_MEETINGS if m.date.year == YEAR)
APPROVERS = tuple(f"appr{n:02d}" for n in range(1, 17))  # approvers of ks, none of them an owner
ORG_PLUS = Organisation(
    ORG.units,
    PEOPLE + tuple(PersonDef(a, f"Approver {a[-2:]}", f"{a}@example.se", roles=(RoleDef("approver", "ks"),))
                   for a in APPROVERS),
    ORG.meetings + MORE_MEETINGS,
)  # fmt: skip


def workers_for(url: str) -> int:
    return 8 if is_sqlite(url) else 16


@pytest.fixture
def started_wheel(db_url):
    """The extended wheel started on a fresh database; yields (url, database, cycle id)."""
    db = Database(db_url, clock=FixedClock(NOW))
    organisation.load_organisation(db, "admin", ORG_PLUS)
    cid = cycles.start_cycle(db, "admin", WHEEL_PLUS, YEAR).cycle
    yield db_url, db, cid
    db.dispose()


# --- running workers -----------------------------------------------------------------


def workers(target, args_list: list[tuple]):
    return spawned(target, args_list, TIME_LIMIT)


def collect(results, count: int, procs, what: str) -> list:
    return procs_collect(results, count, procs, TIME_LIMIT, what)


def outcome(action) -> tuple:
    """What a user would see: the change, a refusal with its words, or anything else (a bug)."""
    try:
        done = action()
    except Refused as err:
        return ("refused", type(err).__name__, "\n".join(err.lines()))
    except BaseException as err:  # noqa: BLE001 - any other exception is what this test looks for
        first_line = (str(err).splitlines() or [""])[0]
        return ("error", type(err).__name__, first_line, "".join(traceback.format_exception(err)))
    return ("done", done.seq, done.from_state, done.to_state)


def brief(result: tuple) -> str:
    """An outcome in one line (without an error's traceback)."""
    return " | ".join(str(part) for part in result[:3])


def first_traceback(results: list[tuple]) -> str:
    return next((r[3] for r in results if r[0] == "error"), "")


# --- worker bodies (module level: the spawned interpreter imports them) --------------


def race_worker(url: str, cid: str, approver: str, rounds: list, barrier, results) -> None:
    """Each round: wait with everybody at the barrier, then decide that round's row at once."""
    try:
        db = Database(url, clock=FixedClock(NOW))
        with db.read() as session:  # connect before the race, so the race is about the action
            session.execute(select(Stage.id).limit(1)).all()
        results.put(("ready", approver))
        for where in rounds:
            barrier.wait(TIME_LIMIT)
            result = outcome(partial(approve, db, approver, cid, where))
            results.put((where, approver, *result))
        db.dispose()
    except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
        results.put(("crash", approver, traceback.format_exc()))
        raise


def approve(db: Database, approver: str, cid: str, where: tuple):
    if len(where) == 1:
        return actions.approve_stage(db, approver, cid, where[0], comment="Godkänd")
    return actions.approve_input(db, approver, cid, *where, comment="Godkänd")


def writer_worker(url: str, cid: str, index: int, plan: list, barrier, results) -> None:
    """Run `plan` (every step allowed) as fast as possible, alongside the other writers."""
    try:
        db = Database(url, clock=FixedClock(NOW))
        with db.read() as session:
            session.execute(select(Stage.id).limit(1)).all()
        barrier.wait(TIME_LIMIT)
        results.put(("done", index, [outcome(partial(run_step, db, cid, step)) for step in plan]))
        db.dispose()
    except BaseException:  # noqa: BLE001
        results.put(("crash", index, traceback.format_exc()))
        raise


def run_step(db: Database, cid: str, step: tuple):
    kind, actor, trigger, where, extra = step
    if kind == "stage":
        return actions.STAGE_ACTIONS[trigger](db, actor, cid, *where, comment=extra)
    if kind == "input":
        return actions.INPUT_ACTIONS[trigger](db, actor, cid, *where, comment=extra)
    return actions.set_deadline(db, actor, cid, where[0], extra, "Sammanträdet flyttat")


# --- (a) one decision, many deciders ---------------------------------------------------


def test_of_many_approvers_deciding_at_once_exactly_one_wins(started_wheel):
    url, db, cid = started_wheel
    n = workers_for(url)
    rounds = [(f"ekrapport@{day}",) if r % 2 == 0 else (f"uppfoljning@{day}", "siffror", "bou")
              for r, day in enumerate(MEETING_DAYS[:ROUNDS])]  # fmt: skip
    barrier, results = SPAWN.Barrier(n + 1), SPAWN.Queue()
    losers = Counter()
    with workers(race_worker, [(url, cid, a, rounds, barrier, results) for a in APPROVERS[:n]]) as procs:
        collect(results, n, procs, "the workers to start")
        for where in rounds:
            submit_for_decision(db, cid, where)
            barrier.wait(TIME_LIMIT)
            decided = collect(results, n, procs, f"the decisions on {where}")
            losers.update(check_one_winner(db, cid, where, decided))
    results.close()
    assert sum(losers.values()) == ROUNDS * (n - 1)
    verdict = audit.verify(db, "admin")
    assert verdict.ok, verdict.as_dict()


def submit_for_decision(db: Database, cid: str, where: tuple) -> None:
    stage = where[0]
    actions.open_stage(db, "anna", cid, stage)
    if len(where) == 1:
        actions.submit_stage(db, "anna", cid, stage)
    else:
        actions.submit_input(db, "oskar", cid, *where)


def check_one_winner(db: Database, cid: str, where: tuple, decided: list) -> Counter:
    """Exactly one approval, every other decider refused because the state moved; returns the refusals."""
    assert {w for w, *_ in decided} == {where}
    errors = [(who, brief(rest)) for _, who, *rest in decided if rest[0] == "error"]
    assert not errors, f"{where}: deciders got errors instead of a refusal: {errors}\n" + first_traceback(
        [rest for _, _, *rest in decided]
    )
    winners = [(who, seq) for _, who, kind, seq, *_ in decided if kind == "done"]
    assert len(winners) == 1, f"{where}: {len(winners)} approvals: {winners}"
    refused = [(who, name, text) for _, who, kind, name, text in (d for d in decided if d[2] == "refused")]
    for who, name, text in refused:
        assert name in (WrongState.__name__, StaleState.__name__), f"{who} on {where}: {name}: {text}"
        assert text.strip(), f"{who} on {where} was refused without a reason"
    [(winner, seq)] = winners
    with db.read() as s:
        entries = log.query(s, log.LogFilter(cycle=cid, stage=where[0], event="approve"))
        state = current_state(s, cid, where)
    assert [(e.seq, e.actor, e.from_state, e.to_state) for e in entries] == [(seq, winner, "submitted", "approved")]
    assert state == "approved"
    return Counter(name for _, name, _ in refused)


def current_state(session, cid: str, where: tuple) -> str:
    if len(where) == 1:
        return session.execute(select(Stage.state).where(Stage.cycle_id == cid, Stage.key == where[0])).scalar_one()
    stage, key, unit = where
    stmt = (
        select(InputItem.state)
        .join(Stage)
        .where(Stage.cycle_id == cid, Stage.key == stage, InputItem.key == key, InputItem.unit_key == unit)
    )
    return session.execute(stmt).scalar_one()


# --- (b) many writers, one chain -------------------------------------------------------


def writer_plan(index: int) -> list[tuple]:
    """ACTIONS_EACH steps on rows of the writer's own meeting, each allowed when its turn comes."""
    day = MEETING_DAYS[index]
    report, follow_up = (f"ekrapport@{day}",), (f"uppfoljning@{day}",)
    item = (f"uppfoljning@{day}", "siffror", "bou")
    approver = APPROVERS[index]
    plan = [("stage", "anna", "open", report, None), ("stage", "anna", "open", follow_up, None)]
    turn = 0
    while len(plan) < ACTIONS_EACH:
        turn += 1
        due = dt.date(YEAR + 1, 6, 1) + dt.timedelta(days=turn)  # never a date it is already due
        plan += [
            ("input", "oskar", "submit", item, None),
            ("input", approver, "return", item, f"Komplettera, omgång {turn}"),
            ("stage", "anna", "submit", report, None),
            ("stage", approver, "return", report, f"Räkna om, omgång {turn}"),
            ("deadline", "anna", "deadline", report, due),
        ]
    return plan[:ACTIONS_EACH]


def test_many_writers_at_once_keep_one_unbroken_chain(started_wheel):
    url, db, cid = started_wheel
    with db.read() as s:
        before, _ = log.head(s)
    plans = [writer_plan(i) for i in range(WRITERS)]
    barrier, results = SPAWN.Barrier(WRITERS), SPAWN.Queue()
    with workers(writer_worker, [(url, cid, i, plans[i], barrier, results) for i in range(WRITERS)]) as procs:
        reports = {index: done for _, index, done in collect(results, WRITERS, procs, "the writers")}
    results.close()

    told = {}  # seq -> (actor, event, stage, input) as each writer was told
    for index, plan in enumerate(plans):
        outcomes = reports[index]
        failed = [(step, brief(result)) for step, result in zip(plan, outcomes, strict=True) if result[0] != "done"]
        assert not failed, f"writer {index}: allowed steps failed: {failed[:3]}\n" + first_traceback(outcomes)
        seqs = [result[1] for result in outcomes]
        assert seqs == sorted(seqs), f"writer {index}: its own entries are out of order: {seqs}"
        for (kind, actor, trigger, where, _), seq in zip(plan, seqs, strict=True):
            told[seq] = (actor, trigger, where[0], where[1] if kind == "input" else None)
    assert len(told) == WRITERS * ACTIONS_EACH, "two writers were told the same place in the log"

    entries = assert_one_unbroken_chain(db, before + WRITERS * ACTIONS_EACH)
    landed = {e.seq: (e.actor, e.event, e.stage, e.input) for e in entries if e.seq > before}
    assert landed == told, "an entry is not where its writer was told it landed"
    verdict = audit.verify(db, "admin")
    assert verdict.ok, verdict.as_dict()
    assert_final_states(db, cid, plans)


AFTER = {("stage", "open"): "open", ("stage", "submit"): "submitted", ("stage", "return"): "open",
         ("input", "submit"): "submitted", ("input", "return"): "returned"}  # fmt: skip


def assert_final_states(db: Database, cid: str, plans: list) -> None:
    """No lost update: each writer's rows ended where its own plan leaves them."""
    for plan in plans:
        states = {where: AFTER[kind, trigger] for kind, _, trigger, where, _ in plan if kind != "deadline"}
        due = [extra for kind, _, _, _, extra in plan if kind == "deadline"][-1]
        with db.read() as s:
            assert {where: current_state(s, cid, where) for where in states} == states
            report = plan[0][3][0]
            assert s.execute(select(Stage.deadline).where(Stage.cycle_id == cid, Stage.key == report)).scalar() == due
