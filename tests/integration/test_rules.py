"""Every guard of the stage and input machines, through the use cases, on a real database.

Each refusal is checked for its words (what blocks) and for having written nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from cycle import actions, organisation
from cycle.errors import FourEyes, MissingRole, Refused, UnknownPerson, WrongState
from cycle.models import InputItem, LogEntry, Stage
from tests.wheel import ORG, started
from workflows.definition import PersonDef


def snapshot(db) -> tuple:
    """Everything a refused action must leave untouched."""
    with db.read() as s:
        stages = s.execute(select(Stage.key, Stage.state, Stage.version, Stage.deadline).order_by(Stage.id)).all()
        inputs = s.execute(select(InputItem.id, InputItem.state, InputItem.version).order_by(InputItem.id)).all()
        entries = s.execute(select(LogEntry.seq).order_by(LogEntry.seq)).scalars().all()
    return stages, inputs, entries


def refused(db, error: type, words: str, action, *args, **kwargs) -> str:
    before = snapshot(db)
    with pytest.raises(error) as caught:
        action(db, *args, **kwargs)
    text = "\n".join(caught.value.lines())
    assert words in text
    assert snapshot(db) == before, "a refused action wrote something"
    return text


@pytest.fixture
def cid(db) -> str:
    return started(db)


def open_analysis_with_inputs_approved(db, cid):
    actions.open_stage(db, "anna", cid, "analys")
    for unit, who in (("bou", "oskar"), ("soc", "sara")):
        actions.submit_input(db, who, cid, "analys", "underlag", unit)
        actions.approve_input(db, "per", cid, "analys", "underlag", unit)


def test_a_stage_opens_only_after_its_predecessors(db, cid):
    refused(db, Refused, "stage 'analys' is pending", actions.open_stage, "anna", cid, "budget")
    open_analysis_with_inputs_approved(db, cid)
    actions.submit_stage(db, "anna", cid, "analys")
    refused(db, Refused, "stage 'analys' is submitted", actions.open_stage, "anna", cid, "budget")
    actions.approve_stage(db, "per", cid, "analys")
    assert actions.open_stage(db, "anna", cid, "budget").to_state == "open"


def test_a_stage_is_submitted_only_with_every_required_input_approved(db, cid):
    actions.open_stage(db, "anna", cid, "analys")
    text = refused(db, Refused, "2 required input(s) not approved", actions.submit_stage, "anna", cid, "analys")
    assert "input 'underlag' from unit 'bou' is missing: its contributors are oskar" in text
    assert "input 'underlag' from unit 'soc' is missing: its contributors are sara" in text
    actions.submit_input(db, "oskar", cid, "analys", "underlag", "bou")
    text = refused(db, Refused, "from unit 'bou' is submitted: its approvers are anna, per",
                   actions.submit_stage, "anna", cid, "analys")  # fmt: skip
    assert "'soc' is missing" in text


def test_only_an_owner_of_the_owner_unit_opens_submits_and_closes(db, cid):
    refused(db, MissingRole, "per may not open stage 'analys' of test-2027: it needs the role owner of unit 'ks'",
            actions.open_stage, "per", cid, "analys")  # fmt: skip
    open_analysis_with_inputs_approved(db, cid)
    refused(db, MissingRole, "needs the role owner", actions.submit_stage, "oskar", cid, "analys")
    actions.submit_stage(db, "anna", cid, "analys")
    actions.approve_stage(db, "per", cid, "analys")
    refused(db, MissingRole, "needs the role owner", actions.close_stage, "per", cid, "analys")
    assert actions.close_stage(db, "anna", cid, "analys").to_state == "closed"


def test_only_an_approver_of_the_deciding_unit_decides(db, cid):
    open_analysis_with_inputs_approved(db, cid)
    actions.submit_stage(db, "anna", cid, "analys")
    refused(db, MissingRole, "needs the role approver of unit 'ks'", actions.approve_stage, "oskar", cid, "analys")
    refused(db, MissingRole, "needs the role approver", actions.return_stage, "rut", cid, "analys", comment="nej")


def test_four_eyes_on_a_stage(db, cid):
    open_analysis_with_inputs_approved(db, cid)
    actions.submit_stage(db, "anna", cid, "analys")
    text = refused(db, FourEyes, "anna submitted stage 'analys' and may not also decide on it",
                   actions.approve_stage, "anna", cid, "analys")  # fmt: skip
    assert "four-eyes" in text
    refused(db, FourEyes, "four-eyes", actions.return_stage, "anna", cid, "analys", comment="Gör om")
    assert actions.approve_stage(db, "per", cid, "analys").to_state == "approved"


def test_four_eyes_on_an_input_is_checked_from_the_log(db, cid):
    # anna is owner and approver of ks; give her nothing to contribute, so use per's
    # resubmission path: the submitter recorded in the log is the one refused.
    actions.open_stage(db, "anna", cid, "analys")
    actions.submit_input(db, "oskar", cid, "analys", "underlag", "bou")
    actions.return_input(db, "per", cid, "analys", "underlag", "bou", comment="Saknar prognos")
    actions.submit_input(db, "oskar", cid, "analys", "underlag", "bou")
    assert actions.approve_input(db, "per", cid, "analys", "underlag", "bou").to_state == "approved"


def test_an_approver_who_also_contributes_may_not_approve_their_own_input(db, cid):
    from cycle import organisation
    from tests.wheel import ORG, PEOPLE
    from workflows.definition import Organisation, PersonDef, RoleDef

    per = PersonDef("per", "Per Persson", "per@example.se",
                    roles=(RoleDef("approver", "ks"), RoleDef("contributor", "bou")))  # fmt: skip
    people = tuple(per if p.username == "per" else p for p in PEOPLE)
    organisation.load_organisation(db, "admin", Organisation(ORG.units, people, ORG.meetings))
    actions.open_stage(db, "anna", cid, "analys")
    actions.submit_input(db, "per", cid, "analys", "underlag", "bou")
    refused(db, FourEyes, "per submitted input 'underlag' of unit 'bou'",
            actions.approve_input, "per", cid, "analys", "underlag", "bou")  # fmt: skip
    assert actions.approve_input(db, "anna", cid, "analys", "underlag", "bou").to_state == "approved"


def test_a_contributor_submits_only_for_their_own_unit(db, cid):
    actions.open_stage(db, "anna", cid, "analys")
    refused(db, MissingRole, "oskar may not submit input 'underlag' from unit 'soc'",
            actions.submit_input, "oskar", cid, "analys", "underlag", "soc")  # fmt: skip
    assert actions.submit_input(db, "sara", cid, "analys", "underlag", "soc").to_state == "submitted"


def test_inputs_are_submitted_only_while_the_stage_is_open(db, cid):
    refused(db, Refused, "can be submitted only while the stage is open; it is pending",
            actions.submit_input, "oskar", cid, "analys", "underlag", "bou")  # fmt: skip


def test_a_return_needs_a_comment(db, cid):
    actions.open_stage(db, "anna", cid, "analys")
    actions.submit_input(db, "oskar", cid, "analys", "underlag", "bou")
    refused(db, Refused, "a return needs a comment", actions.return_input, "per", cid, "analys", "underlag", "bou")
    refused(db, Refused, "a return needs a comment",
            actions.return_input, "per", cid, "analys", "underlag", "bou", comment="   ")  # fmt: skip
    done = actions.return_input(db, "per", cid, "analys", "underlag", "bou", comment="Komplettera med prognos")
    assert (done.from_state, done.to_state) == ("submitted", "returned")


def test_actions_from_the_wrong_state_name_the_state(db, cid):
    refused(db, WrongState, "stage 'analys' of test-2027 is pending: approve needs it submitted",
            actions.approve_stage, "per", cid, "analys")  # fmt: skip
    refused(db, WrongState, "close needs it approved", actions.close_stage, "anna", cid, "analys")


def test_an_unknown_person_is_refused(db, cid):
    refused(db, UnknownPerson, "unknown person 'mallory'", actions.open_stage, "mallory", cid, "analys")
    refused(db, UnknownPerson, "unknown person 'mallory'", actions.submit_input, "mallory", cid, "analys",
            "underlag", "bou")  # fmt: skip


def test_an_unknown_person_is_named_before_a_stage_or_input_that_does_not_exist(db, cid):
    refused(db, UnknownPerson, "unknown person 'mallory'", actions.open_stage, "mallory", cid, "nosuch")
    refused(db, UnknownPerson, "unknown person 'mallory'", actions.submit_input, "mallory", cid, "analys",
            "nosuch", "bou")  # fmt: skip


def test_a_registered_person_without_roles_is_refused_for_the_role_not_as_unknown(db, cid):
    newcomer = PersonDef("ny", "Ny Person", "ny@example.se")  # registered, not yet given a role
    organisation.load_organisation(db, "admin", replace(ORG, people=(*ORG.people, newcomer)))
    refused(db, MissingRole, "ny may not", actions.open_stage, "ny", cid, "analys")


def test_every_action_appends_one_chained_log_entry(db, cid):
    open_analysis_with_inputs_approved(db, cid)
    with db.read() as s:
        entries = s.execute(select(LogEntry).order_by(LogEntry.seq)).scalars().all()
    events = [(e.event, e.actor, e.stage, e.input, e.unit, e.from_state, e.to_state) for e in entries[2:]]
    assert events == [
        ("open", "anna", "analys", None, None, "pending", "open"),
        ("submit", "oskar", "analys", "underlag", "bou", "missing", "submitted"),
        ("approve", "per", "analys", "underlag", "bou", "submitted", "approved"),
        ("submit", "sara", "analys", "underlag", "soc", "missing", "submitted"),
        ("approve", "per", "analys", "underlag", "soc", "submitted", "approved"),
    ]
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert entries[0].prev_hash == "0" * 64


def test_a_decision_is_cited_with_its_reference(db, cid):
    open_analysis_with_inputs_approved(db, cid)
    actions.submit_stage(db, "anna", cid, "analys", ref="KS 26/114")
    actions.approve_stage(db, "per", cid, "analys", comment="Godkänd", ref="KS 2027-02-10 § 12")
    with db.read() as s:
        last = s.execute(select(LogEntry).order_by(LogEntry.seq.desc()).limit(1)).scalar_one()
    assert (last.comment, last.ref) == ("Godkänd", "KS 2027-02-10 § 12")


def test_an_owner_moves_a_deadline_with_a_reason_and_it_is_logged(db, cid, clock):
    refused(db, MissingRole, "needs the role owner",
            actions.set_deadline, "per", cid, "budget", dt.date(2027, 6, 15), "KF flyttat")  # fmt: skip
    refused(db, Refused, "needs a reason", actions.set_deadline, "anna", cid, "budget", dt.date(2027, 6, 15), "")
    done = actions.set_deadline(db, "anna", cid, "budget", dt.date(2027, 6, 15), "KF-mötet flyttat", ref="KF 27/3")
    assert (done.from_state, done.to_state) == ("2027-06-01", "2027-06-15")
    actions.set_deadline(db, "anna", cid, "analys", dt.date(2027, 11, 30), "Tidigare", input_key="underlag",
                         unit="soc")  # fmt: skip
    with db.read() as s:
        budget = s.execute(select(Stage).where(Stage.key == "budget")).scalar_one()
        soc = s.execute(select(InputItem).where(InputItem.unit_key == "soc")).scalar_one()
        entry = s.execute(select(LogEntry).where(LogEntry.seq == done.seq)).scalar_one()
    assert budget.deadline == dt.date(2027, 6, 15) and soc.deadline == dt.date(2027, 11, 30)
    assert (entry.event, entry.comment, entry.ref) == ("deadline", "KF-mötet flyttat", "KF 27/3")


def test_a_failure_after_the_state_moved_in_memory_leaves_the_row_as_it_was(db, cid):
    # `transitions` has already set the row's state when the log append fails (here: the
    # chain head is gone); the transaction's rollback must restore the row.
    with db.engine.connect() as conn:
        conn.exec_driver_sql("DELETE FROM log_head")
        conn.commit()
    before = snapshot(db)
    with pytest.raises(NoResultFound):
        actions.open_stage(db, "anna", cid, "analys")
    assert snapshot(db) == before
    assert stages_state(db, "analys") == "pending"


def stages_state(db, key: str) -> str:
    with db.read() as s:
        return s.execute(select(Stage.state).where(Stage.key == key)).scalar_one()
