"""The stage and input state machines, one shared `transitions.Machine` per kind.

The machines are built once at import, hold no models and have no
`to_<state>()` shortcuts (`auto_transitions=False`). A row is driven by calling
`machine.events[trigger].trigger(row, attempt=...)`: `transitions` reads and
writes the row's mapped `state` column directly, so no per-row `add_model` (which
costs memory per object and resets the state to `initial`) is ever needed.

Guards raise a `Refused` that names what blocks instead of returning False, so
the person acting learns why. They run inside the caller's transaction; if
anything raises after the state attribute changed, the transaction's rollback
restores the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session
from transitions import EventData, Machine

from cycle import blockers, people
from cycle.errors import FourEyes, Refused, WrongState
from cycle.models import InputItem, InputState, LogEntry, Stage, StageState
from cycle.prepared import Prepared
from cycle.records import InputRecord, StageRecord


@dataclass
class Attempt:
    """One person's attempt at one action, as the guards see it."""

    connection: Connection
    actor: people.Actor
    comment: str | None = None
    _session: Session | None = None

    @property
    def session(self) -> Session:
        """An ORM session in the attempt's transaction, for the guards that explain what blocks."""
        if self._session is None:
            self._session = Session(bind=self.connection)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _attempt(event: EventData) -> Attempt:
    return event.kwargs["attempt"]


def _stage_label(stage: StageRecord) -> str:
    return f"stage '{stage.key}' of {stage.cycle_id}"


def _input_label(item: InputRecord) -> str:
    return f"input '{item.key}' from unit '{item.unit_key}' to stage '{item.stage.key}'"


# --- guards shared by both kinds -------------------------------------------------


def comment_given(event: EventData) -> bool:
    if (_attempt(event).comment or "").strip():
        return True
    raise Refused("a return needs a comment (-m TEXT) that says what to change")


def _not_the_submitter(event: EventData, what: str) -> bool:
    """The row's newest `submit` in the log (read with the row) was not by the person deciding."""
    attempt = _attempt(event)
    if event.model.submitted_by != attempt.actor.username:
        return True
    raise FourEyes(
        f"{attempt.actor.username} submitted {what} and may not also decide on it (four-eyes rule)",
        "another approver must approve or return it",
    )


# --- stage guards ----------------------------------------------------------------


def _acts_as(role: str, unit_of, label_of):
    """A guard: the actor holds `role` for the unit `unit_of(row)` names."""

    def guard(event: EventData) -> bool:
        row = event.model
        doing = f"{event.event.name} {label_of(row)}"
        people.require(_attempt(event).actor, role, unit_of(row), doing)
        return True

    return guard


stage_owner_acts = _acts_as("owner", lambda stage: stage.owner_unit, _stage_label)
stage_decider_acts = _acts_as("approver", lambda stage: stage.decided_by_unit, _stage_label)


# What the two stage guards check on every open and submit; the ORM explains only a refusal.
_STAGE_STATES = Prepared(select(Stage.definition_key, Stage.state).where(Stage.cycle_id == bindparam("cycle")))
_UNAPPROVED = Prepared(
    select(func.count())
    .select_from(InputItem)
    .where(InputItem.stage_id == bindparam("stage_id"), InputItem.required.is_(True))
    .where(InputItem.state != InputState.APPROVED.value)
)


def predecessors_done(event: EventData) -> bool:
    stage: StageRecord = event.model
    if not stage.after:
        return True
    states = _STAGE_STATES.rows(_attempt(event).connection, cycle=stage.cycle_id)
    if all(state in blockers.DONE_STAGE for key, state in states if key in stage.after):
        return True
    session = _attempt(event).session
    siblings = session.execute(
        select(Stage).where(Stage.cycle_id == stage.cycle_id, Stage.definition_key.in_(stage.after))
    ).scalars()
    waiting = blockers.unfinished_predecessors(stage, siblings)
    if not waiting:
        return True
    lines = blockers.summarise([blockers.describe_predecessor(s) for s in waiting])
    raise Refused(
        f"{_stage_label(stage)} cannot open before the stages it comes after are approved or closed: "
        + "; ".join(lines)
    )


def required_inputs_approved(event: EventData) -> bool:
    stage: StageRecord = event.model
    if _UNAPPROVED.first(_attempt(event).connection, stage_id=stage.id)[0] == 0:
        return True
    session = _attempt(event).session
    inputs = session.execute(select(InputItem).where(InputItem.stage_id == stage.id)).scalars()
    waiting = blockers.unapproved_inputs(inputs)
    if not waiting:
        return True
    who = _role_holders(session, waiting)
    lines = blockers.summarise([blockers.describe_input(i, who) for i in waiting])
    raise Refused(
        f"{_stage_label(stage)} cannot be submitted: {len(waiting)} required input(s) not approved",
        "\n".join(lines),
    )


def _role_holders(session: Session, items: list[InputItem]) -> dict[tuple[str, str], list[str]]:
    wanted = {("contributor", i.unit_key) for i in items} | {("approver", i.approved_by_unit) for i in items}
    return {(role, unit): people.holders(session, role, unit) for role, unit in wanted}


def stage_not_submitter(event: EventData) -> bool:
    return _not_the_submitter(event, f"stage '{event.model.key}'")


# --- input guards ----------------------------------------------------------------


contributor_acts = _acts_as("contributor", lambda item: item.unit_key, _input_label)
input_approver_acts = _acts_as("approver", lambda item: item.approved_by_unit, _input_label)


def stage_is_open(event: EventData) -> bool:
    item: InputRecord = event.model
    if item.stage.state == StageState.OPEN.value:
        return True
    raise Refused(f"{_input_label(item)} can be submitted only while the stage is open; it is {item.stage.state}")


def input_not_submitter(event: EventData) -> bool:
    item: InputRecord = event.model
    return _not_the_submitter(event, f"input '{item.key}' of unit '{item.unit_key}'")


# --- the machines ----------------------------------------------------------------

S, IS = StageState, InputState

STAGE_TRANSITIONS = [
    {"trigger": "open", "source": S.PENDING, "dest": S.OPEN, "conditions": [stage_owner_acts, predecessors_done]},
    {"trigger": "submit", "source": S.OPEN, "dest": S.SUBMITTED,
     "conditions": [stage_owner_acts, required_inputs_approved]},
    {"trigger": "approve", "source": S.SUBMITTED, "dest": S.APPROVED,
     "conditions": [stage_decider_acts, stage_not_submitter]},
    {"trigger": "return", "source": S.SUBMITTED, "dest": S.OPEN,
     "conditions": [stage_decider_acts, stage_not_submitter, comment_given]},
    {"trigger": "close", "source": S.APPROVED, "dest": S.CLOSED, "conditions": [stage_owner_acts]},
]  # fmt: skip

INPUT_TRANSITIONS = [
    {"trigger": "submit", "source": [IS.MISSING, IS.RETURNED], "dest": IS.SUBMITTED,
     "conditions": [contributor_acts, stage_is_open]},
    {"trigger": "approve", "source": IS.SUBMITTED, "dest": IS.APPROVED,
     "conditions": [input_approver_acts, input_not_submitter]},
    {"trigger": "return", "source": IS.SUBMITTED, "dest": IS.RETURNED,
     "conditions": [input_approver_acts, input_not_submitter, comment_given]},
]  # fmt: skip


def _build(states: type, transitions: list[dict], initial) -> Machine:
    def plain(value):
        return [plain(v) for v in value] if isinstance(value, list) else getattr(value, "value", value)

    specs = [{k: plain(v) if k in ("source", "dest") else v for k, v in t.items()} for t in transitions]
    return Machine(
        model=None, states=[s.value for s in states], transitions=specs, initial=initial.value,
        auto_transitions=False, send_event=True, model_attribute="state",
    )  # fmt: skip


STAGE_MACHINE = _build(StageState, STAGE_TRANSITIONS, S.PENDING)
INPUT_MACHINE = _build(InputState, INPUT_TRANSITIONS, IS.MISSING)


def arrows(machine: Machine) -> set[tuple[str, str, str]]:
    """Every (source, trigger, destination) the machine allows."""
    return {
        (source, name, t.dest)
        for name, event in machine.events.items()
        for source, options in event.transitions.items()
        for t in options
    }


def fire(machine: Machine, row: StageRecord | InputRecord, trigger: str, attempt: Attempt, label: str) -> None:
    """Move `row` along `trigger`, or raise what forbids it."""
    event = machine.events.get(trigger)
    if event is None:
        raise WrongState(f"'{trigger}' is not an action on {label}")
    if row.state not in event.transitions:
        needed = " or ".join(sorted(event.transitions))
        moved = _moved_away(attempt.session, row, set(event.transitions), set(machine.events))
        raise WrongState(f"{label} is {row.state}: {trigger} needs it {needed}{moved}")
    if not event.trigger(row, attempt=attempt):
        raise Refused(f"{trigger} of {label} was refused")


PAST = {"open": "opened", "submit": "submitted", "approve": "approved", "return": "returned", "close": "closed"}


def _moved_away(session: Session, row: StageRecord | InputRecord, sources: set[str], triggers: set[str]) -> str:
    """`; the state has moved: …` when the row's last move left a state the action starts from.

    That is what a person sees who acted on the state as it was a moment ago (someone
    else was faster), so the message says who moved it, and when.
    """
    if isinstance(row, StageRecord):
        where = (row.cycle_id, row.key, None, None)
    else:
        where = (row.stage.cycle_id, row.stage.key, row.key, row.unit_key)
    columns = (LogEntry.cycle, LogEntry.stage, LogEntry.input, LogEntry.unit)
    stmt = select(LogEntry.actor, LogEntry.event, LogEntry.at, LogEntry.from_state).where(
        *(c.is_(None) if v is None else c == v for c, v in zip(columns, where, strict=True)),
        LogEntry.event.in_(sorted(triggers)),
    )
    last = session.execute(stmt.order_by(LogEntry.seq.desc()).limit(1)).one_or_none()
    if last is None or last.from_state not in sources:
        return ""
    did = PAST.get(last.event, last.event)
    return f"; the state has moved: {last.actor} {did} it at {last.at:%Y-%m-%d %H:%M:%S} UTC"
