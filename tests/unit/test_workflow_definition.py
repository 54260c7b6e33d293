"""Workflow definitions: the shipped Ånge wheel loads, and every mistake is named by file and key path."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cycle.errors import InvalidDefinition
from tests.unit import yamlfiles
from workflows.definition import DeadlineRule, ReminderPolicy
from workflows.loader import load_workflow, parse_workflow

ROOT = Path(__file__).resolve().parents[2]
ANGE = ROOT / "workflows" / "ange.yaml"
OPERATIONS = {"bou", "soc", "sbf", "kultur"}

BASE = {
    "id": "test",
    "name": "Testhjul",
    "timezone": "Europe/Stockholm",
    "holidays": "SE",
    "stages": [
        {
            "key": "a",
            "name": "A",
            "owner": "ks",
            "decided_by": "ks",
            "deadline": "Y-1-04-30",
            "inputs": [{"key": "in", "name": "In", "from": ["bou", "soc"], "approved_by": "ks"}],
        },
        {"key": "b", "name": "B", "owner": "ks", "decided_by": "kf", "deadline": "Y-1-06-15", "after": ["a"]},
    ],
}


def write(tmp_path: Path, content: str | dict, name: str = "wheel.yaml") -> Path:
    return yamlfiles.write(tmp_path, content, name)


def problems(path: Path) -> list[str]:
    return yamlfiles.problems_of(load_workflow, path)


def changed(edit) -> dict:
    data = copy.deepcopy(BASE)
    edit(data)
    return data


def stage0(**changes):
    return lambda data: data["stages"][0].update(changes)


def input0(**changes):
    return lambda data: data["stages"][0]["inputs"][0].update(changes)


def top(**changes):
    return lambda data: data.update(changes)


def drop(*keys):
    def edit(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


# --- the shipped wheel -------------------------------------------------------------


def test_shipped_ange_wheel_loads():
    wheel = load_workflow(ANGE)
    assert (wheel.id, wheel.timezone, wheel.holidays) == ("ange", "Europe/Stockholm", "SE")
    assert wheel.source == str(ANGE)
    assert wheel.reminders == ReminderPolicy(before_days=(28, 7, 1), on_deadline=True, overdue_every_days=3,
                                             escalate_after_days=3)  # fmt: skip
    assert [s.key for s in wheel.stages] == [
        "omvarldsanalys",
        "budgetdialog",
        "ks-mal-och-budget",
        "kf-mal-och-budget",
        "andringsbudget",
        "internbudget",
        "ks-ekonomirapport",
        "tertialrapport",
        "delarsrapport",
        "arsredovisning",
    ]


def test_ange_budget_follows_the_legal_order():
    wheel = load_workflow(ANGE)
    assert wheel.stage("kf-mal-och-budget").after == ("ks-mal-och-budget",)
    assert wheel.stage("kf-mal-och-budget").decided_by == "kf"
    # KS's proposal by 31 Oct and KF's budget and tax rate by 30 Nov of Y-1 (domain.md).
    assert wheel.stage("ks-mal-och-budget").deadline.date_in(2027) <= dt.date(2026, 10, 31)
    assert wheel.stage("kf-mal-och-budget").deadline.date_in(2027) <= dt.date(2026, 11, 30)
    assert wheel.stage("andringsbudget").deadline.date_in(2027) <= dt.date(2026, 11, 30)
    # The interim report per 31 August reaches KF within two months; discharge by 30 June Y+1.
    assert wheel.stage("delarsrapport").deadline.date_in(2027) <= dt.date(2027, 10, 31)
    assert wheel.stage("arsredovisning").deadline.date_in(2027) <= dt.date(2028, 6, 30)


def test_ange_economic_report_is_per_ks_meeting_with_short_lead_time():
    stage = load_workflow(ANGE).stage("ks-ekonomirapport")
    assert (stage.per_meeting, stage.days_before_meeting, stage.deadline) == ("ks", 7, None)
    assert stage.reminders.before_days == (7, 1)
    assert stage.reminders.overdue_every_days == 3  # the rest comes from the top level


@pytest.mark.parametrize("key", ["tertialrapport", "delarsrapport", "arsredovisning"])
def test_ange_follow_ups_collect_economy_quality_and_goals_from_every_operation(key):
    stage = load_workflow(ANGE).stage(key)
    assert stage.decided_by == "kf"
    assert {i.key for i in stage.inputs} == {"ekonomi", "kvalitetsfaktorer", "mal"}
    for input_def in stage.inputs:
        assert set(input_def.from_units) == OPERATIONS
        assert input_def.approved_by == "ks"
        assert input_def.deadline.date_in(2027) <= stage.deadline.date_in(2027) - dt.timedelta(weeks=2)


def test_a_valid_file_gets_defaults_and_keeps_descriptions(tmp_path):
    data = changed(stage0(description="Rad ett.\nRad två."))
    wheel = load_workflow(write(tmp_path, data))
    first, second = wheel.stages
    assert first.description == "Rad ett.\nRad två."
    assert (first.after, first.per_meeting, first.days_before_meeting) == ((), None, 0)
    assert first.deadline == DeadlineRule(-1, 4, 30)
    (input_def,) = first.inputs
    assert (input_def.from_units, input_def.deadline, input_def.required) == (("bou", "soc"), None, True)
    assert second.after == ("a",)
    assert wheel.reminders == ReminderPolicy()


# --- one mistake at a time: named by path, in words ----------------------------------

BAD = [
    (stage0(dedline="Y-04-30"), "stages[0]: unknown key 'dedline' (did you mean 'deadline'?)"),
    (drop("stages", 0, "owner"), "stages[0]: missing required key 'owner'"),
    (drop("timezone"), "missing required key 'timezone'"),
    (top(nmae="x"), "unknown key 'nmae' (did you mean 'name'?)"),
    (stage0(name=["A"]), "stages[0].name: must be text, not a list"),
    (stage0(name=""), "stages[0].name: must not be empty"),
    (top(stages={"a": 1}), "stages: must be a list, not a mapping"),
    (top(stages=[]), "stages: must list at least one stage"),
    (top(stages=["a"]), "stages[0]: must be a mapping (key: value), not text"),
    (stage0(deadline="Y-13-01"), "stages[0].deadline: month 13 is not a month (expected Y-MM-DD, Y-1-MM-DD or Y+1-"),
    (stage0(deadline="Y-02-30"), "stages[0].deadline: February has no day 30"),
    (stage0(deadline="Y-04-31"), "stages[0].deadline: April has no day 31"),
    (stage0(deadline="Y-1-02-29"), "stages[0].deadline: Y-1-02-29 does not exist in every year"),
    (stage0(deadline="tomorrow"), "stages[0].deadline: 'tomorrow' is not a deadline rule"),
    (stage0(deadline=dt.date(2027, 4, 30)), "stages[0].deadline: must be a rule like Y-04-30, not the fixed date"),
    (stage0(deadline=20270430), "stages[0].deadline: must be a rule like Y-1-04-30, not a number"),
    (stage0(per_meeting="ks"), "stages[0]: give either 'deadline' or 'per_meeting', not both"),
    (drop("stages", 0, "deadline"), "stages[0]: needs a 'deadline' (e.g. Y-1-04-30) or 'per_meeting'"),
    (stage0(days_before_meeting=3), "stages[0].days_before_meeting: only applies to a stage with 'per_meeting'"),
    (input0(**{"from": []}), "stages[0].inputs[0].from: must list at least one unit"),
    (input0(**{"from": "bou"}), "stages[0].inputs[0].from: must be a list, not text"),
    (input0(**{"from": ["bou", "bou"]}), "stages[0].inputs[0].from[1]: 'bou' is listed twice"),
    (input0(**{"from": ["Bou"]}), "stages[0].inputs[0].from[0]: 'Bou' is not a valid unit key"),
    (input0(approved_by="k s"), "stages[0].inputs[0].approved_by: 'k s' is not a valid unit key"),
    (input0(required="yes"), "stages[0].inputs[0].required: must be true or false, not 'yes'"),
    (input0(deadline="Y-05-01"), "stages[0].inputs[0].deadline: Y-05-01 is after the stage's deadline Y-1-04-30"),
    (input0(key="In"), "stages[0].inputs[0].key: 'In' is not a valid input key"),
    (top(id="Ånge"), "id: 'Ånge' is not a valid workflow id"),
    (top(id="ange-"), "id: 'ange-' is not a valid workflow id"),
    (stage0(key="KS_budget"), "stages[0].key: 'KS_budget' is not a valid stage key"),
    (stage0(owner="ks\n"), "stages[0].owner: 'ks\\n' is not a valid unit key"),
    (stage0(name="A\nB"), "stages[0].name: must not contain line breaks or control characters"),
    (top(timezone="Europe/Stokholm"), "timezone: 'Europe/Stokholm' is not a known IANA time zone"),
    (top(timezone="../etc/passwd"), "timezone: '../etc/passwd' is not a known IANA time zone"),
    (top(timezone="localtime"), "timezone: 'localtime' is not a known IANA time zone"),
    (top(timezone=1), "timezone: must be a time zone name such as 'Europe/Stockholm', not a number"),
    (top(holidays="XX"), "holidays: 'XX' is not a country code the holidays package supports"),
    (top(holidays="se"), "holidays: 'se' is not a country code the holidays package supports (did you mean 'SE'?)"),
    (top(holidays=False), "holidays: was read as false: write a country code in quotes, e.g. 'NO'"),
    (top(reminders={"before_days": [7, -3]}), "reminders.before_days[1]: must be a whole number of days ≥ 0, not -3"),
    (top(reminders={"before_days": [True]}), "reminders.before_days[0]: must be a whole number of days ≥ 0, not true"),
    (top(reminders={"before_days": 7}), "reminders.before_days: must be a list, not a number"),
    (top(reminders={"overdue_every_days": 0}), "reminders.overdue_every_days: must be a whole number of days ≥ 1"),
    (top(reminders={"escalate_after_days": -1}), "reminders.escalate_after_days: must be a whole number of days ≥ 0"),
    (top(reminders={"on_deadline": "yes"}), "reminders.on_deadline: must be true or false, not 'yes'"),
    (top(reminders={"before_days": [1000]}), "reminders.before_days[0]: must be at most 366 days, not 1000"),
    (top(reminders=None), "reminders: must be a mapping (key: value), not empty"),
    (
        stage0(reminders={"befor_days": [1]}),
        "stages[0].reminders: unknown key 'befor_days' (did you mean 'before_days'?)",
    ),
    (input0(reminders={"on_deadline": 1}), "stages[0].inputs[0].reminders.on_deadline: must be true or false, not 1"),
]


@pytest.mark.parametrize(("edit", "expected"), BAD)
def test_each_mistake_is_reported_with_its_path(tmp_path, edit, expected):
    found = problems(write(tmp_path, changed(edit)))
    assert any(expected in line for line in found), found


def test_per_meeting_stage_needs_a_non_negative_day_count_and_no_input_deadlines(tmp_path):
    meeting_stage = {"key": "m", "name": "M", "owner": "ks", "decided_by": "ks", "per_meeting": "ks",
                     "days_before_meeting": -2,
                     "inputs": [{"key": "x", "name": "X", "from": ["bou"], "approved_by": "ks",
                                 "deadline": "Y-03-01"}]}  # fmt: skip
    found = problems(write(tmp_path, changed(lambda d: d["stages"].append(meeting_stage))))
    assert any("stages[2].days_before_meeting: must be a whole number of days ≥ 0, not -2" in p for p in found)
    assert any("stages[2].inputs[0].deadline: the inputs of a per-meeting stage share its deadline" in p for p in found)


# --- order between stages ----------------------------------------------------------------


def test_after_unknown_self_and_repeated(tmp_path):
    found = problems(write(tmp_path, changed(lambda d: d["stages"][1].update(after=["a", "b", "c", "a"]))))
    assert any("stages[1].after[1]: a stage cannot come after itself" in p for p in found)
    assert any("stages[1].after[2]: no stage has the key 'c'" in p for p in found)
    assert any("stages[1].after[3]: 'a' is listed twice" in p for p in found)


def test_after_suggests_the_close_key(tmp_path):
    found = problems(write(tmp_path, changed(lambda d: d["stages"][1].update(key="budget", after=["budgte"]))))
    assert any("no stage has the key 'budgte'" in p for p in found)
    data = changed(lambda d: d["stages"][1].update(after=["aa"]))
    data["stages"][0]["key"] = "aaa"
    found = problems(write(tmp_path, data))
    assert any("stages[1].after[0]: no stage has the key 'aa' (did you mean 'aaa'?)" in p for p in found)


def test_after_cycles_are_reported_with_their_path(tmp_path):
    data = changed(stage0(after=["c"]))
    data["stages"].append({"key": "c", "name": "C", "owner": "ks", "decided_by": "ks", "deadline": "Y-1-04-30",
                           "after": ["b"]})  # fmt: skip
    data["stages"][1]["deadline"] = "Y-1-04-30"
    found = problems(write(tmp_path, data))
    assert any("stages[0].after: the stages wait for each other in a circle: a → c → b → a" in p for p in found)


def test_two_stage_cycle(tmp_path):
    data = changed(stage0(after=["b"], deadline="Y-1-06-15"))
    found = problems(write(tmp_path, data))
    assert any("the stages wait for each other in a circle: a → b → a" in p for p in found)


def test_a_stage_cannot_wait_for_one_due_after_it(tmp_path):
    found = problems(write(tmp_path, changed(lambda d: d["stages"][1].update(deadline="Y-1-03-01"))))
    assert any("stages[1].after[0]: 'a' is due Y-1-04-30, later than this stage's own deadline Y-1-03-01" in p
               for p in found)  # fmt: skip


REPORT = {"key": "ks-ekonomirapport", "name": "Ekonomisk rapport", "owner": "ks", "decided_by": "ks",
          "per_meeting": "ks", "days_before_meeting": 7}  # fmt: skip


def after_the_report(deadline: str) -> dict:
    early = {"key": "tidig", "name": "Tidig", "owner": "ks", "decided_by": "ks", "deadline": deadline,
             "after": ["ks-ekonomirapport"]}  # fmt: skip
    return changed(lambda d: d["stages"].extend([REPORT, early]))


def test_a_stage_due_in_y_after_a_per_meeting_stage_loads_with_a_warning_naming_path_and_line(tmp_path):
    wheel = load_workflow(write(tmp_path, after_the_report("Y-01-02")))
    assert len(wheel.warnings) == 1
    warning = wheel.warnings[0]
    assert warning.startswith("stages[3].after[0]: 'tidig' is due Y-01-02, but waits for 'ks-ekonomirapport', ")
    assert "every ks meeting in Y, December's included" in warning
    assert "a ks meeting after Y-01-09 keeps 'tidig' from opening before its deadline" in warning
    assert warning.endswith("(line 37)")


def test_a_stage_due_in_y_minus_1_after_a_per_meeting_stage_is_refused(tmp_path):
    found = problems(write(tmp_path, after_the_report("Y-1-12-01")))
    assert len(found) == 1, found
    assert (
        "stages[3].after[0]: 'tidig' is due Y-1-12-01, but waits for 'ks-ekonomirapport', which comes 7 day(s) "
        "before every ks meeting in Y, all after that deadline: it can never open in time" in found[0]
    )
    assert found[0].endswith("(line 37)")


@pytest.mark.parametrize("deadline", ["Y+1-01-15", "Y-12-31"])
def test_a_stage_due_after_every_meeting_of_y_may_wait_for_a_per_meeting_stage(tmp_path, deadline):
    assert load_workflow(write(tmp_path, after_the_report(deadline))).warnings == ()


def test_the_shipped_wheel_has_no_warnings():
    assert load_workflow(ANGE).warnings == ()


def test_duplicate_stage_and_input_keys(tmp_path):
    data = changed(lambda d: d["stages"][1].update(key="a"))
    data["stages"][0]["inputs"].append({"key": "in", "name": "Again", "from": ["sbf"], "approved_by": "ks"})
    found = problems(write(tmp_path, data))
    assert any("stages[1].key: 'a' is already the key of stages[0]" in p for p in found)
    assert any("stages[0].inputs[1].key: 'in' is already the key of inputs[0]" in p for p in found)


# --- all at once, with line numbers --------------------------------------------------


def test_every_problem_is_reported_in_one_run(tmp_path):
    text = """\
id: Test Wheel
name: Test
timezone: Mars/Olympus
holidays: XX
reminders:
  before_days: [7, -3]
stages:
  - key: a
    name: A
    owner: ks
    decided_by: ks
    deadline: Y-02-30
    inputs:
      - {key: in, name: In, from: [], approved_by: ks}
"""
    found = problems(write(tmp_path, text))
    assert len(found) == 6, found
    path = tmp_path / "wheel.yaml"
    assert f"{path}: id: 'Test Wheel' is not a valid workflow id" in found[0]
    assert found[0].endswith("(line 1)")
    assert "timezone: 'Mars/Olympus' is not a known IANA time zone" in found[1]
    assert "holidays: 'XX'" in found[2]
    assert "reminders.before_days[1]: must be a whole number of days ≥ 0, not -3 (line 6)" in found[3]
    assert "stages[0].deadline: February has no day 30 (expected Y-MM-DD, Y-1-MM-DD or Y+1-MM-DD) (line 12)" in found[4]
    assert "stages[0].inputs[0].from: must list at least one unit (line 14)" in found[5]


def test_in_memory_data_is_checked_the_same_without_line_numbers():
    data = changed(stage0(deadline="Y-13-01", owner="KS"))
    with pytest.raises(InvalidDefinition) as caught:
        parse_workflow(data, "inline")
    assert caught.value.problems == [
        "stages[0].owner: 'KS' is not a valid unit key: use lowercase letters a-z, digits and single hyphens"
        " (no å, ä, ö or spaces)",
        "stages[0].deadline: month 13 is not a month (expected Y-MM-DD, Y-1-MM-DD or Y+1-MM-DD)",
    ]
    assert caught.value.lines()[0].startswith("inline: ")


def test_a_lone_surrogate_in_a_name_or_description_is_refused_with_its_path():
    data = changed(stage0(name="Omvärld\ud800", description="Se \udcff bilaga"))
    with pytest.raises(InvalidDefinition) as caught:
        parse_workflow(data, "inline")
    assert caught.value.problems == [
        "stages[0].name: cannot be encoded as UTF-8: character 8 is a lone surrogate, '\\ud800'",
        "stages[0].description: cannot be encoded as UTF-8: character 4 is a lone surrogate, '\\udcff'",
    ]


def test_duplicate_keys_are_reported_not_overwritten(tmp_path):
    text = """\
id: test
name: Test
timezone: Europe/Stockholm
holidays: SE
stages:
  - key: a
    name: A
    owner: ks
    decided_by: ks
    deadline: Y-04-30
    deadline: Y-05-31
    owner: kf
name: Again
"""
    found = problems(write(tmp_path, text))
    assert "stages[0]: duplicate key 'deadline' (line 11; first given on line 10)" in found[0]
    assert "stages[0]: duplicate key 'owner' (line 12; first given on line 8)" in found[1]
    assert "duplicate key 'name' (line 13; first given on line 2)" in found[2]
    assert len(found) == 3


# --- reminder policies merge top → stage → input ------------------------------------


def test_reminder_overrides_merge(tmp_path):
    data = changed(top(reminders={"before_days": [1, 28, 7, 7], "overdue_every_days": 5, "escalate_after_days": 2}))
    data["stages"][0]["reminders"] = {"before_days": [7, 1], "on_deadline": False}
    data["stages"][0]["inputs"][0]["reminders"] = {"overdue_every_days": None}
    wheel = load_workflow(write(tmp_path, data))
    assert wheel.reminders == ReminderPolicy((28, 7, 1), True, 5, 2)
    first, second = wheel.stages
    assert first.reminders == ReminderPolicy((7, 1), False, 5, 2)
    assert first.inputs[0].reminders == ReminderPolicy((7, 1), False, None, 2)
    assert second.reminders == wheel.reminders


def test_empty_before_days_means_no_advance_reminders(tmp_path):
    wheel = load_workflow(write(tmp_path, changed(stage0(reminders={"before_days": []}))))
    assert wheel.stages[0].reminders.before_days == ()


# --- hostile and broken files ---------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused(tmp_path):
    # Would expand to 10**10 strings; the alias budget stops it while composing.
    found = problems(write(tmp_path, billion_laughs()))
    assert "too many aliases" in found[0]
    assert "line " in found[0]


def test_many_aliases_are_refused(tmp_path):
    wide = "x: &x 1\ny: [" + ",".join(["*x"] * 500) + "]\n"
    assert "too many aliases" in problems(write(tmp_path, wide))[0]


def test_a_few_aliases_are_fine(tmp_path):
    text = """\
id: test
name: Test
timezone: Europe/Stockholm
holidays: SE
reminders: &short {before_days: [7, 1]}
stages:
  - key: a
    name: A
    owner: ks
    decided_by: ks
    deadline: Y-04-30
    reminders: *short
    inputs:
      - {key: x, name: X, from: &ops [bou, soc], approved_by: ks}
      - {key: y, name: Y, from: *ops, approved_by: ks, reminders: *short}
"""
    wheel = load_workflow(write(tmp_path, text))
    assert wheel.stages[0].inputs[1].from_units == ("bou", "soc")
    assert wheel.stages[0].inputs[1].reminders.before_days == (7, 1)


def test_a_recursive_alias_is_refused(tmp_path):
    assert "the alias *a refers to itself" in problems(write(tmp_path, "a: &a [*a]\n"))[0]


def test_deep_nesting_is_refused(tmp_path):
    assert "nested more than 50 levels deep" in problems(write(tmp_path, "a: " + "[" * 500 + "]" * 500 + "\n"))[0]


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system", "!custom 1"])
def test_python_and_unknown_tags_are_refused(tmp_path, tag):
    found = problems(write(tmp_path, f"id: {tag}\n"))
    assert len(found) == 1
    assert "line 1, column 5: the tag !" in found[0]
    assert "is not allowed: only plain data" in found[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- a\n- b\n",
            "the top level must be a mapping with the keys id, name, timezone, holidays, stages, not a list",
        ),
        ("just text\n", "the top level must be a mapping"),
        ("", "the file is empty"),
        ("id: a\n  name: [x\n", "line 2, column 7: mapping values are not allowed here"),
        ("id: [a\n", "line 2, column 1: while parsing a flow sequence"),
        ("a: 1\n---\nb: 2\n", "expected a single document in the stream, but found another document"),
        ("a: *nope\n", "found undefined alias 'nope'"),
        ('id: "a\x07b"\n', "special characters are not allowed"),
        ("id: " + "9" * 5000 + "\n", "cannot be read: Exceeds the limit"),
    ],
)
def test_broken_yaml_becomes_one_clear_problem(tmp_path, text, expected):
    found = problems(write(tmp_path, text))
    assert len(found) == 1
    assert expected in found[0]


def test_non_utf8_files_are_refused(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: Ånge\n".encode("latin-1"))
    assert "(save the file as UTF-8)" in problems(path)[0]


def test_a_latin1_file_is_refused_at_the_line_of_its_first_non_utf8_letter(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: ange\nname: Årshjul för Ånge\n".encode("latin-1"))
    assert problems(path) == [
        f"{path}: line 2, column 7: cannot read the text: invalid continuation byte (save the file as UTF-8)"
    ]


@pytest.mark.parametrize("text", ["id: a\n\tname: b\n", "stages:\n\t- key: a\n"])
def test_a_tab_used_as_indentation_is_named_as_such(tmp_path, text):
    (found,) = problems(write(tmp_path, text))
    assert found.endswith("line 2, column 1: found a tab: YAML indents with spaces, not tabs")


def test_oversized_files_are_refused_before_parsing(tmp_path):
    path = write(tmp_path, "# " + "x" * (2 * 1024 * 1024) + "\n")
    assert "the limit is 2,097,152" in problems(path)[0]


def test_unreadable_files(tmp_path):
    assert "cannot be read: No such file or directory" in problems(tmp_path / "missing.yaml")[0]
    assert "cannot be read" in problems(tmp_path)[0]


# --- deadline rules -------------------------------------------------------------------

_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@st.composite
def rules(draw) -> DeadlineRule:
    month = draw(st.integers(1, 12))
    return DeadlineRule(draw(st.integers(-1, 1)), month, draw(st.integers(1, _DAYS[month - 1])))


@given(rules())
def test_deadline_rules_round_trip(rule):
    assert DeadlineRule.parse(str(rule)) == rule
    assert rule.date_in(2028) and rule.date_in(2027)  # valid in leap and common years


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("Y+2-01-15", "Y+2 is outside the cycle, which runs from Y-1 (the analysis) to Y+1 (the annual report)"),
        ("Y-2-11-30", "Y-2 is outside the cycle, which runs from Y-1"),
        ("Y+10-01-15", "Y+10 is outside the cycle"),
        ("Y-99-12-31", "Y-99 is outside the cycle"),
        ("Y+0-03-15", "'Y+0-03-15': write Y-03-15 for the cycle's own year"),
        ("Y-0-03-15", "'Y-0-03-15': write Y-03-15 for the cycle's own year"),
        ("Y-00-03-15", "'Y-00-03-15': write Y-03-15 for the cycle's own year"),
        ("Y+01-03-15", "'Y+01-03-15': write Y+1-03-15"),
    ],
)
def test_a_deadline_outside_the_cycle_or_a_year_written_oddly_is_named_with_file_path_and_line(
    tmp_path, rule, expected
):
    path = write(tmp_path, changed(lambda d: d["stages"][1].update(deadline=rule)))
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: stages[1].deadline: ")
    assert expected in found[0] and found[0].endswith("(line 22)")


@pytest.mark.parametrize("text", ["Y-1-04-30 ", "y-04-30", "Y-4-30", "Y+100-01-01", "Y--1-01-01", "Y-1-04-30\n"])
def test_malformed_deadline_rules(text):
    with pytest.raises(ValueError, match="is not a deadline rule"):
        DeadlineRule.parse(text)


def test_a_lead_time_given_twice_loads_with_a_warning_naming_path_and_line(tmp_path):
    text = """\
id: test
name: Testhjul
timezone: Europe/Stockholm
holidays: SE
reminders:
  before_days: [14, 7, 7]
stages:
  - key: a
    name: A
    owner: ks
    decided_by: ks
    deadline: Y-1-04-30
    inputs:
      - key: in
        name: In
        from: [bou]
        approved_by: ks
        reminders:
          before_days:
            - 28
            - 28
            - 1
            - 28
"""
    wheel = load_workflow(write(tmp_path, text))
    assert wheel.reminders.before_days == (14, 7) and wheel.stages[0].inputs[0].reminders.before_days == (28, 1)
    assert wheel.warnings == (
        "reminders.before_days[2]: 7 is already before_days[1]; a duplicate is almost always a typo: was another "
        "lead time meant? (one reminder goes out 7 days before the deadline) (line 6)",
        "stages[0].inputs[0].reminders.before_days[1]: 28 is already before_days[0]; a duplicate is almost always a "
        "typo: was another lead time meant? (one reminder goes out 28 days before the deadline) (line 21)",
        "stages[0].inputs[0].reminders.before_days[3]: 28 is already before_days[0]; a duplicate is almost always a "
        "typo: was another lead time meant? (one reminder goes out 28 days before the deadline) (line 23)",
    )
