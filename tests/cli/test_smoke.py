"""The installed `arshjul` in subprocesses on real SQLite files: every exit code, the
environment settings, colour, a tampered log, a fresh user's first session, the demo."""

from __future__ import annotations

import json
import os
import select
import sqlite3
import subprocess
import sys

import pytest

from tests.cli.conftest import CYCLE, INPUT, STAGE, arshjul_command, clean_env
from tests.conftest import ANGE, ANGE_ORG


def test_a_first_session_from_init_to_a_refusal(run, tmp_path):
    """0 for work done, 1 for a refusal, 2 for bad input, and the environment settings."""
    env = {"ARSHJUL_DB": f"sqlite:///{tmp_path / 'wheel.db'}", "ARSHJUL_USER": "nils"}
    assert run("init", env=env).code == 0
    assert run("org", "load", str(ANGE_ORG), env=env).code == 0
    started = run("cycle", "start", str(ANGE), "--year", "2027", env=env)
    assert (started.code, started.stdout) == (0, f"{CYCLE}\n")
    assert run("--as", "oskar", "stage", "open", CYCLE, STAGE, env=env).code == 0
    refused = run("--as", "oskar", "stage", "submit", CYCLE, STAGE, env=env)
    assert refused.code == 1
    assert refused.stderr.splitlines()[0].startswith(f"Error: stage '{STAGE}' of {CYCLE} cannot be submitted")
    assert all(line.startswith("Error: ") for line in refused.stderr.splitlines())
    unknown = run("--as", "oskar", "stage", "open", CYCLE, "nope", env=env)
    assert unknown.code == 2 and unknown.stderr.startswith("Error: unknown stage 'nope'")
    status = json.loads(run("status", CYCLE, "--format", "json", env=env).stdout)
    assert status["stages"][0]["state"] == "open"


def test_the_flag_wins_over_the_environment(run, tmp_path):
    url = f"sqlite:///{tmp_path / 'flag.db'}"
    assert run("--db", url, "init", env={"ARSHJUL_DB": "sqlite:////nonexistent/dir/x.db"}).code == 0
    assert (tmp_path / "flag.db").exists()


def test_an_unknown_person_is_exit_1(run, url):
    ran = run("--db", url, "--as", "mallory", "cycle", "list")
    assert ran.code == 1 and ran.stderr.startswith("Error: unknown person 'mallory'")


def test_the_login_name_is_the_default_person(run, url):
    # Nobody in the example organisation is called like the test runner's login.
    ran = run("--db", url, "cycle", "list", env={"USER": "nobody-here", "LOGNAME": "nobody-here"})
    assert ran.code == 1 and "unknown person 'nobody-here'" in ran.stderr


def test_a_database_that_cannot_be_opened_is_exit_2(run, tmp_path):
    ran = run("--db", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", "init")
    assert ran.code == 2 and ran.stderr.startswith("Error: cannot use the database")


def test_an_invalid_definition_is_exit_2_with_file_and_path(run, tmp_path):
    bad = tmp_path / "wheel.yaml"
    stage = "  - {key: a, name: A, owner: ks, decided_by: ks, deadline: Y-13-01}\n"
    bad.write_text("id: w\nname: W\ntimezone: Europe/Stockholm\nholidays: SE\nstages:\n" + stage, encoding="utf-8")
    ran = run("workflow", "check", str(bad))
    assert ran.code == 2
    assert ran.stderr.startswith(f"Error: {bad}: stages[0].deadline")


def test_debug_shows_the_traceback_and_keeps_the_exit_code(url, tmp_path):
    args = [*arshjul_command(), "--db", url, "--debug", "--as", "mallory", "cycle", "list"]
    proc = subprocess.run(args, capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "UnknownPerson" in proc.stderr
    assert proc.stderr.splitlines()[-2].startswith("Error: unknown person 'mallory'")


def test_a_usage_error_is_exit_2(run):
    assert run("stage", "fly").code == 2
    assert run("--db").code == 2


def test_a_tampered_log_is_exit_3_with_the_bad_entry(run, url, tmp_path):
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE, "-m", "Vi börjar").code == 0
    checkpoint = tmp_path / "kept.json"
    assert run("--db", url, "--as", "ulf", "audit", "checkpoint", "-o", str(checkpoint)).code == 0
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # what someone with the file could do
        conn.execute("DROP TRIGGER transition_log_no_update")
        conn.execute("UPDATE transition_log SET comment = 'Vi väntar' WHERE seq = 3")
    ran = run("--db", url, "--as", "ulf", "audit", "verify")
    assert ran.code == 3
    assert "ALTERED at entry 3" in ran.stdout
    assert ran.stderr.startswith("Error: the log was altered (entry 3)")
    verdict = json.loads(run("--db", url, "--as", "ulf", "audit", "verify", "--format", "json").stdout)
    assert (verdict["ok"], verdict["bad_seq"]) == (False, 3)
    against = run("--db", url, "--as", "ulf", "audit", "verify", "--checkpoint", str(checkpoint))
    assert against.code == 3


def test_no_traceback_for_missing_or_unwritable_or_unreadable_files(run, url, tmp_path):
    assert run("--db", url, "--as", "nils", "cycle", "start", str(tmp_path / "gone.yaml"), "--year", "2027").code == 2
    assert run("--db", url, "--as", "nils", "org", "load", str(tmp_path)).code == 2
    assert run("--db", url, "--as", "ulf", "audit", "checkpoint", "-o", str(tmp_path / "no" / "dir.json")).code == 2
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"entries": 1, "head_hash": "å"}'.encode("latin-1"))
    assert run("--db", url, "--as", "ulf", "audit", "verify", "--checkpoint", str(latin1)).code == 2


def _on_a_terminal(args: list[str], env: dict) -> str:
    """Run with stdout on a pseudo-terminal and return what it showed."""
    import pty  # POSIX only

    main, child = pty.openpty()
    proc = subprocess.Popen(args, stdout=child, stderr=subprocess.DEVNULL, env=env)
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 30)
        try:
            chunk = os.read(main, 4096) if ready else b""
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=30)
    os.close(main)
    return out.decode("utf-8")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_colour_only_on_a_terminal_and_never_with_no_color(url):
    args = [*arshjul_command(), "--db", url, "--as", "ulf", "status", CYCLE]
    assert "\x1b[" in _on_a_terminal(args, clean_env())
    assert "\x1b[" not in _on_a_terminal(args, clean_env(NO_COLOR="1"))
    piped = subprocess.run(args, capture_output=True, env=clean_env(), check=True)
    assert b"\x1b[" not in piped.stdout


def test_demo_runs_twice_and_writes_mail(run, tmp_path):
    for _ in range(2):
        ran = run("demo")
        assert ran.code == 0, ran.stderr
        assert ran.stderr == ""  # no warnings, and the show is on stdout
    out = ran.stdout
    assert "four-eyes" in out and f"input '{INPUT}' from unit 'kultur' is missing" in out
    assert "result     ok" in out
    mails = list((tmp_path / "arshjul-demo" / "mail").glob("*.eml"))
    assert mails and f"{len(mails)} message(s) written" in out


def test_demo_refuses_to_empty_a_folder_it_did_not_make(run, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work", encoding="utf-8")
    ran = run("demo", "--dir", str(precious))
    assert ran.code == 2 and (precious / "thesis.txt").exists()


def test_completion_offers_cycles_stages_and_units(run, url):
    def complete(*words: str) -> list[str]:
        env = {"_ARSHJUL_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(("arshjul", *words)),
               "COMP_CWORD": str(len(words)), "ARSHJUL_DB": url}  # fmt: skip
        ran = run(env=env)
        return [line.split(",", 1)[1] for line in ran.stdout.splitlines()]

    assert complete("status", "ange") == [CYCLE]
    assert complete("stage", "open", CYCLE, "omv") == [STAGE]
    assert complete("input", "submit", CYCLE, STAGE, INPUT, "--unit", "s") == ["sbf", "soc"]
    env_without_db = {"_ARSHJUL_COMPLETE": "bash_complete", "COMP_WORDS": "arshjul status a", "COMP_CWORD": "2"}
    assert run(env=env_without_db).code == 0  # no database: no suggestions, no error
