"""Organisation files: the shipped example loads and fits the wheel; every mistake is named by path."""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from pathlib import Path

import holidays
import pytest

from cycle.errors import InvalidDefinition
from tests.unit import yamlfiles
from workflows.definition import RoleDef
from workflows.loader import load_organisation, load_workflow, parse_organisation

ROOT = Path(__file__).resolve().parents[2]
ANGE = ROOT / "workflows" / "ange.yaml"
ANGE_ORG = ROOT / "workflows" / "examples" / "ange-org.yaml"
OPERATIONS = ("bou", "soc", "sbf", "kultur")

BASE = {
    "units": [
        {"key": "kf", "name": "Kommunfullmäktige"},
        {"key": "ks", "name": "Kommunstyrelsen"},
        {"key": "bou", "name": "Barn och utbildning", "parent": "ks"},
    ],
    "people": [
        {
            "username": "anna",
            "name": "Anna Andersson",
            "email": "anna.andersson@example.se",
            "roles": [{"role": "owner", "unit": "ks"}, {"role": "auditor"}],
        },
        {"username": "bo.k", "name": "Bo Karlsson", "email": "bo@example.se", "locale": "en"},
    ],
    "meetings": [{"unit": "ks", "date": dt.date(2027, 2, 10)}, {"unit": "kf", "date": "2027-02-22"}],
}


def write(tmp_path: Path, content: str | dict, name: str = "org.yaml") -> Path:
    return yamlfiles.write(tmp_path, content, name)


def problems(path: Path) -> list[str]:
    return yamlfiles.problems_of(load_organisation, path)


def changed(edit) -> dict:
    data = copy.deepcopy(BASE)
    edit(data)
    return data


def unit(i: int, **changes):
    return lambda data: data["units"][i].update(changes)


def person(i: int, **changes):
    return lambda data: data["people"][i].update(changes)


def role(**grant):
    return lambda data: data["people"][0]["roles"].append(grant)


def meeting(**fields):
    return lambda data: data["meetings"].append(fields)


# --- the shipped example ---------------------------------------------------------------


def test_shipped_example_loads():
    org = load_organisation(ANGE_ORG)
    assert org.source == str(ANGE_ORG)
    assert [u.key for u in org.units] == ["kf", "ks", *OPERATIONS]
    assert all(u.parent == "ks" for u in org.units if u.key in OPERATIONS)
    usernames = [p.username for p in org.people]
    assert len(usernames) == len(set(usernames))
    assert [p.username for p in org.people if p.locale == "en"] == ["james"]


def holders(org, role_name: str, unit_key: str | None = None) -> set[str]:
    grant = RoleDef(role_name, unit_key)
    return {p.username for p in org.people if grant in p.roles}


def test_shipped_example_can_run_the_wheel_with_four_eyes():
    org = load_organisation(ANGE_ORG)
    wheel = load_workflow(ANGE)
    units = {u.key for u in org.units}
    for stage in wheel.stages:
        assert {stage.owner, stage.decided_by} <= units
        assert holders(org, "owner", stage.owner), stage.key
        assert len(holders(org, "approver", stage.decided_by)) >= 2, stage.key
        for input_def in stage.inputs:
            assert set(input_def.from_units) <= units
    for key in OPERATIONS:
        contributors, approvers = holders(org, "contributor", key), holders(org, "approver", key)
        assert contributors and approvers and not contributors & approvers, key
    assert holders(org, "auditor") and holders(org, "admin")


def test_shipped_meetings_are_on_working_days_and_never_in_july():
    org = load_organisation(ANGE_ORG)
    swedish = holidays.country_holidays("SE", years=[2027, 2028])
    for m in org.meetings:
        assert m.date.weekday() < 5 and m.date not in swedish and m.date.month != 7, m
    in_2027 = Counter(m.unit for m in org.meetings if m.date.year == 2027)
    assert 9 <= in_2027["ks"] <= 10 and 7 <= in_2027["kf"] <= 8
    kf_months = {m.date.month for m in org.meetings if m.unit == "kf" and m.date.year == 2027}
    assert {6, 10, 11} <= kf_months  # budget, interim report, tax rate


def test_defaults_and_quoted_dates(tmp_path):
    org = load_organisation(write(tmp_path, BASE))
    anna, bo = org.people
    assert (anna.locale, bo.locale, bo.roles) == ("sv", "en", ())
    assert anna.roles == (RoleDef("owner", "ks"), RoleDef("auditor", None))
    assert [m.date for m in org.meetings] == [dt.date(2027, 2, 10), dt.date(2027, 2, 22)]
    minimal = load_organisation(write(tmp_path, {"units": [{"key": "ks", "name": "KS"}]}))
    assert (minimal.people, minimal.meetings) == ((), ())


# --- one mistake at a time ------------------------------------------------------------

BAD = [
    (lambda d: d.pop("units"), "missing required key 'units'"),
    (lambda d: d.update(peple=[]), "unknown key 'peple' (did you mean 'people'?)"),
    (lambda d: d.update(units={"ks": "KS"}), "units: must be a list, not a mapping"),
    (lambda d: d["units"].append("ks"), "units[3]: must be a mapping (key: value), not text"),
    (lambda d: d["units"].append({"key": "ks", "name": "Igen"}), "units[3].key: 'ks' is already the key of units[1]"),
    (unit(2, parent="kss"), "units[2].parent: no unit has the key 'kss' (did you mean 'ks'?)"),
    (unit(2, parent="bou"), "units[2].parent: a unit cannot be its own parent"),
    (unit(2, key="Barn och utbildning"), "units[2].key: 'Barn och utbildning' is not a valid unit key"),
    (unit(2, nmae="x"), "units[2]: unknown key 'nmae' (did you mean 'name'?)"),
    (unit(2, name="Barn\noch utbildning"), "units[2].name: must not contain line breaks or control characters"),
    (person(0, username="Anna"), "people[0].username: 'Anna' is not a valid username"),
    (person(0, username="-anna"), "people[0].username: '-anna' is not a valid username"),
    (person(1, username="anna"), "people[1].username: 'anna' is already the username of people[0]"),
    (person(1, email="Anna.Andersson@Example.se"), "people[1].email: 'anna.andersson@example.se' is already"),
    (person(0, email="anna"), "people[0].email: 'anna' is not an email address (expected local@domain)"),
    (person(0, email="anna@"), "people[0].email: 'anna@' is not an email address"),
    (person(0, email="@example.se"), "people[0].email: '@example.se' is not an email address"),
    (person(0, email="<a@example.se>"), "people[0].email: '<a@example.se>' is not an email address"),
    (person(0, email="a@example.se (Anna)"), "people[0].email: 'a@example.se (Anna)' is not an email address"),
    (person(0, email="a@b@example.se"), "people[0].email: 'a@b@example.se' is not an email address"),
    (person(0, email=["a@example.se"]), "people[0].email: must be text, not a list"),
    (person(0, locale="de"), "people[0].locale: 'de' is not a locale; use one of sv, en"),
    (person(0, locale="SV"), "people[0].locale: 'SV' is not a locale; use one of sv, en (did you mean 'sv'?)"),
    (lambda d: d["people"][1].pop("email"), "people[1]: missing required key 'email'"),
    (person(1, roles={"role": "admin"}), "people[1].roles: must be a list, not a mapping"),
    (role(role="ownr", unit="ks"), "people[0].roles[2].role: 'ownr' is not a role; use one of owner, contributor"),
    (role(role="approver"), "people[0].roles[2]: the role 'approver' needs a 'unit' it applies to"),
    (role(role="admin", unit="ks"), "people[0].roles[2].unit: the role 'admin' applies everywhere; remove 'unit'"),
    (role(role="contributor", unit="sbf"), "people[0].roles[2].unit: no unit in this file has the key 'sbf'"),
    (role(role="owner", unit="ks"), "people[0].roles[2]: the role 'owner' is granted twice"),
    (role(role="owner", unit="ks", scope="x"), "people[0].roles[2]: unknown key 'scope'"),
    (meeting(unit="ks", date="2027-02-10"), "meetings[2]: ks already meets on 2027-02-10 (meetings[0])"),
    (meeting(unit="kx", date="2027-03-01"), "meetings[2].unit: no unit in this file has the key 'kx'"),
    (meeting(unit="ks", date="2027-02-30"), "meetings[2].date: '2027-02-30' is not a date"),
    (meeting(unit="ks", date="10 mars"), "meetings[2].date: must be a date (YYYY-MM-DD), not '10 mars'"),
    (meeting(unit="ks", date="20270310"), "meetings[2].date: must be a date (YYYY-MM-DD), not '20270310'"),
    (meeting(unit="ks", date=dt.datetime(2027, 3, 1, 10)), "meetings[2].date: must be a date (YYYY-MM-DD), not a date"),
    (meeting(unit="ks"), "meetings[2]: missing required key 'date'"),
]


@pytest.mark.parametrize(("edit", "expected"), BAD)
def test_each_mistake_is_reported_with_its_path(tmp_path, edit, expected):
    found = problems(write(tmp_path, changed(edit)))
    assert any(expected in line for line in found), found


@pytest.mark.parametrize("breaker", ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x00", "\u202e"])
def test_line_breaks_and_controls_in_names_and_emails_are_refused(breaker):
    data = changed(person(0, name=f"Anna{breaker}Bcc: mallory@example.se", email=f"anna@example.se{breaker}x"))
    with pytest.raises(InvalidDefinition) as caught:
        parse_organisation(data, "org")
    assert caught.value.problems == [
        "people[0].name: must not contain line breaks or control characters",
        "people[0].email: must not contain line breaks or control characters",
    ]


def test_a_lone_surrogate_in_a_name_is_refused_with_its_path(tmp_path):
    # YAML may write one as an escape; stored or mailed, it would fail half way (UnicodeEncodeError).
    text = yamlfiles.write(tmp_path, BASE, "base.yaml").read_text(encoding="utf-8")
    text = text.replace("name: Kommunstyrelsen", 'name: "Kommun\\ud800styrelsen"')
    text = text.replace("name: Bo Karlsson", 'name: "Bo \\udcff Karlsson"')
    text = text.replace("email: bo@example.se", 'email: "bo\\udcff@example.se"')
    found = problems(write(tmp_path, text))
    assert [line.split(": ", 1)[1] for line in found] == [
        "units[1].name: cannot be encoded as UTF-8: character 7 is a lone surrogate, '\\ud800' (line 5)",
        "people[1].name: cannot be encoded as UTF-8: character 4 is a lone surrogate, '\\udcff' (line 18)",
        "people[1].email: cannot be encoded as UTF-8: character 3 is a lone surrogate, '\\udcff' (line 19)",
    ]


def test_unit_parents_may_not_go_in_a_circle(tmp_path):
    data = changed(unit(1, parent="bou"))
    data["units"][0]["parent"] = "kf2"
    data["units"].append({"key": "kf2", "name": "KF 2", "parent": "kf"})
    found = problems(write(tmp_path, data))
    assert any("units[1].parent: the units are each other's parents: ks → bou → ks" in p for p in found)
    assert any("units[0].parent: the units are each other's parents: kf → kf2 → kf" in p for p in found)


def test_every_problem_is_reported_in_one_run(tmp_path):
    text = """\
units:
  - {key: ks, name: Kommunstyrelsen}
  - {key: ks, name: Igen}
people:
  - username: Anna
    name: "Anna\\nAndersson"
    email: anna(at)example.se
    roles: [{role: owner}, {role: auditor, unit: ks}]
meetings:
  - {unit: kf, date: 2027-02-30}
"""
    found = problems(write(tmp_path, text))
    expected = [
        "units[1].key: 'ks' is already the key of units[0] (line 3)",
        "people[0].roles[0]: the role 'owner' needs a 'unit' it applies to (line 8)",
        "people[0].roles[1].unit: the role 'auditor' applies everywhere; remove 'unit' (line 8)",
        "people[0].username: 'Anna' is not a valid username",
        "people[0].name: must not contain line breaks or control characters (line 6)",
        "people[0].email: 'anna(at)example.se' is not an email address (expected local@domain) (line 7)",
        "meetings[0].unit: no unit in this file has the key 'kf' (line 10)",
        "meetings[0].date: '2027-02-30' is not a date: day is out of range for month (line 10)",
    ]
    assert len(found) == len(expected), found
    for line, text_part in zip(found, expected, strict=True):
        assert text_part in line


def test_duplicate_yaml_keys_are_reported(tmp_path):
    text = """\
units:
  - {key: ks, name: Kommunstyrelsen}
people:
  - username: anna
    name: Anna
    email: anna@example.se
    email: other@example.se
units: []
"""
    found = problems(write(tmp_path, text))
    assert "people[0]: duplicate key 'email' (line 7; first given on line 6)" in found[0]
    assert "duplicate key 'units' (line 8; first given on line 1)" in found[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("units: !!python/object/apply:os.system ['echo hi']\n", "the tag !!python/object/apply:os.system"),
        ("- {key: ks, name: KS}\n", "the top level must be a mapping with the keys units, people, meetings"),
        ("units:\n  - {key: ks, name: KS}\n  key: x\n", "line 3, column 3"),
    ],
)
def test_hostile_and_broken_files(tmp_path, text, expected):
    found = problems(write(tmp_path, text))
    assert len(found) == 1
    assert expected in found[0]


def test_billion_laughs_organisation_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 10) + "]")
    lines.append("units: *a9")
    found = problems(write(tmp_path, "\n".join(lines) + "\n"))
    assert "too many aliases" in found[0]
