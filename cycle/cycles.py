"""Starting a definition's cycle for a year, and listing cycles.

A cycle is instantiated in bulk: the stage rows in one multi-row INSERT with
RETURNING, then every input row in another, so a wheel with thousands of inputs
starts in well under a second. The log entry that records the start carries a
fingerprint of every instance and its first deadline, which `audit verify`
recomputes to prove no instance was added, removed or re-dated since.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cycle import deadlines, log, people
from cycle.agenda import remind_from
from cycle.database import Database
from cycle.encoding import require_utf8
from cycle.errors import BadInput, NotFound, Refused
from cycle.models import Cycle, InputItem, InputState, LogEntry, Meeting, Stage, StageState, Unit
from workflows.checks import Problems, suggestion
from workflows.definition import ReminderPolicy, StageDef, Workflow


@dataclass(frozen=True)
class Started:
    cycle: str
    stages: int
    inputs: int
    seq: int
    warnings: tuple[str, ...] = ()  # the definition's own (as `workflow check` gives them), then the year's plan's


def cycle_id(workflow: Workflow, year: int) -> str:
    return f"{workflow.id}-{year}"


def start_cycle(db: Database, actor: str, workflow: Workflow, year: int) -> Started:
    file_name = _file_name(workflow)
    with db.write() as session:
        person = people.person(session, actor)
        people.require(person, "admin", None, f"start a cycle of {workflow.id}")
        cid = cycle_id(workflow, year)
        if session.get(Cycle, cid) is not None:
            raise _already_started(session, workflow, year, cid)
        _require_units(session, workflow)
        stages, warnings = _plan_stages(session, workflow, year)
        session.add(Cycle(id=cid, workflow_id=workflow.id, year=year, name=workflow.name,
                          timezone=workflow.timezone, holidays=workflow.holidays,
                          started_at=db.clock.now().astimezone(dt.UTC).replace(tzinfo=None)))  # fmt: skip
        session.flush()
        inputs = _insert_rows(session, cid, stages)
        detail = {"workflow": workflow.id, "year": year, "stages": len(stages), "inputs": len(inputs),
                  "fingerprint": fingerprint(_instances(stages, inputs))}  # fmt: skip
        if workflow.file_sha256:  # what an auditor can check the kept file against with `sha256sum`
            detail["file_sha256"] = workflow.file_sha256
        event = log.Event("cycle_start", cycle=cid, to_state="started", detail=log.detail_json(detail),
                          comment=file_name)  # fmt: skip
        entry = log.append(session, actor, db.clock.now(), event)
        return Started(cid, len(stages), len(inputs), entry.seq, (*_own_warnings(workflow), *warnings))


def _own_warnings(workflow: Workflow) -> tuple[str, ...]:
    """What `workflow check` warns of in the definition, as it words it (`FILE: path: why (line N)`): the admin
    starting the year's cycle should see it too."""
    return tuple(f"{workflow.source}: {warning}" for warning in workflow.warnings)


def _file_name(workflow: Workflow) -> str | None:
    """The definition's file as given, kept like `org load`'s; None for one built in memory."""
    if workflow.file_sha256 is None:
        return None
    require_utf8(workflow.source, f"the file name {ascii(workflow.source)}")
    return workflow.source


def list_cycles(db: Database) -> list[dict]:
    with db.read() as session:
        rows = session.execute(select(Cycle).order_by(Cycle.year, Cycle.id)).scalars()
        return [{"cycle": c.id, "workflow": c.workflow_id, "year": c.year, "name": c.name} for c in rows]


def fingerprint(instances: list[tuple]) -> str:
    """SHA-256 over the sorted (stage, input, unit, first deadline) of every instance."""
    return hashlib.sha256(log.canonical(sorted(instances, key=_sort_key))).hexdigest()


def _sort_key(instance: tuple) -> tuple:
    return tuple("" if v is None else v for v in instance)


def _instances(stages: list[dict], inputs: list[dict]) -> list[tuple]:
    keys = {s["id"]: s["key"] for s in stages}
    return [(s["key"], None, None, s["deadline"].isoformat()) for s in stages] + [
        (keys[i["stage_id"]], i["key"], i["unit_key"], i["deadline"].isoformat()) for i in inputs
    ]


def _already_started(session: Session, workflow: Workflow, year: int, cid: str) -> Refused:
    """A started cycle keeps its instances; say so, and whether the file would now give others."""
    starts = select(LogEntry).where(LogEntry.cycle == cid, LogEntry.event == "cycle_start").order_by(LogEntry.seq)
    entry = session.scalars(starts).first()
    lines = [f"cycle {cid} already exists" + (f": {entry.actor} started it (log #{entry.seq})" if entry else "")]
    started_with = json.loads(entry.detail or "{}").get("fingerprint") if entry else None
    if started_with and started_with != _planned_fingerprint(session, workflow, year):
        lines.append(f"{workflow.source} differs from what {cid} was started with: it gives other stages, inputs "
                     "or deadlines (with the meetings loaded now)")  # fmt: skip
    hint = (f"{cid} keeps the definition it was started with: move a deadline in it with `arshjul deadline set`; "
            f"a changed file applies to the cycles started after it (e.g. --year {year + 1})")  # fmt: skip
    return Refused("\n".join(lines), hint)


def _planned_fingerprint(session: Session, workflow: Workflow, year: int) -> str | None:
    """The fingerprint the file would give the cycle now; None if it cannot be planned at all."""
    try:
        stages, _ = _plan_stages(session, workflow, year)
    except BadInput:
        return None
    stages = [{**stage, "id": n} for n, stage in enumerate(stages)]
    return fingerprint(_instances(stages, [row for stage in stages for row in _input_rows(stage)]))


def _require_units(session: Session, workflow: Workflow) -> None:
    """Every unit the definition names exists; if not, each place that names one is shown."""
    known = set(session.execute(select(Unit.key)).scalars())
    places = Problems(workflow.lines)
    for path, unit in workflow.unit_references():
        if unit not in known:
            places.add(path, f"{unit!r}{suggestion(unit, known)}")
    if places.items:
        missing = sorted({unit for _, unit in workflow.unit_references()} - known)
        head = f"{workflow.source} names units the organisation does not have: {', '.join(missing)}"
        raise NotFound("\n".join([head, *(f"{workflow.source}: {place}" for place in places.items)]),
                       "add them to the organisation file and run `arshjul org load`, or correct the keys")  # fmt: skip


def _plan_stages(session: Session, workflow: Workflow, year: int) -> tuple[list[dict], list[str]]:
    calendar = deadlines.working_days(workflow.holidays)
    rows: list[dict] = []
    warnings: list[str] = []
    for index, stage in enumerate(workflow.stages):
        if stage.per_meeting is None:
            due = deadlines.resolve(stage.deadline, year, calendar)
            rows.append(_stage_row(stage, stage.key, index * 1000, due))
            continue
        meetings = _meetings(session, stage.per_meeting, year)
        if not meetings:
            warnings.append(f"stage '{stage.key}': unit '{stage.per_meeting}' has no meetings in {year}")
        for n, day in enumerate(meetings):
            due = deadlines.meeting_deadline(day, stage.days_before_meeting, calendar)
            rows.append(_stage_row(stage, f"{stage.key}@{day.isoformat()}", index * 1000 + n, due, day))
    for row in rows:
        row["input_deadlines"] = _input_deadlines(row["definition"], year, calendar)
    return rows, warnings + _late_waits(rows)


def _late_waits(rows: list[dict]) -> list[str]:
    """Stages due before a stage they wait for is due (a fixed deadline after the per-meeting
    stage of a December meeting, say): they can only open after their own deadline. Only pairs
    with a per-meeting stage: between two fixed deadlines, the definition's check refuses it."""
    instances: dict[str, list[dict]] = {}
    for row in rows:
        instances.setdefault(row["definition_key"], []).append(row)
    warnings = []
    for key, own in instances.items():
        for before_key in own[0]["after"]:
            before = instances.get(before_key)
            if not before or not (_per_meeting(own) or _per_meeting(before)):
                continue
            last = max(before, key=lambda row: row["deadline"])
            late = [row for row in own if row["deadline"] < last["deadline"]]
            if late:
                warnings.append(_late_wait(key, late, before_key, last))
    return warnings


def _per_meeting(instances: list[dict]) -> bool:
    return instances[0]["definition"].per_meeting is not None


def _late_wait(key: str, late: list[dict], before_key: str, last: dict) -> str:
    first = late[0]
    more = f", nor can {len(late) - 1} more instance(s) of '{key}'" if len(late) > 1 else ""
    waits = f"'{before_key}', due {last['deadline']}"
    if last["meeting_date"] is not None:
        unit = last["definition"].per_meeting
        waits = (f"every instance of '{before_key}', the last due {last['deadline']} "
                 f"(for the {unit} meeting on {last['meeting_date']})")  # fmt: skip
    return (f"stage '{first['key']}' is due {first['deadline']} but waits for {waits}: it cannot open before its "
            f"deadline{more}; move its deadline with `arshjul deadline set`, or take '{before_key}' out of its "
            "'after' for the cycles to come")  # fmt: skip


def _meetings(session: Session, unit: str, year: int) -> list[dt.date]:
    stmt = select(Meeting.date).where(
        Meeting.unit_key == unit, Meeting.date >= dt.date(year, 1, 1), Meeting.date <= dt.date(year, 12, 31)
    )
    return sorted(session.execute(stmt).scalars())


def _stage_row(stage: StageDef, key: str, position: int, due: dt.date, meeting: dt.date | None = None) -> dict:
    """Column values of one stage instance, plus the definition its inputs are made from."""
    return {
        "key": key, "definition_key": stage.key, "name": stage.name, "position": position,
        "state": StageState.PENDING.value, "version": 1, "owner_unit": stage.owner,
        "decided_by_unit": stage.decided_by, "after": list(stage.after), "deadline": due,
        "meeting_date": meeting, "reminders": policy_json(stage.reminders), "definition": stage,
    }  # fmt: skip


def policy_json(policy: ReminderPolicy) -> dict:
    data = dataclasses.asdict(policy)
    data["before_days"] = list(policy.before_days)
    return data


def _insert_rows(session: Session, cid: str, stages: list[dict]) -> list[dict]:
    columns = [c.key for c in Stage.__table__.columns if c.key != "id"]
    values = [{**{k: s[k] for k in columns if k in s}, "cycle_id": cid} for s in stages]
    if values:
        ids = session.scalars(insert(Stage).returning(Stage.id, sort_by_parameter_order=True), values).all()
        for stage, new_id in zip(stages, ids, strict=True):
            stage["id"] = new_id
    inputs = [row for stage in stages for row in _input_rows(stage)]
    if inputs:
        session.execute(insert(InputItem), inputs)
    return inputs


def _input_rows(stage: dict) -> list[dict]:
    definition: StageDef = stage["definition"]
    rows = []
    for position, item in enumerate(definition.inputs):
        due = stage["input_deadlines"].get(item.key, stage["deadline"])
        reminders = policy_json(item.reminders)
        for unit in item.from_units:
            rows.append({
                "stage_id": stage["id"], "key": item.key, "name": item.name, "position": position,
                "unit_key": unit, "approved_by_unit": item.approved_by, "required": item.required,
                "state": InputState.MISSING.value, "version": 1, "deadline": due, "reminders": reminders,
                "remind_from": remind_from(due, reminders),
            })  # fmt: skip
    return rows


def _input_deadlines(stage: StageDef, year: int, calendar: deadlines.WorkingDays) -> dict[str, dt.date]:
    """Inputs with a rule of their own; the others share the stage instance's deadline."""
    return {i.key: deadlines.resolve(i.deadline, year, calendar) for i in stage.inputs if i.deadline}
