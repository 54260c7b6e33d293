"""`audit verify`'s worker processes: they answer what a walk in this process answers, or say why not."""

from __future__ import annotations

import sys

import pytest

from cycle import audit, segment
from tests.integration.test_audit import busy  # noqa: F401 - the fixture

STRETCHES = [(1, 3), (4, 6), (7, 7)]


def url(db) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def test_workers_answer_as_walks_in_this_process_do(db, busy):  # noqa: F811
    with db.read() as session:
        here = [segment.walk(session.connection(), first, last) for first, last in STRETCHES]
    apart = segment.walk_apart(url(db), STRETCHES, None)
    assert apart == here
    assert [(s.first_seq, s.last_seq) for s in apart] == STRETCHES
    bou = (busy, "analys", "underlag", "bou")
    assert apart[1].states[bou] == ["missing", 4, "submitted"]  # submitted, returned, submitted again
    assert apart[2].states[bou] == ["submitted", 7, "approved"]  # what the join holds against the stretch before


def test_a_cycle_folder_in_the_current_directory_does_not_replace_arshjul_in_the_workers(db, busy, tmp_path,  # noqa: F811
                                                                                          monkeypatch):  # fmt: skip
    (tmp_path / "cycle").mkdir()
    (tmp_path / "cycle" / "__init__.py").write_text("raise SystemExit('an unrelated cycle package')\n")
    monkeypatch.chdir(tmp_path)
    assert [s.last_seq for s in segment.walk_apart(url(db), STRETCHES, None)] == [3, 6, 7]


def test_a_worker_that_cannot_read_the_log_says_why(db, busy, tmp_path):  # noqa: F811
    if not db.sqlite:
        pytest.skip("an SQLite file without the schema stands in for an unreadable log")
    empty = tmp_path / "empty.db"
    with pytest.raises(segment.WorkerFailed, match=r"entries 1-3 failed: .*no such table: transition_log"):
        segment.walk_apart(f"sqlite:///{empty}", [(1, 3)], None)


def test_verify_walks_everything_itself_when_no_worker_can_start(db, busy, monkeypatch, caplog):  # noqa: F811
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with pytest.raises(segment.WorkerFailed, match="did not start"):
        segment.walk_apart(url(db), [(4, 7)], None)
    verdict = audit.verify(db, "rut", workers=3)
    assert (verdict.ok, verdict.entries) == (True, 7)
    assert "walking the whole log in this process" in caplog.text
