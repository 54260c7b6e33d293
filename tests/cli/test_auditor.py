"""What an auditor (revisor) sees with the installed command: `log` and `audit verify` on a
log an insider tampered with, in every format, and neither command writing to the database."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import resource
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import CYCLE, INPUT, STAGE, arshjul_command, clean_env, run_arshjul
from tests.conftest import ANGE_ORG, copied, settled

ROW = f"input '{INPUT}' from unit 'bou' to stage '{STAGE}' of {CYCLE}"


@pytest.fixture(scope="module")
def worked_file(tmp_path_factory, started_file) -> Path:
    """The Ånge cycle with a stage opened and an input submitted, returned and resubmitted, by the installed
    command, once for this module: the tests read it or alter it, each in its own copy (`worked`)."""
    folder = tmp_path_factory.mktemp("worked")
    url = copied(started_file, folder / "arshjul.db")
    for args in (["--as", "oskar", "stage", "open", CYCLE, STAGE],
                 ["--as", "sara", "input", "submit", CYCLE, STAGE, INPUT, "--unit", "bou"],
                 ["--as", "lars", "input", "return", CYCLE, STAGE, INPUT, "--unit", "bou", "-m", "Saknar prognos"],
                 ["--as", "sara", "input", "submit", CYCLE, STAGE, INPUT, "--unit", "bou"]):  # fmt: skip
        ran = run_arshjul("--db", url, *args, cwd=folder)
        assert ran.code == 0, ran.stderr
    return settled(folder / "arshjul.db")


@pytest.fixture
def worked(worked_file, tmp_path) -> str:
    """A copy of `worked_file` of this test's own, where the test's other files are."""
    return copied(worked_file, tmp_path / "arshjul.db")


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
    assert table.stderr == (
        f"Error: the log and the stored states disagree (one was changed outside arshjul): {said}\n"
    )

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


# --- log filters that name nothing -------------------------------------------------


def log(run, url: str, *args: str):
    return run("--db", url, "--as", "ulf", "log", *args)


@pytest.mark.parametrize(("option", "typo", "said", "meant"), [
    ("--stage", "omvarldsanalyss", "unknown stage 'omvarldsanalyss'", "did you mean omvarldsanalys?"),
    ("--input", "verksamhetsanalyss", "unknown input 'verksamhetsanalyss'", "did you mean verksamhetsanalys?"),
    ("--unit", "BOU", "unknown unit 'BOU'", "did you mean bou?"),
    ("--actor", "sarah", "unknown person 'sarah'", "did you mean sara?"),
])  # fmt: skip
def test_a_log_filter_naming_nothing_known_is_bad_input_with_the_close_matches(run, worked, option, typo, said, meant):
    for fmt in ("table", "json", "csv", "ndjson"):
        ran = log(run, worked, option, typo, "--format", fmt)
        assert ran.code == 2 and ran.stdout == "", (fmt, ran.stdout, ran.stderr)
        lines = ran.stderr.splitlines()
        assert all(line.startswith("Error: ") for line in lines), ran.stderr
        assert lines[0].startswith(f"Error: {said}") and lines[-1] == f"Error: {meant}", ran.stderr
    with_cycle = log(run, worked, "--cycle", CYCLE, option, typo)
    assert with_cycle.code == 2 and with_cycle.stdout == ""


@pytest.mark.parametrize(("option", "typed", "meant"), [
    ("--actor", "ülf", "ulf"), ("--actor", "Måts", "mats"), ("--stage", "ÖMVÄRLDSANALYS", "omvarldsanalys"),
])  # fmt: skip
def test_close_matches_disregard_swedish_and_other_accents(run, worked, option, typed, meant):
    ran = log(run, worked, option, typed)
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.splitlines()[-1] == f"Error: did you mean {meant}?"


def test_a_stage_of_another_cycle_is_unknown_in_the_cycle_named(run, worked):
    ran = log(run, worked, "--cycle", CYCLE, "--stage", "ks-ekonomirapport@2028-01-26")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.splitlines()[0] == f"Error: unknown stage 'ks-ekonomirapport@2028-01-26' in cycle {CYCLE}"
    assert "ks-ekonomirapport@2027-01-26" in ran.stderr.splitlines()[-1]


def test_a_per_meeting_stage_without_its_date_names_its_instances(run, worked):
    ran = log(run, worked, "--stage", "ks-ekonomirapport")
    assert ran.code == 2 and ran.stdout == ""
    assert "did you mean ks-ekonomirapport@2027-01-26, ks-ekonomirapport@2027-03-02" in ran.stderr


@pytest.mark.parametrize("args", [
    ("--stage", "budgetdialog"), ("--input", "budgetunderlag"), ("--unit", "kf"), ("--actor", "ulf"),
    ("--cycle", CYCLE, "--stage", STAGE, "--actor", "eva"),
])  # fmt: skip
def test_a_known_log_filter_without_entries_is_an_empty_log(run, worked, args):
    assert json.loads(log(run, worked, *args, "--format", "json").stdout) == []
    for fmt in ("csv", "ndjson"):
        ran = log(run, worked, *args, "--format", fmt)
        assert ran.code == 0 and ran.stderr == "" and len(ran.stdout.splitlines()) == (fmt == "csv")
    table = log(run, worked, *args)
    assert table.code == 0 and table.stdout.splitlines() == [table.stdout.splitlines()[0]]
    assert table.stdout.startswith("SEQ") and table.stderr == ""  # the header says there is nothing


def test_an_actor_known_only_from_the_log_is_known(run, tmp_path):
    # The first load of an organisation may be made by someone it does not name: the log keeps their name.
    url = f"sqlite:///{tmp_path / 'first.db'}"
    assert run("--db", url, "init").code == 0
    assert run("--db", url, "--as", "root", "org", "load", str(ANGE_ORG)).code == 0
    found = json.loads(log(run, url, "--actor", "root", "--format", "json").stdout)
    assert [e["event"] for e in found] == ["org_load"]


# --- audit verify as CSV -------------------------------------------------------------

CSV_COLUMNS = ["ok", "entries", "head_hash", "bad_seq", "reason",
               "checkpoint_entries", "checkpoint_head_hash", "checkpoint_at"]  # fmt: skip


def test_audit_verify_csv_gives_the_checkpoint_its_own_columns_and_json_keeps_its_object(run, worked, tmp_path):
    kept = tmp_path / "kept.json"
    assert run("--db", worked, "--as", "ulf", "audit", "checkpoint", "-o", str(kept)).code == 0
    fields = json.loads(kept.read_text(encoding="utf-8"))

    as_csv = verify(run, worked, "csv", "--checkpoint", str(kept))
    assert as_csv.code == 0
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    (row,) = reader
    assert reader.fieldnames == CSV_COLUMNS
    assert (row["checkpoint_entries"], row["checkpoint_head_hash"], row["checkpoint_at"]) == (
        str(fields["entries"]), fields["head_hash"], fields["at"])  # fmt: skip
    assert row["ok"] == "true" and row["entries"] == str(fields["entries"])

    without = verify(run, worked, "csv")
    reader = csv.DictReader(io.StringIO(without.stdout))
    (row,) = reader
    assert reader.fieldnames == CSV_COLUMNS  # the same columns, empty
    assert (row["checkpoint_entries"], row["checkpoint_head_hash"], row["checkpoint_at"]) == ("", "", "")

    as_json = json.loads(verify(run, worked, "json", "--checkpoint", str(kept)).stdout)
    assert list(as_json) == ["ok", "entries", "head_hash", "bad_seq", "reason", "checkpoint"]
    assert as_json["checkpoint"] == fields
    assert json.loads(verify(run, worked, "json").stdout)["checkpoint"] is None


# --- odd checkpoint files --------------------------------------------------------------


def kept_checkpoint(run, url: str, path: Path) -> dict:
    assert run("--db", url, "--as", "ulf", "audit", "checkpoint", "-o", str(path)).code == 0
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_checkpoint_saved_with_a_byte_order_mark_is_read(run, worked, tmp_path):
    kept = tmp_path / "kept.json"
    kept_checkpoint(run, worked, kept)
    kept.write_bytes(b"\xef\xbb\xbf" + kept.read_bytes().replace(b"\n", b"\r\n"))  # as Notepad saves it
    ran = verify(run, worked, "json", "--checkpoint", str(kept))
    assert ran.code == 0, ran.stderr
    assert json.loads(ran.stdout)["ok"] is True


@pytest.mark.parametrize(("content", "said"), [
    ("[" * 10_000, "it is nested too deeply"),
    ("{" + " " * 200_000 + "}", "it is larger than 64 KiB, and `audit checkpoint` writes a few lines"),
], ids=["nested", "large"])  # fmt: skip
def test_a_checkpoint_file_that_is_no_checkpoint_at_all_is_bad_input(run, worked, tmp_path, content, said):
    odd = tmp_path / "odd.json"
    odd.write_text(content, encoding="utf-8")
    ran = verify(run, worked, "table", "--checkpoint", str(odd))
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr == f"Error: {odd}: not an arshjul checkpoint: {said}\n"


def test_an_endless_checkpoint_file_is_bad_input_not_a_hang(run, worked):
    ran = verify(run, worked, "table", "--checkpoint", "/dev/zero")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.startswith("Error: /dev/zero: not an arshjul checkpoint: it is larger than 64 KiB")


# --- audit checkpoint -o ---------------------------------------------------------------


def checkpoint_to(run, url: str, output: str, cwd: Path):
    return run("--db", url, "--as", "ulf", "audit", "checkpoint", "-o", output, cwd=cwd)


def test_a_checkpoint_that_cannot_be_written_in_full_leaves_the_one_kept_before(worked, tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("the checkpoint kept last month\n", encoding="utf-8")
    checksum(worked)  # the WAL written back, so the file can be read as immutable (no -shm file to grow)

    def small_files():  # a full disk, as far as this process can tell: no file over 60 bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (60, 60))

    proc = subprocess.run(
        [*arshjul_command(), "--db", f"{worked}?immutable=1", "--as", "ulf", "audit", "checkpoint", "-o", str(kept)],
        capture_output=True, text=True, env=clean_env(), preexec_fn=small_files, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"Error: cannot write {kept}: File too large\n"
    assert kept.read_text(encoding="utf-8") == "the checkpoint kept last month\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("kept")] == ["kept.json"]  # no leftovers


def test_a_checkpoint_into_a_missing_folder_names_the_folder_and_writes_nothing(run, worked, tmp_path):
    ran = checkpoint_to(run, worked, "revision/2026/kept.json", tmp_path)
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr == "Error: cannot write revision/2026/kept.json: there is no folder revision/2026\n"
    assert not (tmp_path / "revision").exists()
    (tmp_path / "revision").write_text("notes\n", encoding="utf-8")
    into_a_file = checkpoint_to(run, worked, "revision/kept.json", tmp_path)
    assert into_a_file.code == 2 and into_a_file.stdout == ""
    assert into_a_file.stderr == "Error: cannot write revision/kept.json: revision is a file, not a folder\n"


def test_a_checkpoint_to_dash_goes_to_stdout_and_an_empty_name_is_bad_usage(run, worked, tmp_path):
    ran = checkpoint_to(run, worked, "-", tmp_path)
    assert ran.code == 0 and ran.stderr == ""
    assert set(json.loads(ran.stdout)) == {"entries", "head_hash", "at"}
    assert not (tmp_path / "-").exists()

    empty = checkpoint_to(run, worked, "", tmp_path)
    assert empty.code == 2 and empty.stdout == ""
    assert empty.stderr.startswith("Error: Invalid value for '-o' / '--output': it is empty; name a file, or - for")


def test_a_checkpoint_overwrites_a_kept_one_keeping_its_permissions(run, worked, tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("old\n", encoding="utf-8")
    kept.chmod(0o640)
    assert checkpoint_to(run, worked, str(kept), tmp_path).code == 0
    assert json.loads(kept.read_text(encoding="utf-8"))["entries"] == 6
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_a_checkpoint_into_a_folder_nobody_may_write_says_so(run, worked, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    ran = checkpoint_to(run, worked, str(locked / "kept.json"), tmp_path)
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr == f"Error: cannot write {locked / 'kept.json'}: Permission denied\n"


# --- stdout that takes nothing ---------------------------------------------------------


def run_into(stdout, *args: str) -> subprocess.CompletedProcess:
    """The installed command with its stdout on `stdout` (a file object, or None for closed)."""
    closed = stdout is None
    proc = subprocess.run(
        [*arshjul_command(), *args], stdout=subprocess.DEVNULL if closed else stdout, stderr=subprocess.PIPE,
        text=True, env=clean_env(), timeout=120, preexec_fn=(lambda: os.close(1)) if closed else None,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


QUERIES = [("log",), ("log", "--format", "json"), ("log", "--format", "csv"), ("log", "--format", "ndjson"),
           ("audit", "verify"), ("audit", "verify", "--format", "json"), ("audit", "checkpoint")]  # fmt: skip


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", QUERIES, ids=" ".join)
def test_data_that_cannot_be_written_to_a_full_disk_is_an_error_not_a_bug(worked, args):
    with open("/dev/full", "w") as full:
        proc = run_into(full, "--db", worked, "--as", "ulf", *args)
    assert proc.returncode == 2
    assert proc.stderr == "Error: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize("args", QUERIES, ids=" ".join)
def test_data_for_a_closed_stdout_is_an_error_not_a_bug_or_silence(worked, args):
    proc = run_into(None, "--db", worked, "--as", "ulf", *args)
    assert proc.returncode == 2
    assert proc.stderr == "Error: cannot write to standard output: it is closed\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_altered_log_is_still_told_and_exit_3_when_stdout_takes_nothing(worked):
    tamper(worked, "UPDATE transition_log SET comment = 'Allt bra' WHERE seq = 5")
    with open("/dev/full", "w") as full:
        proc = run_into(full, "--db", worked, "--as", "ulf", "audit", "verify")
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        "Error: the log was altered (entry 5): its content does not match its hash (the entry was altered)",
        "Error: cannot write to standard output: No space left on device",
    ]
