"""Starting cycles: deadlines on working days, per-meeting stages, overlapping years, the organisation."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from cycle import actions, cycles, organisation
from cycle.errors import MissingRole, NotFound, Refused
from cycle.models import InputItem, LogEntry, Person, RoleGrant, Stage
from tests.wheel import ORG, PEOPLE, WHEEL, started
from workflows.definition import DeadlineRule, MeetingDef, Organisation, PersonDef, RoleDef, StageDef
from workflows.loader import load_workflow


def stages_of(db, cycle_id: str) -> dict[str, Stage]:
    with db.read() as s:
        rows = s.execute(select(Stage).where(Stage.cycle_id == cycle_id)).scalars()
        return {r.key: r for r in rows}


def test_deadlines_fall_on_working_days(db):
    cid = started(db)
    stages = stages_of(db, cid)
    # Y-12-25 in 2027: the 25th is juldagen and the 24th julafton, so the 23rd.
    assert stages["analys"].deadline == dt.date(2027, 12, 23)
    # Y-06-01 in 2027 is a Tuesday: unchanged.
    assert stages["budget"].deadline == dt.date(2027, 6, 1)
    with db.read() as s:
        inputs = s.execute(select(InputItem.unit_key, InputItem.deadline)).all()
    assert sorted(inputs) == [("bou", dt.date(2027, 12, 23)), ("soc", dt.date(2027, 12, 23))]


def test_a_per_meeting_stage_has_one_instance_per_meeting_in_the_year(db):
    cid = started(db)
    meetings = {k: s for k, s in stages_of(db, cid).items() if s.definition_key == "ekrapport"}
    assert sorted(meetings) == ["ekrapport@2027-02-10", "ekrapport@2027-04-14", "ekrapport@2027-09-22"]
    # 7 days before Wednesday 2027-02-10 is Wednesday 2027-02-03.
    assert meetings["ekrapport@2027-02-10"].deadline == dt.date(2027, 2, 3)
    assert meetings["ekrapport@2027-02-10"].meeting_date == dt.date(2027, 2, 10)
    assert actions.open_stage(db, "anna", cid, "ekrapport@2027-04-14").to_state == "open"


def test_cycles_of_different_years_coexist_and_move_independently(db):
    first = started(db, 2027)
    second = cycles.start_cycle(db, "admin", WHEEL, 2028)
    assert second.cycle == "test-2028"
    assert [c["cycle"] for c in cycles.list_cycles(db)] == ["test-2027", "test-2028"]
    actions.open_stage(db, "anna", "test-2028", "analys")
    assert stages_of(db, first)["analys"].state == "pending"
    assert stages_of(db, "test-2028")["analys"].state == "open"
    assert sorted(stages_of(db, "test-2028")) == ["analys", "budget", "ekrapport@2028-02-09"]


def test_a_cycle_starts_once(db):
    started(db)
    with pytest.raises(Refused, match="cycle test-2027 already exists"):
        cycles.start_cycle(db, "admin", WHEEL, 2027)


def test_starting_a_started_cycle_again_says_it_keeps_its_definition_and_whether_the_file_differs(db):
    started(db)
    with pytest.raises(Refused) as same:
        cycles.start_cycle(db, "admin", WHEEL, 2027)
    said = "\n".join(same.value.lines())
    assert said.startswith("cycle test-2027 already exists: admin started it (log #2)")
    assert "test-2027 keeps the definition it was started with" in said
    assert "differs" not in said
    later = dataclasses.replace(WHEEL.stages[1], deadline=DeadlineRule(0, 6, 15))
    changed = dataclasses.replace(WHEEL, stages=(WHEEL.stages[0], later, WHEEL.stages[2]), source="wheel.yaml")
    with pytest.raises(Refused) as other:
        cycles.start_cycle(db, "admin", changed, 2027)
    said = "\n".join(other.value.lines())
    assert "wheel.yaml differs from what test-2027 was started with: it gives other stages, inputs or " in said
    assert "`arshjul deadline set`" in said and "--year 2028" in said
    with db.read() as s:  # nothing written
        assert s.execute(select(LogEntry.event)).scalars().all() == ["org_load", "cycle_start"]
        assert stages_of(db, "test-2027")["budget"].deadline == dt.date(2027, 6, 1)


def test_a_stage_due_before_the_meeting_stage_it_waits_for_starts_with_a_warning(db):
    organisation.load_organisation(db, "admin", ORG)
    early = StageDef("tidig", "Tidig", "ks", "ks", DeadlineRule(0, 3, 1), after=("ekrapport",))
    late = StageDef("sen", "Sen", "ks", "ks", DeadlineRule(1, 1, 15), after=("ekrapport",))
    wheel = dataclasses.replace(WHEEL, stages=(*WHEEL.stages, early, late))
    result = cycles.start_cycle(db, "admin", wheel, 2027)
    assert result.warnings == (
        "stage 'tidig' is due 2027-03-01 but waits for every instance of 'ekrapport', the last due 2027-09-15 "
        "(for the ks meeting on 2027-09-22): it cannot open before its deadline; move its deadline with "
        "`arshjul deadline set`, or take 'ekrapport' out of its 'after' for the cycles to come",
    )
    assert "tidig" in stages_of(db, result.cycle)  # a warning: the cycle started


def test_only_an_admin_starts_a_cycle(db):
    organisation.load_organisation(db, "admin", ORG)
    with pytest.raises(MissingRole, match="anna may not start a cycle of test: it needs the role admin"):
        cycles.start_cycle(db, "anna", WHEEL, 2027)


def test_a_definition_naming_units_the_organisation_lacks_is_refused_whole(db):
    small = Organisation(tuple(u for u in ORG.units if u.key != "soc"), PEOPLE[:3], (), source="small.yaml")
    organisation.load_organisation(db, "admin", small)
    with pytest.raises(NotFound, match="names units the organisation does not have: soc"):
        cycles.start_cycle(db, "admin", WHEEL, 2027)
    with db.read() as s:
        assert s.execute(select(Stage)).first() is None


def test_a_meeting_stage_without_meetings_warns(db):
    organisation.load_organisation(db, "admin", ORG)
    result = cycles.start_cycle(db, "admin", WHEEL, 2029)
    assert result.warnings == ("stage 'ekrapport': unit 'ks' has no meetings in 2029",)


def test_the_first_organisation_load_bootstraps_and_must_name_an_admin(db):
    nobody_admin = Organisation(ORG.units, PEOPLE[1:], ORG.meetings, source="org.yaml")
    with pytest.raises(Refused, match="must give someone the role admin"):
        organisation.load_organisation(db, "whoever", nobody_admin)
    loaded = organisation.load_organisation(db, "whoever", ORG)
    assert loaded.bootstrap and loaded.people == organisation.Count(added=len(PEOPLE))
    with pytest.raises(MissingRole, match="anna may not load an organisation"):
        organisation.load_organisation(db, "anna", ORG)


def test_reloading_the_same_organisation_changes_nothing_and_logs_nothing(db):
    organisation.load_organisation(db, "admin", ORG)
    again = organisation.load_organisation(db, "admin", ORG)
    assert not again.changed and again.seq is None
    with db.read() as s:
        assert s.execute(select(LogEntry.event)).scalars().all() == ["org_load"]


def test_a_reload_revokes_roles_no_longer_listed(db):
    organisation.load_organisation(db, "admin", ORG)
    per = PersonDef("per", "Per Persson", "per@example.se", roles=(RoleDef("contributor", "bou"),))
    people = tuple(per if p.username == "per" else p for p in PEOPLE)
    loaded = organisation.load_organisation(db, "admin", Organisation(ORG.units, people, ORG.meetings))
    assert loaded.grants == organisation.Count(added=1, removed=1)
    with db.read() as s:
        grants = s.execute(select(RoleGrant.role, RoleGrant.unit_key).where(RoleGrant.username == "per")).all()
        assert [tuple(g) for g in grants] == [("contributor", "bou")]
        assert s.get(Person, "per").email == "per@example.se"


def test_a_person_no_longer_in_the_file_loses_every_role_but_stays_in_the_log(db):
    cid = started(db)
    actions.open_stage(db, "anna", cid, "analys")
    without_anna = Organisation(ORG.units, tuple(p for p in PEOPLE if p.username != "anna"), ORG.meetings)
    loaded = organisation.load_organisation(db, "admin", without_anna)
    assert loaded.changed and loaded.grants == organisation.Count(removed=2)
    with pytest.raises(MissingRole, match="anna may not"):
        actions.submit_stage(db, "anna", cid, "analys")
    with db.read() as s:
        assert s.execute(select(RoleGrant).where(RoleGrant.username == "anna")).first() is None
        assert s.get(Person, "anna").name == "Anna Åberg"  # the log still names her
    again = organisation.load_organisation(db, "admin", without_anna)
    assert not again.changed


def test_a_load_that_would_leave_no_admin_is_refused_and_writes_nothing(db):
    organisation.load_organisation(db, "admin", ORG)
    for people in (PEOPLE[1:], (PersonDef("admin", "Ada Admin", "admin@example.se"), *PEOPLE[1:])):
        with pytest.raises(Refused, match="must give someone the role admin"):
            organisation.load_organisation(db, "admin", Organisation(ORG.units, people, ORG.meetings))
    with db.read() as s:
        assert s.execute(select(LogEntry.event)).scalars().all() == ["org_load"]
        assert s.execute(select(RoleGrant).where(RoleGrant.role == "admin")).scalars().one().username == "admin"


def test_a_moved_meeting_replaces_the_old_date_and_other_years_keep_theirs(db):
    organisation.load_organisation(db, "admin", ORG)
    moved = tuple(MeetingDef("ks", dt.date(2027, 2, 17)) if m.date == dt.date(2027, 2, 10) else m
                  for m in ORG.meetings if m.date.year == 2027)  # fmt: skip
    loaded = organisation.load_organisation(db, "admin", Organisation(ORG.units, PEOPLE, moved))
    assert loaded.changed and loaded.meetings == organisation.Count(added=1, removed=1)
    assert not organisation.load_organisation(db, "admin", Organisation(ORG.units, PEOPLE, moved)).changed
    cid = cycles.start_cycle(db, "admin", WHEEL, 2027).cycle
    meetings = sorted(k for k, s in stages_of(db, cid).items() if s.definition_key == "ekrapport")
    assert meetings == ["ekrapport@2027-02-17", "ekrapport@2027-04-14", "ekrapport@2027-09-22"]
    # The file lists no meeting in 2028: the ones loaded before stay.
    assert sorted(stages_of(db, cycles.start_cycle(db, "admin", WHEEL, 2028).cycle)) == [
        "analys", "budget", "ekrapport@2028-02-09"]  # fmt: skip


def test_units_the_organisation_lacks_are_named_where_the_definition_uses_them(db, tmp_path):
    organisation.load_organisation(db, "admin", ORG)
    path = tmp_path / "wheel.yaml"
    path.write_text(
        "id: test\nname: T\ntimezone: Europe/Stockholm\nholidays: SE\nstages:\n"
        "  - key: a\n    name: A\n    owner: kss\n    decided_by: ks\n    deadline: Y-05-03\n"
        "    inputs:\n      - {key: i, name: I, from: [bou, sco], approved_by: ks}\n",
        encoding="utf-8",
    )
    with pytest.raises(NotFound) as caught:
        cycles.start_cycle(db, "admin", load_workflow(path), 2027)
    assert "\n".join(caught.value.lines()).splitlines() == [  # as the console shows them, one Error: a line
        f"{path} names units the organisation does not have: kss, sco",
        f"{path}: stages[0].owner: 'kss' (did you mean 'ks'?) (line 8)",
        f"{path}: stages[0].inputs[0].from[1]: 'sco' (did you mean 'soc'?) (line 12)",
        "add them to the organisation file and run `arshjul org load`, or correct the keys",
    ]
