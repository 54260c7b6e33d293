"""What an auditor (revisor) sees with the installed command: `log` and `audit verify` on a
log an insider tampered with, in every format, and neither command writing to the database."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.conftest import CYCLE, INPUT, STAGE

ROW = f"input '{INPUT}' from unit 'bou' to stage '{STAGE}' of {CYCLE}"


@pytest.fixture
def worked(run, url) -> str:
    """The Ånge cycle with a stage opened and an input submitted, returned and resubmitted."""
    for args in (["--as", "oskar", "stage", "open", CYCLE, STAGE],
                 ["--as", "sara", "input", "submit", CYCLE, STAGE, INPUT, "--unit", "bou"],
                 ["--as", "lars", "input", "return", CYCLE, STAGE, INPUT, "--unit", "bou", "-m", "Saknar prognos"],
                 ["--as", "sara", "input", "submit", CYCLE, STAGE, INPUT, "--unit", "bou"]):  # fmt: skip
        assert run("--db", url, *args).code == 0
    return url


def file_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def tamper(url: str, *statements: str) -> None:
    """What someone holding the file could do: drop the append-only triggers, then change things."""
    with sqlite3.connect(file_of(url)) as conn:
        conn.execute("DROP TRIGGER transition_log_no_update")
        conn.execute("DROP TRIGGER transition_log_no_delete")
        for sql in statements:
            conn.execute(sql)
    conn.close()


def checksum(url: str) -> str:
    """The file's SHA-256 with the WAL written back, so only the file's content counts."""
    conn = sqlite3.connect(file_of(url))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return hashlib.sha256(file_of(url).read_bytes()).hexdigest()


def verify(run, url: str, fmt: str, *more: str):
    return run("--db", url, "--as", "ulf", "audit", "verify", "--format", fmt, *more)


def test_a_state_changed_behind_the_logs_back_names_the_row_in_every_format(run, worked):
    tamper(worked, "UPDATE input SET state = 'approved' WHERE key = 'verksamhetsanalys' AND unit_key = 'bou'")
    said = f"{ROW} is 'approved' but the log explains 'submitted'"

    table = verify(run, worked, "table")
    assert table.code == 3
    (result,) = [line for line in table.stdout.splitlines() if line.startswith("result")]
    assert result.split(None, 1)[1] == f"ALTERED: {said}"  # no entry to name, and no "entry ?"
    assert table.stderr == f"Error: the log was altered (a stage or input row disagrees with it): {said}\n"

    as_json = verify(run, worked, "json")
    assert as_json.code == 3 and as_json.stderr == table.stderr
    verdict = json.loads(as_json.stdout)
    assert (verdict["ok"], verdict["bad_seq"], verdict["reason"]) == (False, None, said)

    as_csv = verify(run, worked, "csv")
    assert as_csv.code == 3 and as_csv.stderr == table.stderr
    (row,) = csv.DictReader(io.StringIO(as_csv.stdout))
    assert (row["ok"], row["bad_seq"], row["reason"]) == ("false", "", said)


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_an_edited_entry_is_named_with_what_was_done_in_every_format(run, worked, fmt):
    tamper(worked, "UPDATE transition_log SET comment = 'Allt bra' WHERE seq = 5")
    ran = verify(run, worked, fmt)
    assert ran.code == 3
    assert ran.stderr == ("Error: the log was altered (entry 5): its content does not match its hash "
                          "(the entry was altered)\n")  # fmt: skip
    if fmt == "table":
        assert "ALTERED at entry 5: its content does not match its hash" in ran.stdout
    else:
        found = json.loads(ran.stdout) if fmt == "json" else next(csv.DictReader(io.StringIO(ran.stdout)))
        assert str(found["bad_seq"]) == "5" and "altered" in found["reason"]


def test_a_removed_entry_is_named_against_a_checkpoint(run, worked, tmp_path):
    kept = tmp_path / "kept.json"
    assert run("--db", worked, "--as", "ulf", "audit", "checkpoint", "-o", str(kept)).code == 0
    tamper(worked, "DELETE FROM transition_log WHERE seq = 4")
    ran = verify(run, worked, "table", "--checkpoint", str(kept))
    assert ran.code == 3
    assert ran.stderr.startswith("Error: the log was altered (entry 4): entry 4 is missing")


def test_log_and_audit_verify_write_nothing_to_the_database(run, worked, tmp_path):
    kept = tmp_path / "kept.json"
    assert run("--db", worked, "--as", "ulf", "audit", "checkpoint", "-o", str(kept)).code == 0
    before = checksum(worked)
    for fmt in ("table", "json", "csv", "ndjson"):
        assert run("--db", worked, "--as", "ulf", "log", "--cycle", CYCLE, "--format", fmt).code == 0
    for fmt in ("table", "json", "csv"):
        assert verify(run, worked, fmt, "--checkpoint", str(kept)).code == 0
    assert checksum(worked) == before

    tamper(worked, "UPDATE transition_log SET actor = 'eva' WHERE seq = 5")
    altered = checksum(worked)
    assert verify(run, worked, "table", "--checkpoint", str(kept)).code == 3
    assert run("--db", worked, "--as", "ulf", "log", "--format", "json").code == 0
    assert checksum(worked) == altered
