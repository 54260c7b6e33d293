"""The log is append-only in the database, and verification catches every kind of tampering.

Tampering is done the way a database administrator could: with raw SQL after
dropping the triggers that otherwise refuse it.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from cycle import actions, audit, log
from cycle.errors import MissingRole
from tests.wheel import started


@pytest.fixture
def busy(db) -> str:
    """A cycle with a few transitions behind it."""
    cid = started(db)
    actions.open_stage(db, "anna", cid, "analys")
    actions.submit_input(db, "oskar", cid, "analys", "underlag", "bou")
    actions.return_input(db, "per", cid, "analys", "underlag", "bou", comment="Saknar prognos för 2027")
    actions.submit_input(db, "oskar", cid, "analys", "underlag", "bou")
    actions.approve_input(db, "per", cid, "analys", "underlag", "bou")
    return cid


def raw(db, *statements: str) -> None:
    with db.engine.connect() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)
        conn.commit()


def without_triggers(db, *statements: str) -> None:
    if db.sqlite:
        drop = ["DROP TRIGGER transition_log_no_update", "DROP TRIGGER transition_log_no_delete"]
    else:
        drop = ["ALTER TABLE transition_log DISABLE TRIGGER USER"]
    raw(db, *drop, *statements)


@pytest.fixture(params=[1, 3], ids=["one process", "three processes"])
def verdict(request):
    """`audit verify` as an auditor, walking the log in one process or split between three.

    With three, the stretches of the 7-entry log are 1-3, 4-6 and 7: entries 4 and 7
    start a stretch, so what is done to them is found where stretches join.
    """

    def run(db, checkpoint=None) -> audit.Verdict:
        return audit.verify(db, "rut", checkpoint, workers=request.param)

    return run


def test_an_untouched_log_verifies(db, busy, verdict):
    result = verdict(db)
    assert result.ok and result.entries == 7 and len(result.head_hash) == 64


@pytest.mark.parametrize("sql", ["UPDATE transition_log SET actor = 'mallory' WHERE seq = 3",
                                 "DELETE FROM transition_log WHERE seq = 7"])  # fmt: skip
def test_the_database_refuses_to_change_the_log(db, busy, verdict, sql):
    with pytest.raises(DBAPIError, match="append-only"):
        raw(db, sql)
    assert verdict(db).ok


def test_an_edited_entry_is_found(db, busy, verdict):
    without_triggers(db, "UPDATE transition_log SET comment = 'Allt bra' WHERE seq = 5")
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, 5)
    assert "altered" in result.reason


def test_a_log_emptied_with_its_head_reset_is_found_by_the_cycle_it_no_longer_starts(db, busy, verdict):
    without_triggers(db, "DELETE FROM transition_log", f"UPDATE log_head SET seq = 0, hash = '{log.GENESIS_HASH}'")
    result = verdict(db)
    assert (result.ok, result.entries) == (False, 0)
    assert result.reason == f"cycle {busy} has no cycle_start entry in the log"  # not a stage's state first


def test_an_altered_log_is_reported_with_the_entries_and_head_it_claims(db, busy, verdict):
    head_before = verdict(db).head_hash
    without_triggers(db, "UPDATE transition_log SET comment = 'Allt bra' WHERE seq = 5",
                     "DELETE FROM transition_log WHERE seq = 7")  # fmt: skip
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, 5)
    assert (result.entries, result.head_hash) == (6, head_before)  # not 0 entries and a head of zeros


def test_an_entry_removed_from_the_middle_is_found(db, busy, verdict):
    without_triggers(db, "DELETE FROM transition_log WHERE seq = 4")
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, 4)
    assert "missing" in result.reason


def test_a_removed_newest_entry_is_found_even_with_the_chain_head_rewound(db, busy, verdict):
    without_triggers(
        db,
        "DELETE FROM transition_log WHERE seq = 7",
        "UPDATE log_head SET seq = 6, hash = (SELECT hash FROM transition_log WHERE seq = 6)",
    )
    result = verdict(db)
    assert not result.ok
    assert "input 'underlag' from unit 'bou'" in result.reason and "'approved'" in result.reason


def test_a_state_changed_behind_the_logs_back_is_found(db, busy, verdict):
    raw(db, "UPDATE stage SET state = 'approved', version = version + 1 WHERE key = 'budget'")
    result = verdict(db)
    assert not result.ok and "stage 'budget' of test-2027 is 'approved'" in result.reason


def test_a_deadline_changed_behind_the_logs_back_is_found_in_the_rows_not_blamed_on_an_entry(db, busy, verdict):
    raw(db, "UPDATE stage SET deadline = '2027-09-01' WHERE key = 'budget'")
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, None)  # entry 2, which recorded the first deadlines, is intact
    assert "not those its cycle_start entry (#2) recorded" in result.reason


def test_a_version_set_back_behind_the_logs_back_is_named_without_a_negative_count(db, busy, verdict):
    raw(db, "UPDATE input SET version = 0 WHERE unit_key = 'soc'")
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, None)
    assert result.reason.endswith("has version 0, but the log's 0 change(s) to it explain version 1")


def test_a_rewritten_chain_does_not_extend_the_auditors_checkpoint(db, busy, verdict):
    checkpoint = audit.take_checkpoint(db, "rut")
    assert checkpoint["entries"] == 7
    actions.submit_input(db, "sara", busy, "analys", "underlag", "soc")
    assert verdict(db, checkpoint).ok
    # Rewrite history from entry 5 on, consistently: the chain verifies on its own,
    # but no longer passes through the checkpoint's head hash.
    without_triggers(
        db,
        "DELETE FROM transition_log WHERE seq >= 5",
        "UPDATE log_head SET seq = 4, hash = (SELECT hash FROM transition_log WHERE seq = 4)",
    )
    raw(
        db,
        "UPDATE input SET state = 'submitted', version = 2 WHERE unit_key = 'bou'",
        "UPDATE input SET state = 'missing', version = 1 WHERE unit_key = 'soc'",
    )
    actions.return_input(db, "per", busy, "analys", "underlag", "bou", comment="Omskrivet")
    actions.submit_input(db, "oskar", busy, "analys", "underlag", "bou")
    actions.approve_input(db, "per", busy, "analys", "underlag", "bou")
    assert verdict(db).ok
    result = verdict(db, checkpoint)
    assert (result.ok, result.bad_seq) == (False, 7) and "checkpoint" in result.reason


def test_an_entry_removed_from_a_chain_rehashed_after_it_is_found_by_the_replay(db, busy, verdict):
    # Entry 5 returned bou's input; without it, entry 6 submits from 'returned' a row
    # the log left 'submitted'. Every hash after it is recomputed, so only the replay can tell.
    rechain_without(db, 5)
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, 5)
    row = f"input 'underlag' from unit 'bou' to stage 'analys' of {busy}"
    assert f"it moves {row} from 'returned' but the log left it 'submitted'" in result.reason


def rechain_without(db, seq: int) -> None:
    """Remove one entry and rewrite the chain after it as the code would have written it."""
    with db.read() as session:
        entries = [log.row_values(row) for row in log.query(session, log.LogFilter()) if row.seq != seq]
    statements, prev = ["DELETE FROM transition_log", "DELETE FROM log_head"], log.GENESIS_HASH
    for number, values in enumerate(entries, 1):
        values[0], values[13] = number, prev
        prev = log.entry_hash(values)
        at = values[1].replace("T", " ").rstrip("Z")
        cells = ", ".join(sql_literal(v) for v in [number, at, *values[2:13], values[13], prev])
        statements.append(f"INSERT INTO transition_log VALUES ({cells})")
    statements.append(f"INSERT INTO log_head (id, seq, hash) VALUES (1, {len(entries)}, '{prev}')")
    without_triggers(db, *statements)


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def test_only_auditors_and_admins_verify(db, busy):
    with pytest.raises(MissingRole, match="needs the role auditor or admin"):
        audit.verify(db, "anna")


def test_the_replay_explains_deadline_moves(db, busy, verdict):
    import datetime as dt

    actions.set_deadline(db, "anna", busy, "budget", dt.date(2027, 6, 10), "KF flyttar sitt möte")
    assert verdict(db).ok
    raw(db, "UPDATE stage SET deadline = '2027-06-11' WHERE key = 'budget'")
    result = verdict(db)
    assert not result.ok and "due 2027-06-11 but the log last set 2027-06-10" in result.reason
