"""The same seven-step yearly process in SpiffWorkflow and in arshjul, persisted after every step.

A step is what one request of a stateless service (or one CLI command) does:
- SpiffWorkflow (bench-only dependency, `bench/requirements.txt`): read the workflow's
  JSON from its row, deserialise it, complete the ready user task with some data, run the
  engine steps, serialise it with `BpmnWorkflowSerializer` and upsert the row, commit;
- arshjul: the use cases that move one stage of a 7-stage linear wheel (`bench.common.
  linear_wheel(7)`) to approved: `stage open`, `stage submit` by the owner, `stage approve`
  by an approver, each its own transaction with its guards and its hash-chained log entry.

Both write into the same kind of SQLite file, through `cycle.database.make_engine`.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Column, MetaData, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite

from bench.common import Databases, Timing, linear_wheel, loaded
from cycle import actions
from cycle.cycles import start_cycle

BPMN = Path(__file__).with_name("yearly.bpmn")
STEPS = 7
_META = MetaData()
SPIFF_ROW = Table("spiff_workflow", _META, Column("id", String(64), primary_key=True), Column("state", Text))


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
            _spiff_step(engine, serializer, wid, step)
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


def _spiff_step(engine, serializer, wid: str, step: int) -> None:
    from SpiffWorkflow.util.task import TaskState

    with engine.connect() as conn:
        state = conn.execute(select(SPIFF_ROW.c.state).where(SPIFF_ROW.c.id == wid)).scalar_one()
    workflow = serializer.deserialize_json(state)
    task = workflow.get_next_task(state=TaskState.READY, manual=True)
    if task is None or task.task_spec.name != f"s{step:02d}":
        raise RuntimeError(f"SpiffWorkflow is not at step {step}: {task}")
    task.data.update({"by": "anna", "comment": "Godkänt", "ref": f"KS s{step:02d}"})
    task.run()
    workflow.do_engine_steps()
    _upsert(engine, wid, serializer.serialize_json(workflow))


def _upsert(engine, wid: str, state: str) -> None:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(SPIFF_ROW).values(id=wid, state=state)
    stmt = stmt.on_conflict_do_update(index_elements=[SPIFF_ROW.c.id], set_={"state": stmt.excluded.state})
    with engine.begin() as conn:
        conn.execute(stmt)
