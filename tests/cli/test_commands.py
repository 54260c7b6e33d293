"""Every command in-process (CliRunner) on real SQLite files: outputs, JSON shapes, exit codes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli.conftest import CYCLE, INPUT, STAGE
from tests.conftest import ANGE, ANGE_ORG

STATUS_KEYS = {"cycle", "workflow", "year", "stages"}
STAGE_KEYS = {"key", "name", "state", "deadline", "inputs"}
INPUT_KEYS = {"key", "unit", "state", "deadline"}
LOG_KEYS = ["seq", "at", "actor", "cycle", "stage", "input", "unit", "event", "from_state", "to_state",
            "comment", "ref", "prev_hash", "hash"]  # fmt: skip


def submit_all(cli, *units: str) -> None:
    people = {"bou": "sara", "soc": "johanna", "sbf": "james", "kultur": "linnea"}
    for unit in units:
        assert cli("--as", people[unit], "input", "submit", CYCLE, STAGE, INPUT, "--unit", unit).code == 0


# --- init, org, workflow ---------------------------------------------------------


def test_init_creates_then_reports_nothing_to_do(cli, tmp_path):
    db = f"sqlite:///{tmp_path / 'new.db'}"
    first = cli("init", db=db)
    assert first.code == 0 and "created the schema" in first.stderr
    again = cli("init", db=db)
    assert again.code == 0 and "nothing to do" in again.stderr


def test_a_database_without_schema_says_run_init(cli, tmp_path):
    ran = cli("--as", "nils", "cycle", "list", db=f"sqlite:///{tmp_path / 'bare.db'}")
    assert ran.code == 2
    assert ran.stderr.startswith("Error: ") and "arshjul init" in ran.stderr


def test_a_file_path_for_db_is_exit_2_and_says_how_to_write_its_url(cli, tmp_path):
    path = tmp_path / "elsewhere.db"
    ran = cli("status", db=str(path))
    assert ran.code == 2
    assert ran.stderr.startswith("Error: cannot use the database URL")
    assert f"sqlite:///{path}" in ran.stderr
    assert not path.exists()


def test_first_org_load_bootstraps_then_only_an_admin_may_load(cli, empty_url):
    first = cli("--as", "someone", "org", "load", str(ANGE_ORG), db=empty_url)
    assert first.code == 0, first.stderr
    assert "--as nils" in first.stderr  # the bootstrapper is told whom to act as
    assert cli("--as", "nils", "org", "load", str(ANGE_ORG), db=empty_url).stderr.endswith("organisation\n")
    refused = cli("--as", "oskar", "org", "load", str(ANGE_ORG), db=empty_url)
    assert refused.code == 1 and "admin" in refused.stderr


def test_org_load_says_in_numbers_what_was_added_and_what_was_removed(run, tmp_path, empty_url):
    first = run("--db", empty_url, "--as", "nils", "org", "load", str(ANGE_ORG))
    assert first.code == 0, first.stderr
    assert (
        f"loaded {ANGE_ORG}: 6 unit(s), 17 person(s), 18 role grant(s) and 20 meeting(s) added (log #1)" in first.stderr
    )
    text = ANGE_ORG.read_text(encoding="utf-8")
    moved = text.replace("{unit: ks, date: 2027-03-02}", "{unit: ks, date: 2027-03-09}")  # KS moves a meeting
    moved = moved.replace("{unit: kf, date: 2027-10-18}", "{unit: kf, date: 2026-10-19}")  # one a year earlier
    edited = tmp_path / "org.yaml"
    edited.write_text(moved.replace("Lars Engström", "Lars Eng"), encoding="utf-8")
    again = run("--db", empty_url, "--as", "nils", "org", "load", str(edited))
    assert again.code == 0, again.stderr
    assert again.stderr == (
        f"loaded {edited}: 2 meeting(s) added; 1 person(s) changed; 2 meeting(s) removed (log #2)\n"
    )


def test_org_load_of_an_invalid_file_is_exit_2_with_the_path(cli, tmp_path, empty_url):
    bad = tmp_path / "org.yaml"
    bad.write_text("units:\n  - {key: KS, name: x}\npeople: []\n", encoding="utf-8")
    ran = cli("--as", "nils", "org", "load", str(bad), db=empty_url)
    assert ran.code == 2
    assert all(line.startswith("Error: ") for line in ran.stderr.splitlines())
    assert str(bad) in ran.stderr and "units[0]" in ran.stderr


def test_workflow_check_reports_ok_files_and_every_problem(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: Bad\nname: x\ntimezone: Europe/Stokholm\nholidays: SE\nstages: []\n", encoding="utf-8")
    ran = cli("workflow", "check", str(ANGE), str(bad))
    assert ran.code == 2
    assert f"ok: {ANGE} (10 stages" in ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("Error: ")]
    assert any(f"{bad}: id:" in e for e in errors) and any(f"{bad}: timezone:" in e for e in errors)


def test_workflow_check_of_good_files_is_exit_0(cli):
    assert cli("workflow", "check", str(ANGE)).code == 0


def test_workflow_show_without_a_database_shows_rules_and_moved_dates(cli, tmp_path):
    ran = cli("workflow", "show", str(ANGE), "--year", "2027", db=f"sqlite:///{tmp_path / 'none.db'}")
    assert ran.code == 0, ran.stderr
    assert not (tmp_path / "none.db").exists()  # a preview never creates a database
    assert "7 days before each ks meeting" in ran.stdout
    assert "2026-03-13" in ran.stdout and "moved from 2026-03-15 (Sunday)" in ran.stdout


def test_workflow_show_uses_the_meetings_in_the_database(cli):
    wheel = json.loads(cli("workflow", "show", str(ANGE), "--year", "2027", "--format", "json").stdout)
    assert wheel["meetings"] == "database"
    keys = [s["key"] for s in wheel["stages"]]
    assert "ks-ekonomirapport@2027-01-26" in keys
    easter = [s for s in wheel["stages"] if s["key"] == "arsredovisning"][0]
    assert easter["deadline"] == "2028-04-07" and easter["moved"]["reason"]  # a Sunday or a holiday, named


# --- cycles and status -----------------------------------------------------------


def test_cycle_start_prints_the_id_and_refuses_a_second_start(cli, ange):
    ran = cli("--as", "nils", "cycle", "start", str(ANGE), "--year", "2028")
    assert ran.code == 0 and ran.stdout == "ange-2028\n"
    assert "started ange-2028" in ran.stderr
    assert cli("--as", "nils", "cycle", "start", str(ANGE), "--year", "2028").code == 1
    assert cli("--as", "oskar", "cycle", "start", str(ANGE), "--year", "2029").code == 1


def test_cycle_list_json_and_csv(cli):
    rows = json.loads(cli("--as", "ulf", "cycle", "list", "--format", "json").stdout)
    assert rows == [{"cycle": CYCLE, "workflow": "ange", "year": 2027, "name": "Årshjul för Ånge kommun",
                     "timezone": "Europe/Stockholm"}]  # fmt: skip
    table = list(csv.DictReader(io.StringIO(cli("--as", "ulf", "cycle", "list", "--format", "csv").stdout)))
    assert table[0]["name"] == "Årshjul för Ånge kommun"


def test_status_json_has_the_contract_shape(cli):
    assert cli("--as", "oskar", "stage", "open", CYCLE, STAGE).code == 0
    ran = cli("--as", "sara", "status", CYCLE, "--format", "json")
    data = json.loads(ran.stdout)
    assert STATUS_KEYS <= set(data) and (data["cycle"], data["workflow"], data["year"]) == (CYCLE, "ange", 2027)
    first = data["stages"][0]
    assert STAGE_KEYS <= set(first) and INPUT_KEYS <= set(first["inputs"][0])
    assert first["state"] == "open" and first["deadline"] == "2026-03-13"
    assert any("its contributors are linnea" in b for b in first["blocked_by"])


def test_status_table_shows_days_left_and_who_blocks(cli):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    table = cli("--as", "sara", "status", CYCLE, "--at", "2026-02-20").stdout
    assert "\x1b[" not in table  # not a terminal: no colour
    assert "7 d overdue" in table  # the inputs were due 2026-02-13
    assert "contributors of kultur to submit: linnea" in table
    assert "stage 'omvarldsanalys' is open" in table


def test_status_without_a_cycle_shows_the_newest_and_says_so(cli):
    cli("--as", "nils", "cycle", "start", str(ANGE), "--year", "2028")
    ran = cli("--as", "sara", "status", "--format", "json")
    assert json.loads(ran.stdout)["cycle"] == "ange-2028"
    assert "showing ange-2028" in ran.stderr


def test_status_csv_round_trips_swedish_letters(cli):
    text = cli("--as", "sara", "status", CYCLE, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["name"] == "Nulägeskoll och omvärldsanalys"
    assert {"cycle", "stage", "input", "unit", "state", "deadline", "days_left", "blocked_by"} <= set(rows[0])


def test_status_without_any_cycle_is_exit_2_and_says_how_to_start(cli, empty_url):
    assert cli("--as", "nils", "org", "load", str(ANGE_ORG), db=empty_url).code == 0
    ran = cli("--as", "nils", "status", db=empty_url)
    assert ran.code == 2 and "no cycles yet" in ran.stderr and "cycle start" in ran.stderr


def test_unknown_cycle_and_bad_dates_are_exit_2(cli):
    assert cli("--as", "sara", "status", "ange-1999").code == 2
    bad = cli("--as", "sara", "status", CYCLE, "--at", "2026-02-30")
    assert bad.code == 2 and "2026-02-30" in bad.stderr


def test_an_unknown_person_is_refused_with_exit_1(cli):
    ran = cli("--as", "mallory", "status", CYCLE)
    assert ran.code == 1 and ran.stderr.startswith("Error: unknown person 'mallory'")


# --- stage and input actions, deadlines ------------------------------------------


def test_a_round_of_actions_with_a_refusal_and_four_eyes(cli):
    assert "pending → open" in cli("--as", "oskar", "stage", "open", CYCLE, STAGE).stderr
    submit_all(cli, "bou", "soc", "sbf")
    refused = cli("--as", "oskar", "stage", "submit", CYCLE, STAGE)
    assert refused.code == 1
    blocker = "Error: input 'verksamhetsanalys' from unit 'kultur' is missing: its contributors are linnea"
    assert blocker in refused.stderr.splitlines()
    returned = cli("--as", "lars", "input", "return", CYCLE, STAGE, INPUT, "--unit", "sbf", "-m", "Lägg till prognosen")
    assert returned.code == 0 and "submitted → returned" in returned.stderr
    for unit in ("bou", "soc"):
        assert cli("--as", "eva", "input", "approve", CYCLE, STAGE, INPUT, "--unit", unit).code == 0
    submit_all(cli, "sbf", "kultur")
    for unit in ("sbf", "kultur"):
        assert cli("--as", "lars", "input", "approve", CYCLE, STAGE, INPUT, "--unit", unit).code == 0
    assert cli("--as", "oskar", "stage", "submit", CYCLE, STAGE, "--ref", "KS 2026/12").code == 0
    assert cli("--as", "lars", "stage", "return", CYCLE, STAGE, "-m", "Komplettera").code == 0
    assert cli("--as", "karin", "stage", "submit", CYCLE, STAGE).code == 0
    assert cli("--as", "eva", "stage", "approve", CYCLE, STAGE).code == 0
    closed = cli("--as", "oskar", "stage", "close", CYCLE, STAGE)
    assert closed.code == 0 and "approved → closed" in closed.stderr


def test_four_eyes_refusal_is_exit_1(cli, tmp_path):
    org = tmp_path / "org.yaml"
    text = ANGE_ORG.read_text(encoding="utf-8")
    org.write_text(text.replace("      - {role: contributor, unit: bou}", "      - {role: contributor, unit: bou}\n"
                                "      - {role: approver, unit: ks}", 1), encoding="utf-8")  # fmt: skip
    assert cli("--as", "nils", "org", "load", str(org)).code == 0
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    submit_all(cli, "bou")
    ran = cli("--as", "sara", "input", "approve", CYCLE, STAGE, INPUT, "--unit", "bou")
    assert ran.code == 1 and "four-eyes" in ran.stderr


def test_return_without_a_message_is_a_usage_error(cli):
    ran = cli("--as", "lars", "stage", "return", CYCLE, STAGE)
    assert ran.code == 2 and "-m" in ran.stderr


def test_unknown_stage_input_and_unit_are_exit_2(cli):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    assert cli("--as", "oskar", "stage", "open", CYCLE, "nope").code == 2
    assert cli("--as", "sara", "input", "submit", CYCLE, STAGE, "nope", "--unit", "bou").code == 2
    ran = cli("--as", "sara", "input", "submit", CYCLE, STAGE, INPUT, "--unit", "nope")
    assert ran.code == 2 and "units: bou, kultur, sbf, soc" in ran.stderr


def test_deadline_set_for_a_stage_and_for_an_input(cli):
    ran = cli("--as", "maria", "deadline", "set", CYCLE, STAGE, "2026-03-20", "-m", "Nytt KS-möte")
    assert ran.code == 0 and "2026-03-13 → 2026-03-20" in ran.stderr
    ran = cli("--as", "maria", "deadline", "set", CYCLE, STAGE, INPUT, "--unit", "soc", "2026-02-20", "-m", "Sjukdom")
    assert ran.code == 0 and "2026-02-13 → 2026-02-20" in ran.stderr
    data = json.loads(cli("--as", "maria", "status", CYCLE, "--format", "json").stdout)
    assert data["stages"][0]["deadline"] == "2026-03-20"
    assert [i["deadline"] for i in data["stages"][0]["inputs"] if i["unit"] == "soc"] == ["2026-02-20"]


@pytest.mark.parametrize(
    "args",
    [
        [STAGE, "2026-13-01", "-m", "x"],  # no such month
        [STAGE, "20260301", "-m", "x"],  # not YYYY-MM-DD
        [STAGE, INPUT, "2026-03-01", "-m", "x"],  # an input needs --unit
        [STAGE, "2026-03-01", "--unit", "soc", "-m", "x"],  # --unit needs an input
        [STAGE, INPUT, "2026-03-01", "extra", "--unit", "soc", "-m", "x"],
        [STAGE, "2026-03-01"],  # a reason is required
    ],
)
def test_deadline_set_usage_errors_are_exit_2(cli, args):
    ran = cli("--as", "maria", "deadline", "set", CYCLE, *args)
    assert ran.code == 2, ran.stderr


def test_deadline_set_names_the_cycle_and_warns_of_a_day_off_but_keeps_it(cli):
    ran = cli("--as", "maria", "deadline", "set", CYCLE, STAGE, "2026-03-21", "-m", "KS på lördag")
    assert ran.code == 0 and ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"stage '{STAGE}' of {CYCLE}: 2026-03-13 → 2026-03-21 (log #3)",
        "warning: 2026-03-21 is a Saturday, not a working day (holidays SE); the definition's own deadlines move "
        "to the working day before, 2026-03-20",
    ]
    data = json.loads(cli("--as", "maria", "status", CYCLE, "--format", "json").stdout)
    assert data["stages"][0]["deadline"] == "2026-03-21"


def test_deadline_set_by_a_non_owner_is_exit_1(cli):
    assert cli("--as", "sara", "deadline", "set", CYCLE, STAGE, "2026-03-20", "-m", "x").code == 1


# --- the log -----------------------------------------------------------------------


def test_log_json_has_the_contract_keys_and_filters(cli):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE, "-m", "Nu kör vi", "--ref", "KS 2026/1")
    submit_all(cli, "bou")
    entries = json.loads(cli("--as", "ulf", "log", "--format", "json").stdout)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert all(set(LOG_KEYS) <= set(e) for e in entries)
    opened = entries[2]
    assert (opened["event"], opened["input"], opened["unit"], opened["comment"]) == ("open", None, None, "Nu kör vi")
    assert opened["at"].endswith("Z") and opened["prev_hash"] == entries[1]["hash"]
    only = json.loads(cli("--as", "ulf", "log", "--unit", "bou", "--format", "json").stdout)
    assert [e["seq"] for e in only] == [4]
    newest = json.loads(cli("--as", "ulf", "log", "--limit", "2", "--format", "json").stdout)
    assert [e["seq"] for e in newest] == [3, 4]
    assert json.loads(cli("--as", "ulf", "log", "--event", "open", "--actor", "oskar", "--format", "json").stdout)
    assert json.loads(cli("--as", "ulf", "log", "--until", "2026-02-01", "--format", "json").stdout) == []
    assert len(json.loads(cli("--as", "ulf", "log", "--since", "2026-02-02", "--format", "json").stdout)) == 4


def test_log_ndjson_is_one_object_a_line(cli):
    lines = cli("--as", "ulf", "log", "--format", "ndjson").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]


def test_log_csv_round_trips_swedish_letters_with_and_without_a_bom(cli):
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE, "-m", "Årets omvärldsanalys: äldreomsorg, förskola")
    text = cli("--as", "ulf", "log", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[: len(LOG_KEYS)] == LOG_KEYS
    assert rows[2]["comment"] == "Årets omvärldsanalys: äldreomsorg, förskola"
    assert rows[2]["input"] == ""
    with_bom = cli("--as", "ulf", "log", "--format", "csv", "--bom").stdout
    assert with_bom.startswith("\ufeff")
    decoded = with_bom.encode("utf-8").decode("utf-8-sig")  # how a script reads a file Excel can open
    assert list(csv.DictReader(io.StringIO(decoded)))[2]["comment"] == rows[2]["comment"]


def test_log_of_an_unknown_cycle_or_event_or_date_is_exit_2(cli):
    assert cli("--as", "ulf", "log", "--cycle", "ange-1999").code == 2
    assert cli("--as", "ulf", "log", "--event", "explode").code == 2
    assert cli("--as", "ulf", "log", "--since", "yesterday").code == 2
    assert cli("--as", "ulf", "log", "--limit", "0").code == 2


def test_log_table_is_aligned(cli):
    table = cli("--as", "ulf", "log").stdout.splitlines()
    assert table[0].startswith("SEQ") and table[1].startswith("1 ") and "org_load" in table[1]
    assert table[1].index("org_load") == table[2].index("cycle_start")


# --- audit -------------------------------------------------------------------------


def test_audit_verify_and_checkpoint(cli, tmp_path):
    ok = cli("--as", "ulf", "audit", "verify")
    assert ok.code == 0 and "entries    2" in ok.stdout
    checkpoint = tmp_path / "kept.json"
    assert cli("--as", "ulf", "audit", "checkpoint", "-o", str(checkpoint)).code == 0
    kept = json.loads(checkpoint.read_text(encoding="utf-8"))
    assert set(kept) == {"entries", "head_hash", "at"} and kept["entries"] == 2
    printed = json.loads(cli("--as", "nils", "audit", "checkpoint").stdout)
    assert printed["head_hash"] == kept["head_hash"]
    cli("--as", "oskar", "stage", "open", CYCLE, STAGE)
    ran = cli("--as", "ulf", "audit", "verify", "--checkpoint", str(checkpoint), "--format", "json")
    verdict = json.loads(ran.stdout)
    assert verdict["ok"] is True and verdict["entries"] == 3
    assert cli("--as", "oskar", "audit", "verify").code == 1  # not an auditor


def test_audit_verify_rejects_a_foreign_checkpoint_file(cli, tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]", encoding="utf-8")
    assert cli("--as", "ulf", "audit", "verify", "--checkpoint", str(junk)).code == 2


@pytest.mark.parametrize(("kept", "said"), [
    ({"entries": 2.7}, "entries must be a whole number of entries, not 2.7"),
    ({"entries": "2"}, "entries must be a whole number of entries, not '2'"),
    ({"entries": True}, "entries must be a whole number of entries, not True"),
    ({"entries": -1}, "entries must be a whole number of entries, not -1"),
    ({"head_hash": "abc"}, "head_hash must be 64 hexadecimal digits, not 'abc'"),
    ({"head_hash": "\ud800" * 64}, "head_hash must be 64 hexadecimal digits, not '\\ud800"),
    ({"at": "\udcff"}, "at must be the moment it was taken, not '\\udcff'"),
])  # fmt: skip
def test_audit_verify_refuses_a_checkpoint_with_a_bad_field_and_says_which(cli, tmp_path, kept, said):
    checkpoint = tmp_path / "kept.json"
    assert cli("--as", "ulf", "audit", "checkpoint", "-o", str(checkpoint)).code == 0
    fields = json.loads(checkpoint.read_text(encoding="utf-8"))
    checkpoint.write_text(json.dumps({**fields, **kept}), encoding="utf-8")  # ASCII JSON, surrogates as \u escapes
    ran = cli("--as", "ulf", "audit", "verify", "--checkpoint", str(checkpoint), "--format", "json")
    assert ran.code == 2 and ran.stdout == ""
    assert ran.stderr.startswith(f"Error: {checkpoint}: the checkpoint's {said}"), ran.stderr


def test_audit_verify_takes_a_checkpoint_hash_in_capitals(cli, tmp_path):
    checkpoint = tmp_path / "kept.json"
    assert cli("--as", "ulf", "audit", "checkpoint", "-o", str(checkpoint)).code == 0
    fields = json.loads(checkpoint.read_text(encoding="utf-8"))
    checkpoint.write_text(json.dumps({**fields, "head_hash": fields["head_hash"].upper()}), encoding="utf-8")
    verdict = json.loads(
        cli("--as", "ulf", "audit", "verify", "--checkpoint", str(checkpoint), "--format", "json").stdout
    )
    assert verdict["ok"] is True and verdict["checkpoint"]["head_hash"] == fields["head_hash"]


def test_workflow_check_reports_a_folder_among_the_files_and_still_checks_the_others(run, tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    ran = run("workflow", "check", str(ANGE), "wheels", "empty.yaml")
    assert ran.code == 2
    assert f"ok: {ANGE} (10 stages" in ran.stderr
    errors = [line for line in ran.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == ["Error: wheels: cannot be read: it is a folder, not a file",
                      "Error: empty.yaml: the file is empty; expected a mapping with the keys id, name, timezone,"
                      " holidays, stages"]  # fmt: skip


def early_after_the_report(tmp_path, deadline: str):
    """The Ånge wheel with a stage `tidig` due `deadline` that waits for the per-meeting KS report."""
    text = ANGE.read_text(encoding="utf-8") + (
        "\n  - key: tidig\n    name: Tidig\n    owner: ks\n    decided_by: ks\n"
        f"    deadline: {deadline}\n    after: [ks-ekonomirapport]\n"
    )
    path = tmp_path / "tidig.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_workflow_check_warns_of_a_stage_due_early_in_y_after_a_per_meeting_stage_and_exits_0(run, tmp_path):
    path = early_after_the_report(tmp_path, "Y-01-02")
    ran = run("workflow", "check", str(path))
    assert ran.code == 0, ran.stderr
    line = len(ANGE.read_text(encoding="utf-8").splitlines()) + 7
    assert ran.stderr.splitlines() == [
        f"ok: {path} (11 stages, 14 inputs)",
        f"warning: {path}: stages[10].after[0]: 'tidig' is due Y-01-02, but waits for 'ks-ekonomirapport', which "
        "comes 7 day(s) before every ks meeting in Y, December's included: a ks meeting after Y-01-09 keeps 'tidig' "
        f"from opening before its deadline; take 'ks-ekonomirapport' out of 'after', or give 'tidig' a deadline in "
        f"Y+1 (line {line})",
    ]


def test_workflow_check_refuses_a_stage_due_in_y_minus_1_after_a_per_meeting_stage(run, tmp_path):
    path = early_after_the_report(tmp_path, "Y-1-12-15")
    ran = run("workflow", "check", str(path))
    assert ran.code == 2
    assert ran.stderr.startswith(f"Error: {path}: stages[10].after[0]: 'tidig' is due Y-1-12-15, but waits for ")
    assert "it can never open in time" in ran.stderr


def test_cycle_start_warns_of_a_stage_due_before_the_last_meeting_stage_it_waits_for(run, url, tmp_path):
    path = early_after_the_report(tmp_path, "Y-01-02")
    ran = run("--db", url, "--as", "nils", "cycle", "start", str(path), "--year", "2028")
    assert ran.code == 0, ran.stderr
    assert ran.stdout == "ange-2028\n"
    definition, year = ran.stderr.splitlines()[:2]  # the rule, as `workflow check` warns of it, then this year's dates
    assert definition.startswith(f"warning: {path}: stages[10].after[0]: 'tidig' is due Y-01-02, but waits for ")
    assert year == (
        "warning: stage 'tidig' is due 2027-12-30 but waits for every instance of 'ks-ekonomirapport', the last "
        "due 2028-02-22 (for the ks meeting on 2028-02-29): it cannot open before its deadline; move its deadline "
        "with `arshjul deadline set`, or take 'ks-ekonomirapport' out of its 'after' for the cycles to come"
    )


def test_cycle_start_shows_the_definitions_own_warnings_as_workflow_check_does_and_starts(run, url, tmp_path):
    text = ANGE.read_text(encoding="utf-8")
    path = tmp_path / "ange.yaml"
    path.write_text(text.replace("  before_days: [28, 7, 1]\n", "  before_days: [28, 7, 7]\n", 1), encoding="utf-8")
    checked = run("workflow", "check", str(path))
    (warning,) = [line for line in checked.stderr.splitlines() if line.startswith("warning: ")]
    assert "before_days[2]: 7 is already before_days[1]" in warning
    ran = run("--db", url, "--as", "nils", "cycle", "start", str(path), "--year", "2028")
    assert ran.code == 0, ran.stderr
    assert ran.stdout == "ange-2028\n"
    assert ran.stderr.splitlines() == [warning, "started ange-2028: 11 stage(s), 56 input(s) (log #3)"]
