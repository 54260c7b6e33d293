"""`org load` with a moved or cancelled KS meeting, through the installed command, on ange-2027."""

from __future__ import annotations

import csv
import io
import json

from tests.conftest import ANGE_ORG


def test_org_load_warns_of_each_stage_whose_meeting_moved_or_went_and_still_loads(run, url, tmp_path):
    text = ANGE_ORG.read_text(encoding="utf-8")
    moved = text.replace("{unit: ks, date: 2027-03-02}", "{unit: ks, date: 2027-03-09}")  # KS moves a meeting
    moved = moved.replace("  - {unit: ks, date: 2027-10-26}\n", "")  # and cancels another
    edited = tmp_path / "org.yaml"
    edited.write_text(moved, encoding="utf-8")
    ran = run("--db", url, "--as", "nils", "org", "load", str(edited))
    assert ran.code == 0, ran.stderr
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"loaded {edited}: 1 meeting(s) added; 2 meeting(s) removed (log #3)",
        "warning: stage 'ks-ekonomirapport@2027-03-02' of ange-2027 was planned for a meeting on 2027-03-02 that "
        "is no longer in the organisation; if it moved to 2027-03-09: arshjul deadline set ange-2027 "
        'ks-ekonomirapport@2027-03-02 2027-03-02 -m "KS sammanträder 9 mars i stället för 2 mars"',
        "warning: stage 'ks-ekonomirapport@2027-10-26' of ange-2027 was planned for a meeting on 2027-10-26 that "
        "is no longer in the organisation, and ks has no new meeting within 31 days of it: if the meeting was "
        "cancelled, move the stage's deadline to the meeting that takes the matter up (arshjul deadline set "
        "ange-2027 ks-ekonomirapport@2027-10-26 DATE -m REASON), or take the stage on to closed as usual",
    ]
    # The suggested command, as the stage's owner, is taken as it stands.
    moved = run("--db", url, "--as", "karin", "deadline", "set", "ange-2027", "ks-ekonomirapport@2027-03-02",
                "2027-03-02", "-m", "KS sammanträder 9 mars i stället för 2 mars")  # fmt: skip
    assert moved.code == 0, moved.stderr
    again = run("--db", url, "--as", "nils", "org", "load", str(edited))
    assert again.stderr == f"{edited}: nothing changed, the database already holds this organisation\n"


def test_status_keeps_showing_a_stage_whose_meeting_the_load_removed(run, url, tmp_path):
    edited = tmp_path / "org.yaml"
    edited.write_text(ANGE_ORG.read_text(encoding="utf-8").replace("  - {unit: ks, date: 2027-10-26}\n", ""),
                      encoding="utf-8")  # fmt: skip
    assert run("--db", url, "--as", "nils", "org", "load", str(edited)).code == 0
    note = "meeting 2027-10-26 no longer in the organisation"

    table = run("--db", url, "--as", "karin", "status", "ange-2027", "--at", "2026-02-02")
    assert table.code == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[3:]}
    assert rows["ks-ekonomirapport@2027-10-26"].endswith(f"  {note}; stage 'internbudget' is pending")
    assert rows["ks-ekonomirapport@2027-11-16"].endswith("  stage 'internbudget' is pending")  # as before
    assert sum(note in line for line in table.stdout.splitlines()) == 1

    data = json.loads(run("--db", url, "--as", "karin", "status", "ange-2027", "--format", "json").stdout)
    by_key = {s["key"]: s for s in data["stages"]}
    assert by_key["ks-ekonomirapport@2027-10-26"]["meeting_gone"] is True
    assert by_key["ks-ekonomirapport@2027-10-26"]["meeting"] == "2027-10-26"  # the existing keys as they were
    assert by_key["ks-ekonomirapport@2027-10-26"]["blocked_by"] == ["stage 'internbudget' is pending"]
    assert [k for k, s in by_key.items() if s["meeting_gone"]] == ["ks-ekonomirapport@2027-10-26"]

    text = run("--db", url, "--as", "karin", "status", "ange-2027", "--format", "csv").stdout
    found = list(csv.DictReader(io.StringIO(text)))
    assert list(found[0])[:10] == ["cycle", "stage", "input", "unit", "name", "state", "deadline", "days_left",
                                   "blocked_by", "next"]  # fmt: skip
    stranded = [(r["stage"], r["input"]) for r in found if r["meeting_gone"] == "true"]
    assert stranded == [("ks-ekonomirapport@2027-10-26", "")]
    assert {r["meeting_gone"] for r in found if r["input"]} == {""}  # inputs have no meeting of their own
