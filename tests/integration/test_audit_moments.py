"""`audit verify` reads stored moments as they are: a moved or unreadable `at` is an altered entry."""

from __future__ import annotations

import pytest

from tests.integration.test_audit import busy, verdict, without_triggers  # noqa: F401 - the fixture

SQLITE_ONLY = ["'2027-02-01 08:00:00'", "12345", "'not a moment'"]


def test_a_moved_moment_is_found(db, busy, verdict):  # noqa: F811
    without_triggers(db, "UPDATE transition_log SET at = '1999-12-31 23:59:59.000001' WHERE seq = 4")
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, 4) and "altered" in result.reason


@pytest.mark.parametrize("value", SQLITE_ONLY)
def test_a_moment_in_another_spelling_or_none_at_all_is_found_on_sqlite(db, busy, verdict, value):  # noqa: F811
    if not db.sqlite:
        pytest.skip("PostgreSQL's timestamp column holds only moments")
    without_triggers(db, f"UPDATE transition_log SET at = {value} WHERE seq = 4")
    result = verdict(db)
    assert (result.ok, result.bad_seq) == (False, 4) and "altered" in result.reason
