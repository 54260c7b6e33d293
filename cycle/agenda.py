"""What is waiting for whom: a read-only view of the open work, for reminders.

The reminder planner (in `notifications/`) is pure; this module is its database side.
It returns plain frozen rows and reads in a fixed number of queries, whatever the
number of cycles: the open inputs, the open and submitted stages, who submitted the
submitted ones (four-eyes: that person may not decide them, so is not reminded to) and
who returned the returned inputs and stages, when and with what comment (every reminder
of such work says so, however long ago), the recent `open` and `return` events, the role
holders and the unit names.

Cost follows what is due, not what exists: every input row carries `remind_from`,
the first day any reminder of it can be due (its deadline less its longest lead time;
the deadline, overdue and escalation slots all fall on or after the deadline), kept
with the deadline by `cycle.cycles` and `cycle.actions.set_deadline`. Open inputs are
read through the index on (state, remind_from) up to the planned moment's UTC date plus
one day (no time zone is further ahead of UTC), a superset of the due ones that the
pure planner then narrows exactly. An overdue item stays due for as long as it is open,
so there is no lower bound. The inputs of stages that had a notice-worthy event in the
window are read whatever their dates, because an `opened` notice lists them all.
Finished cycles, pending stages and approved inputs are never read; stages are few and
read by state (`ix_stage_state`); events come from a time window of the log (`ix_log_at`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import select, tuple_, union_all
from sqlalchemy.orm import Session

from cycle.models import Cycle, InputItem, InputState, LogEntry, Person, RoleGrant, Stage, StageState, Unit
from workflows.definition import ReminderPolicy

ROLES = ("owner", "contributor", "approver")
WAITING_INPUT = (InputState.MISSING.value, InputState.RETURNED.value, InputState.SUBMITTED.value)
WAITING_STAGE = (StageState.OPEN.value, StageState.SUBMITTED.value)
NOTICE_EVENTS = ("open", "return")
SINCE_EVENTS = ("open", "submit", "return", "deadline")
DEFAULT_BEFORE_DAYS = ReminderPolicy().before_days


@dataclass(frozen=True)
class Recipient:
    username: str
    name: str
    email: str
    locale: str


@dataclass(frozen=True)
class Work:
    """An open stage, or an input of an open stage, that somebody has to act on."""

    cycle: str
    cycle_name: str
    timezone: str
    stage: str
    stage_name: str
    stage_state: str
    owner_unit: str
    decided_by_unit: str
    state: str  # the input's state for an input, else the stage's
    deadline: dt.date
    reminders: dict
    input: str | None = None
    input_name: str | None = None
    unit: str | None = None
    approved_by_unit: str | None = None
    submitted_by: str | None = None
    # When the work last began to wait for whoever it waits for now (its stage opened, it was submitted or
    # returned) or its deadline was moved, whichever is latest (aware, UTC), and that entry's event.
    since: dt.datetime | None = None
    since_event: str | None = None
    # For an input that is `returned`, or a stage its deciding unit returned (`open` again after a `return`): the
    # return that left it so (aware, UTC), who returned it and their comment.
    returned_at: dt.datetime | None = None
    returned_by: str | None = None
    return_comment: str | None = None

    @property
    def is_input(self) -> bool:
        return self.input is not None


@dataclass(frozen=True)
class Happened:
    """A recent `open` or `return` entry of the log, with the open work it concerns.

    For a stage that opened: its inputs still waiting for contributors; for a returned
    input or stage: that input or stage, if it is still returned. Events whose work has
    moved on since are left out.
    """

    seq: int
    at: dt.datetime  # aware, UTC
    actor: str
    event: str
    comment: str | None
    work: tuple[Work, ...]


@dataclass(frozen=True)
class Agenda:
    work: tuple[Work, ...]
    events: tuple[Happened, ...]
    holders: dict[tuple[str, str], tuple[Recipient, ...]]  # (role, unit) -> people, by username
    units: dict[str, str]  # unit key -> name


def remind_from(deadline: dt.date, reminders: dict | None) -> dt.date:
    """The first day a reminder of a row with this deadline and policy (JSON) can be due."""
    lead = (reminders or {}).get("before_days", DEFAULT_BEFORE_DAYS)
    return deadline - dt.timedelta(days=max((*lead, 0)))


def read(session: Session, since: dt.datetime, until: dt.datetime, stages: Iterable[tuple[str, str]] = ()) -> Agenda:
    """The open work that may be due at `until`, and the notice-worthy log entries in (since, until].

    `stages`: (cycle, stage) pairs whose waiting inputs are read whatever their dates, like those
    of a stage with a notice in the window (a queued reminder may have been planned for a later moment).
    """
    entries = _notice_entries(session, since, until)
    horizon = _naive_utc(until).date() + dt.timedelta(days=1)
    noticed = {(e.cycle, e.stage) for e in entries} | set(stages)
    work = _open_inputs(session, horizon, noticed) + _open_stages(session)
    work = _with_history(session, work, until)
    events = _events(entries, work)
    units = {w.owner_unit for w in work} | {w.decided_by_unit for w in work}
    units |= {w.unit for w in work if w.unit} | {w.approved_by_unit for w in work if w.approved_by_unit}
    return Agenda(tuple(work), events, _holders(session, units), _unit_names(session, units))


def _work_columns() -> tuple:
    """The columns every piece of work has, labelled as `Work`'s fields."""
    return (
        Cycle.id.label("cycle"),
        Cycle.name.label("cycle_name"),
        Cycle.timezone.label("timezone"),
        Stage.key.label("stage"),
        Stage.name.label("stage_name"),
        Stage.state.label("stage_state"),
        Stage.owner_unit.label("owner_unit"),
        Stage.decided_by_unit.label("decided_by_unit"),
    )


def _open_inputs(session: Session, horizon: dt.date, noticed: set[tuple[str, str]]) -> list[Work]:
    """Waiting inputs of open stages that may be due by `horizon`, and all those of `noticed` stages."""
    base = (
        select(
            *_work_columns(),
            InputItem.key.label("input"),
            InputItem.name.label("input_name"),
            InputItem.unit_key.label("unit"),
            InputItem.approved_by_unit.label("approved_by_unit"),
            InputItem.state.label("state"),
            InputItem.deadline.label("deadline"),
            InputItem.reminders.label("reminders"),
        )
        .join(Stage, InputItem.stage_id == Stage.id)
        .join(Cycle, Stage.cycle_id == Cycle.id)
        .where(Stage.state == StageState.OPEN.value, InputItem.state.in_(WAITING_INPUT))
    )
    stmt = base.where(InputItem.remind_from <= horizon)
    if noticed:  # still one statement; the two branches are disjoint, so no row comes twice
        rest = base.where(InputItem.remind_from > horizon, tuple_(Stage.cycle_id, Stage.key).in_(sorted(noticed)))
        stmt = union_all(stmt, rest)
    return [_work(row) for row in session.execute(stmt)]


def _open_stages(session: Session) -> list[Work]:
    stmt = (
        select(
            *_work_columns(),
            Stage.state.label("state"),
            Stage.deadline.label("deadline"),
            Stage.reminders.label("reminders"),
        )
        .join(Cycle, Stage.cycle_id == Cycle.id)
        .where(Stage.state.in_(WAITING_STAGE))
    )
    return [_work(row) for row in session.execute(stmt)]


def _work(row) -> Work:
    values = dict(row._mapping)
    values["reminders"] = values["reminders"] or {}
    return Work(**values)


def _with_history(session: Session, work: list[Work], until: dt.datetime) -> list[Work]:
    """Who submitted each submitted item (four-eyes: not to be reminded to decide it), who returned each returned
    input or stage, when and why (`Work.returned_at`), and when each piece of work began its current wait
    (`Work.since`), from one read of the log's entries about them (ix_log_subject)."""
    if not work:
        return work
    stmt = (
        select(LogEntry.cycle, LogEntry.stage, LogEntry.input, LogEntry.unit, LogEntry.event, LogEntry.at,
               LogEntry.actor, LogEntry.comment)
        .where(LogEntry.event.in_(SINCE_EVENTS), LogEntry.at <= _naive_utc(until))
        .where(LogEntry.cycle.in_({w.cycle for w in work}), LogEntry.stage.in_({w.stage for w in work}))
        .order_by(LogEntry.seq)
    )  # fmt: skip
    latest = {tuple(row[:5]): tuple(row[5:]) for row in session.execute(stmt)}  # (subject, event) -> at, actor, why
    return [_since(w, latest) for w in work]


def _since(work: Work, latest: dict[tuple, tuple[dt.datetime, str, str | None]]) -> Work:
    own = (work.cycle, work.stage, work.input, work.unit)
    if work.state == "submitted" and (*own, "submit") in latest:
        work = replace(work, submitted_by=latest[(*own, "submit")][1])
    if _returned(work) and (*own, "return") in latest:
        at, actor, comment = latest[(*own, "return")]
        work = replace(work, returned_at=at.replace(tzinfo=dt.UTC), returned_by=actor, return_comment=comment)
    found = [(latest[(*own, e)][0], e) for e in SINCE_EVENTS if (*own, e) in latest]
    if work.is_input and (work.cycle, work.stage, None, None, "open") in latest:
        found.append((latest[(work.cycle, work.stage, None, None, "open")][0], "open"))
    if not found:
        return work
    at, event = max(found)
    return replace(work, since=at.replace(tzinfo=dt.UTC), since_event=event)


def _returned(work: Work) -> bool:
    """Whether the work waits because it was returned: an input `returned`, or a stage `open` again. A stage opens
    from pending once; after that only a return makes it open, so its newest `return` entry is why it is."""
    if work.is_input:
        return work.state == InputState.RETURNED.value
    return work.state == StageState.OPEN.value


def _notice_entries(session: Session, since: dt.datetime, until: dt.datetime) -> list:
    stmt = (
        select(
            LogEntry.seq,
            LogEntry.at,
            LogEntry.actor,
            LogEntry.cycle,
            LogEntry.stage,
            LogEntry.input,
            LogEntry.unit,
            LogEntry.event,
            LogEntry.comment,
        )
        .where(LogEntry.at > _naive_utc(since), LogEntry.at <= _naive_utc(until))
        .where(LogEntry.event.in_(NOTICE_EVENTS), LogEntry.stage.is_not(None))
        .order_by(LogEntry.seq)
    )
    return session.execute(stmt).all()


def _events(entries: list, work: list[Work]) -> tuple[Happened, ...]:
    by_stage: dict[tuple[str, str], list[Work]] = {}
    for w in work:
        by_stage.setdefault((w.cycle, w.stage), []).append(w)
    found = []
    for row in entries:
        concerned = tuple(w for w in by_stage.get((row.cycle, row.stage), ()) if _concerns(row, w))
        if concerned:
            at = row.at.replace(tzinfo=dt.UTC)
            found.append(Happened(row.seq, at, row.actor, row.event, row.comment, concerned))
    return tuple(found)


def _concerns(entry, work: Work) -> bool:
    """Whether `work` is still in the state the entry left it in, so a notice makes sense."""
    if work.stage_state != StageState.OPEN.value:
        return False
    if entry.event == "open":
        return work.is_input and work.state in (InputState.MISSING.value, InputState.RETURNED.value)
    if entry.input is None:
        return not work.is_input
    return (work.input, work.unit) == (entry.input, entry.unit) and work.state == InputState.RETURNED.value


def _holders(session: Session, units: set[str]) -> dict[tuple[str, str], tuple[Recipient, ...]]:
    if not units:
        return {}
    stmt = (
        select(RoleGrant.role, RoleGrant.unit_key, Person.username, Person.name, Person.email, Person.locale)
        .join(Person, RoleGrant.username == Person.username)
        .where(RoleGrant.role.in_(ROLES), RoleGrant.unit_key.in_(units))
        .order_by(RoleGrant.role, RoleGrant.unit_key, Person.username)
    )
    holders: dict[tuple[str, str], list[Recipient]] = {}
    for row in session.execute(stmt):
        holders.setdefault((row.role, row.unit_key), []).append(Recipient(*row[2:]))
    return {key: tuple(value) for key, value in holders.items()}


def _unit_names(session: Session, units: set[str]) -> dict[str, str]:
    if not units:
        return {}
    return dict(session.execute(select(Unit.key, Unit.name).where(Unit.key.in_(units))).all())


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
