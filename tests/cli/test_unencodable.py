"""Text that cannot be encoded as UTF-8, through every door of the installed `arshjul`: the organisation and
workflow files, arguments, options and the environment. Each is refused up front with one `Error:` line naming
where it was, exit 2, and nothing is written (once: `internal error: UnicodeEncodeError`, exit 70, half way).

A byte that is not UTF-8 on the command line or in the environment (`-m $'\\xff'` in a Latin-1 terminal) reaches
Python as a lone surrogate, U+DCFF (PEP 383); `subprocess` turns '\\udcff' back into that byte for the child.
"""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import CYCLE, INPUT, STAGE
from tests.conftest import ANGE, ANGE_ORG

BYTE = "\udcff"  # the byte 0xFF on the command line
NOT_UTF8 = (
    "cannot be encoded as UTF-8: character {at} is a lone surrogate, '\\udcff' (the byte 0xFF, which is not UTF-8)"
)
FRIDAY = "2026-02-06T07:00"  # reminders are due


def entries(run, url) -> list[dict]:
    return json.loads(run("--db", url, "--as", "nils", "log", "--format", "json").stdout)


def stage_state(run, url) -> str:
    status = json.loads(run("--db", url, "--as", "nils", "status", CYCLE, "--format", "json").stdout)
    return next(s["state"] for s in status["stages"] if s["key"] == STAGE)


@pytest.mark.parametrize("args, where, at", [
    (["--as", "oskar", "stage", "open", CYCLE, STAGE, "-m", BYTE], "-m/--message", 1),
    (["--as", "oskar", "stage", "open", CYCLE, STAGE, "--ref", f"KS 2026/{BYTE}"], "--ref", 9),
    (["--as", "oskar", "stage", "open", CYCLE, f"{STAGE}{BYTE}"], "STAGE", 15),
    (["--as", f"oskar{BYTE}", "stage", "open", CYCLE, STAGE], "--as", 6),
    (["--as", "oskar", "deadline", "set", CYCLE, STAGE, "2026-03-20", "-m", f"Val{BYTE}r"], "-m/--message", 4),
])  # fmt: skip
def test_a_byte_that_is_not_utf8_in_an_argument_is_refused_naming_it(run, url, args, where, at):
    before = entries(run, url)
    ran = run("--db", url, *args)
    assert (ran.code, ran.stderr) == (2, f"Error: {where} {NOT_UTF8.format(at=at)}\n")
    assert entries(run, url) == before and stage_state(run, url) == "pending"


def test_an_input_comment_or_unit_that_is_not_utf8_is_refused_and_the_input_stays_missing(run, url):
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    before = entries(run, url)
    submit = ["--db", url, "--as", "sara", "input", "submit", CYCLE, STAGE, INPUT]
    ran = run(*submit, "--unit", "bou", "-m", f"Elevprognosen{BYTE}")
    assert (ran.code, ran.stderr) == (2, f"Error: -m/--message {NOT_UTF8.format(at=14)}\n")
    ran = run(*submit, "--unit", f"bou{BYTE}")
    assert (ran.code, ran.stderr) == (2, f"Error: --unit {NOT_UTF8.format(at=4)}\n")
    assert entries(run, url) == before
    assert run(*submit, "--unit", "bou", "-m", "Elevprognosen").code == 0  # the same, in UTF-8, goes through


def test_a_setting_in_the_environment_is_named_by_its_variable(run, url):
    ran = run("--db", url, "status", CYCLE, env={"ARSHJUL_USER": f"nils{BYTE}"})
    assert (ran.code, ran.stderr) == (2, f"Error: ARSHJUL_USER {NOT_UTF8.format(at=5)}\n")


def test_a_database_url_that_is_not_utf8_is_refused_without_quoting_it(run, tmp_path):
    ran = run("status", env={"ARSHJUL_DB": f"postgresql://arshjul:hemlig{BYTE}@db.example/arshjul"})
    assert ran.code == 2
    assert (
        ran.stderr == "Error: ARSHJUL_DB cannot be encoded as UTF-8: it holds a byte that is not UTF-8 or a lone "
        "surrogate\n"
    )


def test_an_org_file_with_a_lone_surrogate_in_a_name_is_refused_with_file_and_path(run, url, tmp_path):
    text = ANGE_ORG.read_text(encoding="utf-8")
    assert "name: Sara Lund\n" in text and "{key: bou, name: Barn och utbildning, parent: ks}" in text
    bad = tmp_path / "org.yaml"
    bad.write_text(text.replace("name: Sara Lund\n", 'name: "Sara \\ud800 Lund"\n').replace(
        "name: Barn och utbildning,", 'name: "Barn och \\ud800utbildning",'), encoding="utf-8")  # fmt: skip
    before = entries(run, url)
    ran = run("--db", url, "--as", "nils", "org", "load", str(bad))
    assert ran.code == 2
    lines = ran.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"Error: {bad}: ") for line in lines)
    assert lines[0].startswith(f"Error: {bad}: units[2].name: cannot be encoded as UTF-8: character 10 is a lone")
    assert "people[" in lines[1] and "].name: cannot be encoded as UTF-8: character 6 is a lone surrogate" in lines[1]
    assert entries(run, url) == before


def test_an_org_file_whose_name_is_not_utf8_is_refused_as_the_log_keeps_the_name(run, url, tmp_path):
    changed = ANGE_ORG.read_text(encoding="utf-8").replace("name: Sara Lund\n", "name: Sara Lund-Berg\n")
    named = tmp_path / f"org{BYTE}.yaml"
    named.write_text(changed, encoding="utf-8")
    before = entries(run, url)
    ran = run("--db", url, "--as", "nils", "org", "load", str(named))
    assert ran.code == 2
    assert ran.stderr.startswith("Error: the file name ") and "cannot be encoded as UTF-8" in ran.stderr
    assert entries(run, url) == before


def test_a_workflow_with_a_lone_surrogate_is_refused_by_check_and_start(run, url, tmp_path):
    text = ANGE.read_text(encoding="utf-8")
    bad = tmp_path / "wheel.yaml"
    bad.write_text(text.replace("name: Årshjul för Ånge kommun", 'name: "Årshjul för \\udcffnge kommun"'), "utf-8")
    checked = run("workflow", "check", str(bad))
    assert checked.code == 2
    assert checked.stderr.startswith(f"Error: {bad}: name: cannot be encoded as UTF-8: character 13 is a lone")
    started = run("--db", url, "--as", "nils", "cycle", "start", str(bad), "--year", "2028")
    assert started.code == 2 and started.stderr == checked.stderr
    assert [c["cycle"] for c in json.loads(run("--db", url, "--as", "nils", "cycle", "list", "--format",
                                                "json").stdout)] == [CYCLE]  # fmt: skip


def test_a_sender_that_is_not_utf8_is_refused_before_any_mail_is_queued(run, url, tmp_path):
    assert run("--db", url, "--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    env = {"ARSHJUL_MAIL_FROM": f"Årshjulet{BYTE} <arshjul@ange.example>", "ARSHJUL_MAIL_DIR": str(tmp_path / "mail")}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert (ran.code, ran.stderr) == (2, f"Error: ARSHJUL_MAIL_FROM {NOT_UTF8.format(at=10)}\n")
    assert not (tmp_path / "mail").exists()
    assert run("--db", url, "--as", "nils", "reminders", "list", "--format", "json").stdout == "[]\n"


def test_an_smtp_url_that_is_not_utf8_is_refused_without_quoting_its_password(run, url, tmp_path):
    env = {"ARSHJUL_SMTP_URL": f"smtp://arshjul:hemlig{BYTE}@127.0.0.1:9"}
    ran = run("--db", url, "--as", "nils", "reminders", "send", "--at", FRIDAY, env=env)
    assert ran.code == 2
    assert (
        ran.stderr == "Error: ARSHJUL_SMTP_URL cannot be encoded as UTF-8: it holds a byte that is not UTF-8 "
        "or a lone surrogate\n"
    )
    assert "hemlig" not in ran.stderr
