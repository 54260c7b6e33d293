"""Random actions by random people on the test wheel, checked against a model of the contract.

Hypothesis drives stage and input actions and deadline moves, by every person of
`tests/wheel.py` and one nobody knows, on every stage instance and input (and a
few that do not exist). After every step the test checks what a user relies on:

- a state moved only along an arrow of the contract, one row per action, to where
  the model says it goes;
- an action succeeded exactly when the model of "who may do what", four-eyes and
  the guards says it may, and a refusal names one of the reasons the model sees;
- a refused action wrote nothing (rows, versions, deadlines and the log are
  identical), a successful one appended exactly one log entry describing it;
- `audit verify` accepts the log and the log explains every current state.

The arrows and rules below are written from the contract ("Stage and input
states", "Who may do what"), not taken from `cycle.machines`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from sqlalchemy import select

from cycle import actions, audit, cycles, organisation
from cycle import log as translog
from cycle.clock import FixedClock
from cycle.database import Database, make_engine
from cycle.errors import (
    ArshjulError,
    FourEyes,
    MissingRole,
    NotFound,
    Refused,
    UnknownPerson,
    WrongState,
)
from cycle.models import InputItem, LogEntry, Stage
from cycle.schema import upgrade
from tests.wheel import ORG, PEOPLE, WHEEL
from workflows.definition import Organisation, PersonDef, RoleDef

YEAR = 2027
NOW = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)

# --- the contract, "Stage and input states" ----------------------------------------
# Stage: pending --open--> open --submit--> submitted --approve--> approved --close--> closed,
#        and submitted --return--> open.
STAGE_ARROWS = {
    ("pending", "open"): "open",
    ("open", "submit"): "submitted",
    ("submitted", "approve"): "approved",
    ("submitted", "return"): "open",
    ("approved", "close"): "closed",
}
# Input: missing --submit--> submitted --approve--> approved,
#        submitted --return--> returned --submit--> submitted.
INPUT_ARROWS = {
    ("missing", "submit"): "submitted",
    ("submitted", "approve"): "approved",
    ("submitted", "return"): "returned",
    ("returned", "submit"): "submitted",
}
ARROWS = {"stage": STAGE_ARROWS, "input": INPUT_ARROWS}
EDGES = {kind: {(source, dest) for (source, _), dest in arrows.items()} for kind, arrows in ARROWS.items()}
INITIAL = {"stage": "pending", "input": "missing"}
FINISHED = {"approved", "closed"}  # a deadline no longer moves once the row is done

# --- the people: tests/wheel.py, with per also contributing for bou, so that the
# four-eyes rule on inputs is reachable (per may submit bou's input and approve soc's).
_PER = PersonDef("per", "Per Persson", "per@example.se",
                 roles=(RoleDef("approver", "ks"), RoleDef("contributor", "bou")))  # fmt: skip
ORGANISATION = Organisation(ORG.units, tuple(_PER if p.username == "per" else p for p in PEOPLE), ORG.meetings)
GRANTS = {(p.username, r.role, r.unit) for p in ORGANISATION.people for r in p.roles}
KNOWN = tuple(p.username for p in ORGANISATION.people)
ACTORS = KNOWN + ("mallory",)  # mallory is in no organisation


def holds(person: str, role: str, unit: str) -> bool:
    return (person, role, unit) in GRANTS


# --- the wheel's instances for YEAR, from the test wheel's definition --------------
@dataclass(frozen=True)
class StageInfo:
    definition: str
    owner: str
    decided_by: str
    after: tuple[str, ...]
    inputs: tuple[tuple[str, str, str], ...]  # (stage, input, unit)


@dataclass(frozen=True)
class InputInfo:
    stage: str
    approved_by: str
    required: bool


def _instances() -> tuple[dict, dict]:
    stages, inputs = {}, {}
    for sd in WHEEL.stages:
        if sd.per_meeting:
            days = sorted(m.date for m in ORGANISATION.meetings if m.unit == sd.per_meeting and m.date.year == YEAR)
            keys = [f"{sd.key}@{day.isoformat()}" for day in days]
        else:
            keys = [sd.key]
        for key in keys:
            items = tuple((key, i.key, unit) for i in sd.inputs for unit in i.from_units)
            stages[(key, None, None)] = StageInfo(sd.key, sd.owner, sd.decided_by, sd.after, items)
            for i in sd.inputs:
                for unit in i.from_units:
                    inputs[(key, i.key, unit)] = InputInfo(key, i.approved_by, i.required)
    return stages, inputs


STAGES, INPUTS = _instances()
assert any("@" in key for key, _, _ in STAGES), "the test wheel should have per-meeting instances"
# Targets include some that do not exist: an undated per-meeting key, a meeting of
# another year, an unknown stage, input and unit, an input of a stage without inputs.
STAGE_TARGETS = sorted(STAGES) + [("ekrapport", None, None), ("ekrapport@2028-02-09", None, None),
                                  ("nosuch", None, None)]  # fmt: skip
INPUT_TARGETS = sorted(INPUTS) + [("analys", "underlag", "kf"), ("analys", "nosuch", "bou"),
                                  ("budget", "underlag", "bou"), ("nosuch", "underlag", "bou")]  # fmt: skip

rows = st.sampled_from(sorted(STAGES) + sorted(INPUTS))
targets = st.sampled_from(STAGE_TARGETS + INPUT_TARGETS)
actors = st.sampled_from(ACTORS)
owners = st.sampled_from([p for p in KNOWN if any(holds(p, "owner", s.owner) for s in STAGES.values())])
comments = st.one_of(
    st.none(),
    st.sampled_from(["", "   ", "Komplettera med prognos", "Räkna om enligt KF:s direktiv"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
)


def kind_of(where: tuple) -> str:
    return "stage" if where[1] is None else "input"


# --- the model -----------------------------------------------------------------------
@dataclass
class RowModel:
    kind: str
    state: str
    deadline: dt.date
    version: int = 1
    submitter: str | None = None  # who submitted it last: four-eyes


@dataclass
class Model:
    rows: dict = field(default_factory=dict)  # (stage, input, unit) -> RowModel

    def exists(self, where: tuple) -> bool:
        return where in self.rows

    def why_not(self, actor: str, where: tuple, trigger: str, comment: str | None) -> set[type]:
        """The errors the contract allows for this attempt; empty: it must succeed."""
        reasons: set[type] = set() if actor in KNOWN else {UnknownPerson}
        if where not in self.rows:
            return reasons | {NotFound}
        row = self.rows[where]
        if (row.state, trigger) not in ARROWS[row.kind]:
            reasons.add(WrongState)
        if row.kind == "stage":
            reasons |= self._stage_rules(actor, where, trigger, comment)
        else:
            reasons |= self._input_rules(actor, where, trigger, comment)
        return reasons

    def _stage_rules(self, actor: str, where: tuple, trigger: str, comment: str | None) -> set[type]:
        info, row, reasons = STAGES[where], self.rows[where], set()
        if trigger in ("open", "submit", "close") and not holds(actor, "owner", info.owner):
            reasons.add(MissingRole)
        if trigger == "open" and any(
            self.rows[key].state not in FINISHED for key, other in STAGES.items() if other.definition in info.after
        ):
            reasons.add(Refused)  # a stage in `after` is neither approved nor closed
        if trigger == "submit" and any(
            self.rows[key].state != "approved" for key in info.inputs if INPUTS[key].required
        ):
            reasons.add(Refused)  # a required input is not approved
        if trigger in ("approve", "return"):
            reasons |= self._decision_rules(actor, row, info.decided_by, trigger, comment)
        return reasons

    def _input_rules(self, actor: str, where: tuple, trigger: str, comment: str | None) -> set[type]:
        info, row, reasons = INPUTS[where], self.rows[where], set()
        if trigger == "submit":
            if not holds(actor, "contributor", where[2]):
                reasons.add(MissingRole)
            if self.rows[(info.stage, None, None)].state != "open":
                reasons.add(Refused)  # inputs are submitted only while the stage is open
        else:
            reasons |= self._decision_rules(actor, row, info.approved_by, trigger, comment)
        return reasons

    @staticmethod
    def _decision_rules(actor: str, row: RowModel, unit: str, trigger: str, comment: str | None) -> set[type]:
        reasons = set()
        if not holds(actor, "approver", unit):
            reasons.add(MissingRole)
        if row.submitter == actor:
            reasons.add(FourEyes)
        if trigger == "return" and not (comment or "").strip():
            reasons.add(Refused)  # a return needs a comment
        return reasons

    def why_no_move(self, actor: str, where: tuple, when: dt.date, reason: str | None) -> set[type]:
        reasons: set[type] = set() if (reason or "").strip() else {Refused}
        if actor not in KNOWN:
            reasons.add(UnknownPerson)
        if where not in self.rows:
            return reasons | {NotFound}
        row = self.rows[where]
        if not holds(actor, "owner", STAGES[(where[0], None, None)].owner):
            reasons.add(MissingRole)
        if row.state in FINISHED:
            reasons.add(WrongState)
        if row.deadline == when:
            reasons.add(Refused)  # it is already due that day
        return reasons

    def fire(self, actor: str, where: tuple, trigger: str) -> str:
        row = self.rows[where]
        row.state = ARROWS[row.kind][(row.state, trigger)]
        row.version += 1
        if trigger == "submit":
            row.submitter = actor
        return row.state

    def moves(self) -> list[tuple[tuple, str]]:
        """Every (row, trigger) whose arrow starts at the row's current state."""
        return [
            (where, trigger)
            for where, row in self.rows.items()
            for (source, trigger) in ARROWS[row.kind]
            if source == row.state
        ]

    def who_may(self, where: tuple, trigger: str) -> list[str]:
        """The people whose role lets them do `trigger` on `where` (four-eyes aside)."""
        deciding = trigger in ("approve", "return")
        if where in STAGES:
            role, unit = ("approver", STAGES[where].decided_by) if deciding else ("owner", STAGES[where].owner)
        else:
            role, unit = ("approver", INPUTS[where].approved_by) if deciding else ("contributor", where[2])
        return [p for p in KNOWN if holds(p, role, unit)]


# --- what the database shows ---------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    rows: dict  # (stage, input, unit) -> (state, version, deadline)
    entries: tuple  # every log column of every entry, oldest first
    head: tuple  # (seq, hash) of the chain head


def snapshot(db: Database) -> Snapshot:
    with db.read() as s:
        stages = s.execute(select(Stage.key, Stage.state, Stage.version, Stage.deadline)).all()
        inputs = s.execute(
            select(
                Stage.key, InputItem.key, InputItem.unit_key, InputItem.state, InputItem.version, InputItem.deadline
            ).join(Stage)  # fmt: skip
        ).all()
        entries = tuple(tuple(r) for r in s.execute(select(*translog.LOG_COLUMNS).order_by(LogEntry.seq)))
        head = translog.head(s)
    rows = {(key, None, None): (state, version, due) for key, state, version, due in stages}
    rows |= {(stage, key, unit): (state, version, due) for stage, key, unit, state, version, due in inputs}
    return Snapshot(rows, entries, head)


def new_entry(before: Snapshot, after: Snapshot) -> LogEntry:
    """The one entry a successful action appended, checked to extend the chain."""
    assert after.entries[: len(before.entries)] == before.entries, "an action changed an earlier log entry"
    assert len(after.entries) == len(before.entries) + 1, "an action must append exactly one log entry"
    entry = LogEntry(**dict(zip([*translog.LOG_FIELDS, "hash"], after.entries[-1], strict=True)))
    assert (entry.seq, entry.prev_hash) == (before.head[0] + 1, before.head[1])
    assert after.head == (entry.seq, entry.hash)
    return entry


def changed_rows(before: Snapshot, after: Snapshot) -> list[tuple]:
    assert before.rows.keys() == after.rows.keys(), "an action added or removed a stage or input"
    return [key for key in before.rows if before.rows[key] != after.rows[key]]


# --- the machine ---------------------------------------------------------------------
class WheelMachine(RuleBasedStateMachine):
    submissions = Bundle("submissions")

    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="arshjul-stateful-"))
        url = f"sqlite:///{self.folder / 'arshjul.db'}"
        engine = make_engine(url)
        upgrade(engine)
        self.db = Database(url, clock=FixedClock(NOW), engine=engine)
        organisation.load_organisation(self.db, "admin", ORGANISATION)
        self.cid = cycles.start_cycle(self.db, "admin", WHEEL, YEAR).cycle
        start = snapshot(self.db)
        assert start.rows.keys() == STAGES.keys() | INPUTS.keys(), "the cycle's instances are not the wheel's"
        self.model = Model(
            {where: RowModel(kind_of(where), state, due) for where, (state, _, due) in start.rows.items()}
        )

    def teardown(self):
        self.db.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- attempting an action and checking what it did --

    def attempt(self, actor: str, where: tuple, trigger: str, comment: str | None) -> bool:
        reasons = self.model.why_not(actor, where, trigger, comment)
        stage, item, unit = where
        if item is None:
            call = partial(actions.STAGE_ACTIONS[trigger], self.db, actor, self.cid, stage, comment=comment)
        else:
            call = partial(actions.INPUT_ACTIONS[trigger], self.db, actor, self.cid, stage, item, unit, comment=comment)
        before, done = self._run(call, reasons, f"{actor} {trigger} {where}")
        if done is None:
            return False
        source = self.model.rows[where].state
        expected = self.model.fire(actor, where, trigger)
        event(f"{stage.split('@')[0]}{'/' + unit if unit else ''}: {source} -{trigger}-> {expected}")
        entry = self._check_change(before, where, source, expected)
        assert (entry.event, entry.actor, entry.comment, entry.ref) == (trigger, actor, comment, None)
        assert (entry.cycle, entry.stage, entry.input, entry.unit) == (self.cid, stage, item, unit)
        assert (done.seq, done.hash, done.from_state, done.to_state) == (
            entry.seq, entry.hash, entry.from_state, entry.to_state)  # fmt: skip
        return True

    def _run(self, call, reasons: set[type], what: str) -> tuple[Snapshot, object]:
        """Run an action; check that it succeeds iff the rules allow it, and that a refusal wrote nothing."""
        before = snapshot(self.db)
        try:
            done = call()
        except ArshjulError as err:
            event(f"refused: {type(err).__name__}")
            assert reasons, f"{what}: refused although the rules allow it: {type(err).__name__}: {err.lines()}"
            assert type(err) in reasons, f"{what}: refused with {type(err).__name__} ({err}), expected one of {reasons}"
            assert err.message.strip(), f"{what}: refused without saying why"
            assert snapshot(self.db) == before, f"{what}: a refused action wrote something"
            return before, None
        assert not reasons, f"{what}: succeeded although the rules forbid it ({sorted(r.__name__ for r in reasons)})"
        return before, done

    def _check_change(self, before: Snapshot, where: tuple, source: str, dest: str) -> LogEntry:
        after = snapshot(self.db)
        assert changed_rows(before, after) == [where], "exactly the acted-on row must change"
        (old_state, old_version, old_due), (new_state, new_version, new_due) = before.rows[where], after.rows[where]
        kind = kind_of(where)
        assert (old_state, new_state) in EDGES[kind], f"{kind} moved {old_state} -> {new_state}: not an arrow"
        assert (old_state, new_state, new_version, new_due) == (source, dest, old_version + 1, old_due)
        entry = new_entry(before, after)
        assert (entry.from_state, entry.to_state) == (old_state, new_state)
        return entry

    # -- rules --

    @rule(where=st.sampled_from(STAGE_TARGETS), trigger=st.sampled_from(sorted({t for _, t in STAGE_ARROWS})),
          actor=actors, comment=comments)  # fmt: skip
    def stage_action(self, where, trigger, actor, comment):
        self.attempt(actor, where, trigger, comment)

    @rule(where=st.sampled_from(INPUT_TARGETS), trigger=st.sampled_from(sorted({t for _, t in INPUT_ARROWS})),
          actor=actors, comment=comments)  # fmt: skip
    def input_action(self, where, trigger, actor, comment):
        self.attempt(actor, where, trigger, comment)

    @rule(target=submissions, where=targets, actor=actors, comment=comments)
    def submit(self, where, actor, comment):
        return where if self.attempt(actor, where, "submit", comment) else multiple()

    @rule(where=submissions, approve=st.booleans(), comment=comments, data=st.data())
    def decide(self, where, approve, comment, data):
        """Approve or return something once submitted, often by the person who submitted it."""
        submitter = self.model.rows[where].submitter
        actor = data.draw(st.one_of(st.just(submitter), actors), label="actor")
        self.attempt(actor, where, "approve" if approve else "return", comment)

    @initialize(moves=st.integers(0, 30), data=st.data())
    def warm_up(self, moves, data):
        """Start many examples deep in the wheel: moves by role holders, never a submitter deciding."""
        for _ in range(moves):
            if not self.model.moves():
                break
            self.move(data, respect_four_eyes=True)

    @precondition(lambda self: bool(self.model.moves()))
    @rule(target=submissions, data=st.data())
    def step_forward(self, data):
        """A move the row's state allows, by someone whose role allows it; four-eyes and the guards may refuse."""
        return self.move(data, respect_four_eyes=False)

    def move(self, data, respect_four_eyes: bool):
        """A move out of a row's current state by a holder of the role; the guards may still refuse it."""
        where, trigger = data.draw(st.sampled_from(self.model.moves()), label="move")
        eligible = self.model.who_may(where, trigger)
        if respect_four_eyes and trigger in ("approve", "return"):
            eligible = [p for p in eligible if p != self.model.rows[where].submitter]
        actor = data.draw(st.sampled_from(eligible), label="actor") if eligible else "mallory"
        comment = data.draw(st.one_of(st.just("Komplettera med prognos"), comments), label="comment")
        submitted = self.attempt(actor, where, trigger, comment) and trigger == "submit"
        return where if submitted else multiple()

    @rule(data=st.data())
    def step_off_the_arrows(self, data):
        """An action the row's state does not allow, by someone whose role would allow it: refused, wrong state."""
        where = data.draw(rows, label="row")
        row = self.model.rows[where]
        trigger = data.draw(st.sampled_from([t for (source, t) in ARROWS[row.kind] if source != row.state]))
        eligible = self.model.who_may(where, trigger)
        actor = data.draw(st.sampled_from(eligible), label="actor") if eligible else "mallory"
        self.attempt(actor, where, trigger, data.draw(st.one_of(st.just("Gör om"), comments), label="comment"))

    @rule(where=st.one_of(rows, targets), actor=st.one_of(owners, actors),
          when=st.one_of(st.none(), st.dates(dt.date(2026, 12, 1), dt.date(2028, 3, 31))),
          reason=st.one_of(st.just("Nämnden sammanträder senare"), st.sampled_from([None, "", " "])))  # fmt: skip
    def move_deadline(self, where, actor, when, reason):
        """`when` None: the date it is already due (refused: nothing would move)."""
        current = self.model.rows[where].deadline if where in self.model.rows else dt.date(2027, 5, 3)
        when = when or current
        reasons = self.model.why_no_move(actor, where, when, reason)
        stage, item, unit = where
        before, done = self._run(
            lambda: actions.set_deadline(self.db, actor, self.cid, stage, when, reason, input_key=item, unit=unit),
            reasons, f"{actor} moves the deadline of {where} to {when}",
        )  # fmt: skip
        if done is None:
            return
        event("deadline moved")
        after = snapshot(self.db)
        assert changed_rows(before, after) == [where], "exactly the row whose deadline moved must change"
        (state, version, due), new = before.rows[where], after.rows[where]
        assert new == (state, version + 1, when)
        entry = new_entry(before, after)
        assert (entry.event, entry.actor, entry.comment) == ("deadline", actor, reason)
        assert (entry.cycle, entry.stage, entry.input, entry.unit) == (self.cid, stage, item, unit)
        assert (entry.from_state, entry.to_state) == (due.isoformat(), when.isoformat())
        assert (done.seq, done.from_state, done.to_state) == (entry.seq, entry.from_state, entry.to_state)
        row = self.model.rows[where]
        row.deadline, row.version = when, row.version + 1

    # -- after every step --

    @invariant()
    def the_log_verifies_and_explains_every_state(self):
        with self.db.read() as session:
            verdict = audit.verify_session(session)
        assert verdict.ok, f"audit verify failed at entry {verdict.bad_seq}: {verdict.reason}"

    @invariant()
    def the_database_shows_what_the_model_expects(self):
        rows = snapshot(self.db).rows
        expected = {where: (m.state, m.version, m.deadline) for where, m in self.model.rows.items()}
        assert rows == expected


WheelMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWheel = WheelMachine.TestCase
