"""The issue's figures under real concurrency: lost updates through the CLI, and no fork of the chain.

Lost updates: 16 processes on PostgreSQL (8 on SQLite) race the same transition on one
stage for 100 rounds (submit, then return, then submit …): exactly one wins each round,
every other exits 1 saying the state has moved, never "database is locked"; the log has
one entry per win. Launching 1,600 `arshjul` commands would cost ~0.4 s of interpreter
start-up each, so each racer is one long-lived spawned process that runs the CLI's own
entry (`arshjul` through click's CliRunner: parsing, composition root, error edge, exit
code and stderr exactly as a user gets them) once per round, with a fresh engine and
connection per command as the real command has. The first two rounds go through the
installed `arshjul` command in a subprocess instead, so the real binary races too.

No fork: 16 writers on PostgreSQL make 500 transitions each on their own inputs (submit,
return, submit …), all appending to one log: sequence numbers without gaps, each entry
carries its predecessor's hash, and `arshjul audit verify` passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import traceback
from collections import Counter

import pytest
from sqlalchemy import select

from cycle import actions, cycles, log, organisation
from cycle.database import Database, is_sqlite
from cycle.models import LogEntry
from tests.chain import assert_one_unbroken_chain
from tests.cli.conftest import arshjul_command, clean_env
from tests.procs import SPAWN, collect, spawned
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

pytestmark = pytest.mark.slow

ROUNDS, BY_SUBPROCESS = 100, 2
WRITERS, TRANSITIONS = 16, 500
LIMIT = 240.0  # seconds for all of a test's processes; a normal run takes a fraction
STAGE, INPUT = "beslut", "underlag"
UNITS = tuple(f"e{n:02d}" for n in range(1, WRITERS + 1))
OWNERS = tuple(f"agare{n:02d}" for n in range(1, 17))
APPROVERS = tuple(f"beslutare{n:02d}" for n in range(1, 17))
CONTRIBUTORS = tuple(f"bidrag{u}" for u in UNITS)


def organisation_for_load() -> Organisation:
    """ks with 16 owners and 16 approvers (never the same person: four-eyes), one contributor per unit."""
    person = lambda name, *roles: PersonDef(name, name.capitalize(), f"{name}@example.se", roles=roles)  # noqa: E731
    people = [person("admin", RoleDef("admin"), RoleDef("auditor"))]
    people += [person(o, RoleDef("owner", "ks")) for o in OWNERS]
    people += [person(a, RoleDef("approver", "ks")) for a in APPROVERS]
    people += [person(c, RoleDef("contributor", u)) for c, u in zip(CONTRIBUTORS, UNITS, strict=True)]
    units = (UnitDef("ks", "Kommunstyrelsen"), *(UnitDef(u, f"Enhet {u}", "ks") for u in UNITS))
    return Organisation(units, tuple(people), (), source="tests/integration/test_races.py")


WORKFLOW = Workflow(
    id="last", name="Lasttest", timezone="Europe/Stockholm", holidays="SE", reminders=ReminderPolicy(),
    stages=(
        StageDef(STAGE, "Beslut", "ks", "ks", DeadlineRule(0, 11, 30)),
        StageDef("insamling", "Insamling", "ks", "ks", DeadlineRule(0, 10, 30),
                 inputs=(InputDef(INPUT, "Underlag", UNITS, "ks"),)),
    ),
    source="tests/integration/test_races.py",
)  # fmt: skip


@pytest.fixture
def started(db_url) -> tuple[str, str]:
    db = Database(db_url)
    organisation.load_organisation(db, "admin", organisation_for_load())
    cid = cycles.start_cycle(db, "admin", WORKFLOW, 2027).cycle
    actions.open_stage(db, OWNERS[0], cid, STAGE)
    actions.open_stage(db, OWNERS[0], cid, "insamling")
    db.dispose()
    return db_url, cid


# --- lost updates --------------------------------------------------------------------


def racer(url: str, cid: str, owner: str, approver: str, barrier, results) -> None:
    """Each round: wait for all racers, then run the round's command once, report exit code and stderr."""
    try:
        from click.testing import CliRunner

        from cli import arshjul

        runner = CliRunner(env={k: None for k in os.environ if k.startswith("ARSHJUL_")})
        results.put(("ready", owner))
        for n in range(ROUNDS):
            who, args = (owner, ["submit"]) if n % 2 == 0 else (approver, ["return", "-m", f"Omgång {n}"])
            argv = ["--db", url, "--as", who, "stage", args[0], cid, STAGE, *args[1:]]
            barrier.wait(LIMIT)
            if n < BY_SUBPROCESS:
                ran = subprocess.run([*arshjul_command(), *argv], capture_output=True, text=True, timeout=LIMIT,
                                     env=clean_env())  # fmt: skip
                code, said = ran.returncode, ran.stderr
            else:
                ran = runner.invoke(arshjul, argv, prog_name="arshjul")
                code, said = ran.exit_code, ran.stderr
                if ran.exception is not None and not isinstance(ran.exception, SystemExit):
                    said += "".join(traceback.format_exception(ran.exception))
            results.put((n, who, code, said))
    except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
        results.put(("crash", owner, traceback.format_exc()))
        raise


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_racing_the_same_transition_one_wins_the_rest_are_told_the_state_moved(started):
    url, cid = started
    n = 8 if is_sqlite(url) else 16
    barrier, results = SPAWN.Barrier(n), SPAWN.Queue()
    args = [(url, cid, OWNERS[i], APPROVERS[i], barrier, results) for i in range(n)]
    with spawned(racer, args, LIMIT) as procs:
        collect(results, n, procs, LIMIT, "the racers to start")
        outcomes = collect(results, n * ROUNDS, procs, LIMIT, "the rounds")
    results.close()

    winners, losers = [], Counter()
    for round_ in range(ROUNDS):
        got = [(who, code, said) for r, who, code, said in outcomes if r == round_]
        assert len(got) == n
        won = [who for who, code, _ in got if code == 0]
        assert len(won) == 1, f"round {round_}: {len(won)} winners: {won}"
        winners.append(won[0])
        for who, code, said in got:
            if code == 0:
                continue
            assert code == 1 and said.startswith("Error: "), f"round {round_}, {who}: exit {code}: {said}"
            assert "the state has moved" in said, f"round {round_}, {who}: {said}"
            assert "locked" not in said and "Traceback" not in said, said
            losers[said.split(":")[1].strip().split()[0]] += 1  # "the" (stale) or "stage" (moved on)
    assert sum(losers.values()) == ROUNDS * (n - 1), losers

    db = Database(url)
    with db.read() as session:
        entries = log.query(session, log.LogFilter(cycle=cid, stage=STAGE))
    db.dispose()
    moves = [(e.event, e.actor) for e in entries if e.event in ("submit", "return")]
    assert moves == [("submit" if r % 2 == 0 else "return", w) for r, w in enumerate(winners)]


# --- no fork ---------------------------------------------------------------------------


def writer(url: str, cid: str, index: int, barrier, results) -> None:
    """TRANSITIONS moves on this writer's own input: submit by its contributor, return by an approver."""
    try:
        db = Database(url)
        unit, contributor, approver = UNITS[index], CONTRIBUTORS[index], APPROVERS[index]
        with db.read() as session:  # connected before the start, so the race is about the log
            session.execute(select(LogEntry.seq).limit(1)).all()
        barrier.wait(LIMIT)
        seqs = []
        for n in range(TRANSITIONS):
            if n % 2 == 0:
                done = actions.submit_input(db, contributor, cid, "insamling", INPUT, unit)
            else:
                done = actions.return_input(db, approver, cid, "insamling", INPUT, unit, comment=f"Omgång {n}")
            seqs.append(done.seq)
        db.dispose()
        results.put(("done", index, seqs))
    except BaseException:  # noqa: BLE001
        results.put(("crash", index, traceback.format_exc()))
        raise


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_sixteen_writers_make_one_chain_without_gaps_or_forks(started):
    url, cid = started
    db = Database(url)
    with db.read() as session:
        before, _ = log.head(session)
    barrier, results = SPAWN.Barrier(WRITERS), SPAWN.Queue()
    with spawned(writer, [(url, cid, i, barrier, results) for i in range(WRITERS)], LIMIT) as procs:
        reports = collect(results, WRITERS, procs, LIMIT, "the writers")
    results.close()
    told = sorted(seq for _, _, seqs in reports for seq in seqs)
    assert told == list(range(before + 1, before + WRITERS * TRANSITIONS + 1)), "two writers got the same seq"

    assert_one_unbroken_chain(db, before + WRITERS * TRANSITIONS)
    db.dispose()

    verified = subprocess.run([*arshjul_command(), "--db", url, "--as", "admin", "audit", "verify", "--format", "json"],
                              capture_output=True, text=True, timeout=120, env=clean_env())  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["entries"] == before + WRITERS * TRANSITIONS
