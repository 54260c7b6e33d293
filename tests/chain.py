"""What every test of concurrent writers asserts of the log afterwards: one unbroken chain."""

from __future__ import annotations

from sqlalchemy import select

from cycle import log
from cycle.models import LogEntry


def assert_one_unbroken_chain(db, entries_now: int) -> list:
    """The log holds entries 1..`entries_now` without gaps, each follows the one before it and
    matches its hash, and the chain head names the newest; returns the entries, oldest first."""
    with db.read() as session:
        entries = session.execute(select(*log.LOG_COLUMNS).order_by(LogEntry.seq)).all()
        head = log.head(session)
    assert [e.seq for e in entries] == list(range(1, entries_now + 1)), "the log has gaps"
    previous = log.GENESIS_HASH
    for e in entries:
        assert e.prev_hash == previous, f"entry {e.seq} does not follow entry {e.seq - 1}: the chain forked"
        assert log.entry_hash(log.row_values(e)) == e.hash, f"entry {e.seq} does not match its hash"
        previous = e.hash
    assert head == (entries[-1].seq, entries[-1].hash)
    return entries
