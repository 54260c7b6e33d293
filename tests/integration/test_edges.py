"""Edges a demanding user reaches through the use cases: empty keys, dates at the ends of
the calendar, huge limits. Each must be refused as bad input (nothing written) or work,
and never leave a log that `audit verify` calls altered."""

from __future__ import annotations

import datetime as dt

import pytest

from cycle import actions, audit
from cycle.errors import BadInput
from tests.integration.test_rules import snapshot
from tests.wheel import started


@pytest.fixture
def cid(db) -> str:
    return started(db)


def test_an_empty_input_key_for_a_deadline_is_unknown_and_writes_nothing(db, cid):
    before = snapshot(db)
    with pytest.raises(BadInput, match="unknown input ''"):
        actions.set_deadline(db, "anna", cid, "analys", dt.date(2027, 12, 1), "Flyttad", input_key="", unit="bou")
    with pytest.raises(BadInput, match="unit"):
        actions.set_deadline(db, "anna", cid, "analys", dt.date(2027, 12, 1), "Flyttad", input_key="")
    with pytest.raises(BadInput, match="unit"):
        actions.set_deadline(db, "anna", cid, "analys", dt.date(2027, 12, 1), "Flyttad", unit="bou")
    assert snapshot(db) == before
    actions.set_deadline(db, "anna", cid, "analys", dt.date(2027, 12, 1), "Flyttad")
    assert audit.verify(db, "admin").ok
