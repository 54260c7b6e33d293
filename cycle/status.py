"""The read side: where a cycle stands, what blocks it, the log, and a wheel before it starts.

Each function is one read transaction that returns plain dicts for any caller to
render. A cycle's status loads its stages and its inputs in one query each, the role
holders in a third, the submitters in a fourth and, when it has unfinished per-meeting
stages, those whose meeting is gone in a fifth, so its cost does not grow with the number
of stages (no query per row).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cycle import blockers, log, people
from cycle.clock import WEEKDAYS
from cycle.errors import BadInput, NotFound
from cycle.lookups import find_cycle, require_log_subjects
from cycle.models import Cycle, InputItem, InputState, LogEntry, Meeting, RoleGrant, Stage, StageState, Unit

MAX_LIMIT = 2**63 - 1  # the largest LIMIT SQLite and PostgreSQL take (a signed 64-bit integer)

if TYPE_CHECKING:  # the preview's calendar (holidays) loads only when a preview is made
    from cycle.deadlines import WorkingDays
    from workflows.definition import Workflow

DONE_INPUT = (InputState.APPROVED.value,)
UNFINISHED = (StageState.PENDING.value, StageState.OPEN.value, StageState.SUBMITTED.value)
# Who acts next on a row in each state: (action, role, which unit of the row).
STAGE_NEXT = {
    StageState.PENDING.value: ("open", "owner", "owner_unit"),
    StageState.OPEN.value: ("submit", "owner", "owner_unit"),
    StageState.SUBMITTED.value: ("decide", "approver", "decided_by_unit"),
    StageState.APPROVED.value: ("close", "owner", "owner_unit"),
}
INPUT_NEXT = {
    InputState.MISSING.value: ("submit", "contributor", "unit_key"),
    InputState.RETURNED.value: ("resubmit", "contributor", "unit_key"),
    InputState.SUBMITTED.value: ("decide", "approver", "approved_by_unit"),
}


# --- a cycle's status ------------------------------------------------------------


def cycle_status(db, actor: str, cycle_id: str | None = None, today: dt.date | None = None) -> dict:
    """Every stage of a cycle (the newest one when `cycle_id` is None) with its inputs and blockers."""
    with db.read() as session:
        people.person(session, actor)
        cycle = find_cycle(session, cycle_id) if cycle_id else _newest_cycle(session)
        today = today or db.clock.today(cycle.timezone)
        stages = list(session.execute(select(Stage).where(Stage.cycle_id == cycle.id).order_by(Stage.position))
                      .scalars())  # fmt: skip
        inputs = _inputs_by_stage(session, cycle.id)
        gone = _meetings_gone(session, cycle.id, stages)
        view = _View(_role_holders(session), _submitters(session, cycle.id), today, gone)
        return {
            "cycle": cycle.id, "workflow": cycle.workflow_id, "year": cycle.year, "name": cycle.name,
            "timezone": cycle.timezone, "today": today.isoformat(),
            "stages": [view.stage(s, stages, inputs.get(s.id, [])) for s in stages],
        }  # fmt: skip


class _View:
    """Turns loaded rows into status dicts; holds what every row needs."""

    def __init__(self, holders: dict, submitters: dict, today: dt.date, gone: frozenset[str] = frozenset()):
        self.holders, self.submitters, self.today, self.gone = holders, submitters, today, gone

    def stage(self, stage: Stage, siblings: list[Stage], inputs: list[InputItem]) -> dict:
        done = stage.state in blockers.DONE_STAGE
        submitter = self.submitters.get((stage.key, None, None))
        blocked = self._stage_blockers(stage, siblings, inputs, submitter)
        return {
            "key": stage.key, "name": stage.name, "state": stage.state, "deadline": stage.deadline.isoformat(),
            "days_left": None if done else (stage.deadline - self.today).days,
            "owner": stage.owner_unit, "decided_by": stage.decided_by_unit, "after": list(stage.after or ()),
            "meeting": stage.meeting_date.isoformat() if stage.meeting_date else None,
            "blocked_by": blocked,
            "next": None if blocked else self._next(STAGE_NEXT, stage, submitter),
            "inputs_approved": sum(1 for i in inputs if i.state in DONE_INPUT),
            "inputs": [self.input(stage, i) for i in inputs],
            "meeting_gone": stage.key in self.gone,
        }  # fmt: skip

    def input(self, stage: Stage, item: InputItem) -> dict:
        done = item.state in DONE_INPUT
        waiting = stage.state != StageState.OPEN.value and not done and item.state != InputState.SUBMITTED.value
        submitter = self.submitters.get((stage.key, item.key, item.unit_key))
        return {
            "key": item.key, "name": item.name, "unit": item.unit_key, "state": item.state,
            "deadline": item.deadline.isoformat(), "days_left": None if done else (item.deadline - self.today).days,
            "required": item.required, "approved_by": item.approved_by_unit,
            "blocked_by": [f"stage '{stage.key}' is {stage.state}: inputs are submitted while it is open"]
            if waiting else [],
            "next": None if waiting else self._next(INPUT_NEXT, item, submitter),
        }  # fmt: skip

    def _stage_blockers(self, stage: Stage, siblings: list[Stage], inputs: list[InputItem], submitter) -> list[str]:
        if stage.state == StageState.PENDING.value:
            return [blockers.describe_predecessor(s) for s in blockers.unfinished_predecessors(stage, siblings)]
        if stage.state == StageState.OPEN.value:
            return [self._describe_input(stage, i) for i in blockers.unapproved_inputs(inputs)]
        if stage.state == StageState.SUBMITTED.value:
            names = self._people("approver", stage.decided_by_unit, submitter)
            return [f"waiting for a decision by the approvers of '{stage.decided_by_unit}': {names or 'nobody'}"]
        return []

    def _describe_input(self, stage: Stage, item: InputItem) -> str:
        submitter = self.submitters.get((stage.key, item.key, item.unit_key))
        role = blockers.INPUT_WAITS_FOR[item.state]
        unit = item.unit_key if role == "contributors" else item.approved_by_unit
        names = self._people(role[:-1], unit, submitter if role == "approvers" else None)
        return blockers.describe_input(item, {(role[:-1], unit): names})

    def _next(self, table: dict, row, submitter: str | None) -> dict | None:
        if row.state not in table:
            return None
        action, role, attribute = table[row.state]
        unit = getattr(row, attribute)
        # Four-eyes: whoever submitted may not decide, so they are not among those waited for.
        shown = self._people(role, unit, submitter if role == "approver" else None)
        return {"action": action, "role": role, "unit": unit, "people": shown}

    def _people(self, role: str, unit: str, excluded: str | None = None) -> list[str]:
        return [name for name in self.holders.get((role, unit), []) if name != excluded]


def _newest_cycle(session: Session) -> Cycle:
    cycle = session.execute(select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc()).limit(1)).scalar_one_or_none()
    if cycle is None:
        raise NotFound("there are no cycles yet", "start one with `arshjul cycle start FILE --year YEAR`")
    return cycle


def _inputs_by_stage(session: Session, cycle_id: str) -> dict[int, list[InputItem]]:
    stmt = (
        select(InputItem).join(Stage).where(Stage.cycle_id == cycle_id)
        .order_by(InputItem.stage_id, InputItem.position, InputItem.unit_key)
    )  # fmt: skip
    grouped: dict[int, list[InputItem]] = defaultdict(list)
    for item in session.execute(stmt).scalars():
        grouped[item.stage_id].append(item)
    return grouped


def _role_holders(session: Session) -> dict[tuple[str, str], list[str]]:
    stmt = select(RoleGrant.role, RoleGrant.unit_key, RoleGrant.username).order_by(RoleGrant.username)
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for role, unit, username in session.execute(stmt):
        holders[(role, unit)].append(username)
    return holders


def without_meeting(stmt: Select) -> Select:
    """`stmt`, a select of stages, narrowed to the unfinished per-meeting ones whose meeting is gone.

    A stage row keeps its meeting's date but not its organ, so stages are matched by date
    alone: while any meeting is left on that date (another organ's, say), the stage is taken
    to be for that one. `org load` warns of these when it removes their meeting; `status`
    keeps showing them.
    """
    left = select(Meeting.id).where(Meeting.date == Stage.meeting_date).exists()
    return stmt.where(Stage.meeting_date.is_not(None), Stage.state.in_(UNFINISHED), ~left)


def _meetings_gone(session: Session, cycle_id: str, stages: list[Stage]) -> frozenset[str]:
    """The keys of the cycle's stages that wait for a meeting no longer in the organisation (no query when it has
    no unfinished per-meeting stage)."""
    if not any(s.meeting_date is not None and s.state in UNFINISHED for s in stages):
        return frozenset()
    return frozenset(session.execute(without_meeting(select(Stage.key).where(Stage.cycle_id == cycle_id))).scalars())


def _submitters(session: Session, cycle_id: str) -> dict[tuple, str]:
    """Who last submitted each stage and input of the cycle, for the four-eyes rule."""
    stmt = (
        select(LogEntry.stage, LogEntry.input, LogEntry.unit, LogEntry.actor)
        .where(LogEntry.cycle == cycle_id, LogEntry.event == "submit")
        .order_by(LogEntry.seq)
    )
    return {(r.stage, r.input, r.unit): r.actor for r in session.execute(stmt)}


# --- cycles, the log, names ------------------------------------------------------


def read_cycles(db, actor: str) -> list[dict]:
    with db.read() as session:
        people.person(session, actor)
        rows = session.execute(select(Cycle).order_by(Cycle.year, Cycle.id)).scalars()
        return [{"cycle": c.id, "workflow": c.workflow_id, "year": c.year, "name": c.name,
                 "timezone": c.timezone} for c in rows]  # fmt: skip


def read_log(db, actor: str, flt: log.LogFilter) -> list[dict]:
    """Log entries matching `flt`, oldest first, in the contract's JSON shape."""
    if flt.since is not None and flt.until is not None and flt.since > flt.until:
        raise BadInput(f"the period ends ({flt.until.isoformat()}) before it begins ({flt.since.isoformat()})",
                       "--since is the first day and --until the last, both included")  # fmt: skip
    with db.read() as session:
        people.person(session, actor)
        # A mistyped cycle, stage, input, unit or actor is an error, not an empty log.
        require_log_subjects(session, flt)
        return [log.as_dict(row) for row in log.query(session, _unbounded(flt))]


def _unbounded(flt: log.LogFilter) -> log.LogFilter:
    """A limit no database integer holds, or an end on the calendar's last day, is no bound at all."""
    if flt.limit is not None and flt.limit > MAX_LIMIT:
        flt = replace(flt, limit=None)
    if flt.until == dt.date.max:
        flt = replace(flt, until=None)
    return flt


def cycle_zones(db) -> list[str]:
    """The time zones the cycles use, so a moment typed without an offset can be read in theirs."""
    with db.read() as session:
        return sorted(set(session.execute(select(Cycle.timezone).distinct()).scalars()))


def names(db, what: str, cycle: str | None = None, stage: str | None = None, input_key: str | None = None) -> list[str]:
    """Keys for shell completion: cycles, stages of a cycle, inputs of a stage, units."""
    with db.read() as session:
        if what == "cycle":
            stmt = select(Cycle.id).order_by(Cycle.id)
        elif what == "stage":
            stmt = select(Stage.key).where(Stage.cycle_id == cycle).order_by(Stage.position)
        elif what == "input":
            stmt = _input_column(InputItem.key, cycle, stage, None)
        elif cycle:
            stmt = _input_column(InputItem.unit_key, cycle, stage, input_key)
        else:
            stmt = select(Unit.key).order_by(Unit.key)
        return list(session.execute(stmt).scalars())


def _input_column(column, cycle: str | None, stage: str | None, input_key: str | None):
    stmt = select(column).distinct().join(Stage).where(Stage.cycle_id == cycle).order_by(column)
    if stage:
        stmt = stmt.where(Stage.key == stage)
    if input_key:
        stmt = stmt.where(InputItem.key == input_key)
    return stmt


# --- a definition resolved for a year, before any cycle exists -------------------


def meetings_in(db, year: int) -> dict[str, list[dt.date]]:
    """Meeting dates per unit in `year`, for previewing per-meeting stages."""
    stmt = select(Meeting.unit_key, Meeting.date).where(
        Meeting.date >= dt.date(year, 1, 1), Meeting.date <= dt.date(year, 12, 31)
    )
    found: dict[str, list[dt.date]] = defaultdict(list)
    with db.read() as session:
        for unit, day in session.execute(stmt.order_by(Meeting.date)):
            found[unit].append(day)
    return dict(found)


def preview(workflow: Workflow, year: int, meetings: dict[str, list[dt.date]] | None = None) -> dict:
    """The wheel `workflow` gives for `year`: every stage and input with its resolved deadline.

    Per-meeting stages get an instance per meeting in `meetings`; without meetings
    (None) they show their rule instead of dates.
    """
    from cycle import deadlines

    calendar = deadlines.working_days(workflow.holidays)
    stages = []
    for stage in workflow.stages:
        common = {"name": stage.name, "owner": stage.owner, "decided_by": stage.decided_by, "after": list(stage.after)}
        if stage.per_meeting is None:
            due = _dated(calendar, deadlines.nominal_date(stage.deadline, year), str(stage.deadline))
            stages.append({"key": stage.key, **common, **due, "inputs": _preview_inputs(stage, year, calendar, due)})
            continue
        rule = f"{stage.days_before_meeting} days before each {stage.per_meeting} meeting"
        if meetings is None:
            stages.append({"key": stage.key, **common, "rule": rule, "deadline": None, "moved": None,
                           "meeting": None, "inputs": _preview_inputs(stage, year, calendar, None)})  # fmt: skip
            continue
        for day in meetings.get(stage.per_meeting, []):
            due = _dated(calendar, day - dt.timedelta(days=stage.days_before_meeting), rule)
            stages.append({"key": f"{stage.key}@{day.isoformat()}", **common, **due, "meeting": day.isoformat(),
                           "inputs": _preview_inputs(stage, year, calendar, due)})  # fmt: skip
    return {"workflow": workflow.id, "name": workflow.name, "year": year, "timezone": workflow.timezone,
            "holidays": workflow.holidays, "meetings": None if meetings is None else "database",
            "stages": stages}  # fmt: skip


def _preview_inputs(stage, year: int, calendar, stage_due: dict | None) -> list[dict]:
    from cycle import deadlines

    rows = []
    for item in stage.inputs:
        if item.deadline is not None:
            due = _dated(calendar, deadlines.nominal_date(item.deadline, year), str(item.deadline))
        else:
            due = stage_due or {"rule": "the stage's deadline", "deadline": None, "moved": None}
        rows.append({"key": item.key, "name": item.name, "units": list(item.from_units),
                     "approved_by": item.approved_by, "required": item.required,
                     "rule": due["rule"], "deadline": due["deadline"], "moved": due["moved"]})  # fmt: skip
    return rows


def _dated(calendar: WorkingDays, nominal: dt.date, rule: str) -> dict:
    """A resolved deadline, and why it moved if the rule's date was not a working day."""
    due = calendar.on_or_before(nominal)
    moved = None
    if due != nominal:
        reason = calendar.holiday_name(nominal) or WEEKDAYS[nominal.weekday()]
        moved = {"from": nominal.isoformat(), "reason": reason}
    return {"rule": rule, "deadline": due.isoformat(), "moved": moved, "meeting": None}
