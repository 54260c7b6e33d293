"""The same seven-stage yearly process in SpiffWorkflow and in arshjul, persisted after every decision.

The process: 7 stages one after the other (`bench.common.linear_wheel(7)`; in BPMN
`bench/yearly.bpmn`, written by `bench/yearly_bpmn.py`). Each stage takes three decisions
by people in roles: the owner opens it, the owner submits it, an approver of the deciding
unit who is not the submitter (four-eyes) approves it; an approver may instead return it,
which opens it again. A step is one stage taken to approved, so three decisions, and a
decision is what one request of a stateless service (or one CLI command) does:
- SpiffWorkflow (bench-only dependency, `bench/requirements.txt`): read the workflow's
  JSON from its row, deserialise it, take the ready user task and check it is the one the
  request names, that its lane (`owner` / `approver`) is a role of the person acting and,
  for a decision, that the person did not submit (the submitter is kept in the task
  data); set the task data (by, comment, ref, decision), run the task and the engine
  steps (the gateway after a decision returns or goes on), serialise the workflow with
  `BpmnWorkflowSerializer`, upsert the row, commit;
- arshjul: the use cases `stage open` and `stage submit` by the owner and `stage approve`
  by an approver, each its own transaction that reads the person and their grants, runs
  the guards (role, stage order, four-eyes from the log) and appends the hash-chained
  log entry.

So both sides take the same decisions by the same people under the same rules. Both write
into the same kind of SQLite file, through `cycle.database.make_engine`. Where they still
differ: the service's roles come from memory (`ROLES`, as from a login session), while
arshjul reads them from the database; and SpiffWorkflow keeps no log of who decided what
beyond the task data in its JSON, which grows with every task.

Figures: `*_step_ms` per stage (three decisions), `*_decision_ms` a third of it.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Column, MetaData, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite

from bench.common import Databases, Timing, linear_wheel, loaded, organisation
from cycle import actions
from cycle.cycles import start_cycle

BPMN = Path(__file__).with_name("yearly.bpmn")
STEPS = 7
DECISIONS = 3  # per step: open, submit, decide
_META = MetaData()
SPIFF_ROW = Table("spiff_workflow", _META, Column("id", String(64), primary_key=True), Column("state", Text))
# The roles arshjul's bench organisation gives each person (all in ks): who may act in which lane.
ROLES = {p.username: {r.role for r in p.roles} for p in organisation(0).people}


def run(dbs: Databases, repeat: int) -> dict:
    spiff, ours = Timing(), Timing()
    spiff_db = dbs.fresh("spiff")
    _META.create_all(spiff_db.engine)
    engine = spiff_db.engine
    db = loaded(dbs.fresh("peers"), 0)
    wheel = linear_wheel(STEPS, wid="yearly")
    spec, serializer = _spiff_spec()
    for n in range(repeat):
        wid = f"yearly-{n}"
        _spiff_create(engine, spec, serializer, wid)
        start = time.perf_counter()
        for step in range(STEPS):
            _spiff_step(engine, serializer, wid, f"s{step:02d}")
        spiff.runs.append((time.perf_counter() - start) / STEPS)
        cid = start_cycle(db, "admin", wheel, 2100 + n).cycle
        start = time.perf_counter()
        for step in range(STEPS):
            _arshjul_step(db, cid, f"s{step:02d}")
        ours.runs.append((time.perf_counter() - start) / STEPS)
    return {
        "spiff_step_ms": round(spiff.median * 1000, 3),
        "arshjul_step_ms": round(ours.median * 1000, 3),
        "spiff_vs_arshjul": round(spiff.median / ours.median, 2),
        "spiff_decision_ms": round(spiff.median * 1000 / DECISIONS, 3),
        "arshjul_decision_ms": round(ours.median * 1000 / DECISIONS, 3),
        "_spread": {"spiff_step_ms": spiff.spread(1000, " ms"), "arshjul_step_ms": ours.spread(1000, " ms")},
    }


def available() -> bool:
    """Whether the bench-only dependency is installed."""
    import importlib.util

    return importlib.util.find_spec("SpiffWorkflow") is not None


def _arshjul_step(db, cid: str, stage: str) -> None:
    actions.open_stage(db, "owner", cid, stage)
    actions.submit_stage(db, "owner", cid, stage, ref=f"KS {stage}")
    actions.approve_stage(db, "anna", cid, stage, comment="Godkänt")


def _spiff_spec():
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    return parser.get_spec("yearly"), BpmnWorkflowSerializer()


def _spiff_create(engine, spec, serializer, wid: str) -> None:
    from SpiffWorkflow.bpmn import BpmnWorkflow

    workflow = BpmnWorkflow(spec)
    workflow.do_engine_steps()
    _upsert(engine, wid, serializer.serialize_json(workflow))


def _spiff_step(engine, serializer, wid: str, stage: str) -> None:
    # The same three decisions by the same people as _arshjul_step, one request each.
    _spiff_decision(engine, serializer, wid, f"{stage}_open", "owner", {})
    _spiff_decision(engine, serializer, wid, f"{stage}_submit", "owner", {"ref": f"KS {stage}"})
    _spiff_decision(engine, serializer, wid, f"{stage}_decide", "anna", {"comment": "Godkänt", "decision": "approve"})


def _spiff_decision(engine, serializer, wid: str, task_name: str, actor: str, data: dict) -> None:
    """One request: load, check who may do it, run the task, save."""
    from SpiffWorkflow.util.task import TaskState

    with engine.connect() as conn:
        state = conn.execute(select(SPIFF_ROW.c.state).where(SPIFF_ROW.c.id == wid)).scalar_one()
    workflow = serializer.deserialize_json(state)
    task = workflow.get_next_task(state=TaskState.READY, manual=True)
    if task is None or task.task_spec.name != task_name:
        raise RuntimeError(f"SpiffWorkflow is not at {task_name}: {task}")
    _spiff_guard(task, actor)
    task.data.update({"by": actor, "comment": None, "ref": None, **data})
    if task_name.endswith("_submit"):
        task.data["submitted_by"] = actor  # the engine keeps no log the four-eyes check could read
    task.run()
    workflow.do_engine_steps()
    _upsert(engine, wid, serializer.serialize_json(workflow))


def _spiff_guard(task, actor: str) -> None:
    """What arshjul's guards check and BPMN does not: the actor's role, and four-eyes."""
    lane = task.task_spec.lane
    if lane not in ROLES.get(actor, ()):
        raise PermissionError(f"{actor} does not act as {lane}: {task.task_spec.bpmn_name}")
    if task.task_spec.name.endswith("_decide") and task.data.get("submitted_by") == actor:
        raise PermissionError(f"{actor} submitted and may not also decide (four-eyes): {task.task_spec.bpmn_name}")


def _upsert(engine, wid: str, state: str) -> None:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(SPIFF_ROW).values(id=wid, state=state)
    stmt = stmt.on_conflict_do_update(index_elements=[SPIFF_ROW.c.id], set_={"state": stmt.excluded.state})
    with engine.begin() as conn:
        conn.execute(stmt)
