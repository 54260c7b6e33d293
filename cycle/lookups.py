"""Finding a cycle, a stage or an input by its keys, or saying what exists instead.

Shared by the use cases (`cycle.actions`) and the read side (`cycle.status`); kept apart
from the use cases so that reading imports no state machines.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from cycle.errors import NotFound
from cycle.models import Cycle, InputItem, Stage


def find_cycle(session: Session, cycle_id: str) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        known = ", ".join(session.execute(select(Cycle.id).order_by(Cycle.id)).scalars()) or "none yet"
        raise NotFound(f"unknown cycle '{cycle_id}' (cycles: {known})")
    return cycle


def find_stage(session: Session, cycle_id: str, key: str) -> Stage:
    find_cycle(session, cycle_id)
    stage = session.execute(select(Stage).where(Stage.cycle_id == cycle_id, Stage.key == key)).scalar_one_or_none()
    if stage is None:
        keys = session.execute(select(Stage.key).where(Stage.cycle_id == cycle_id).order_by(Stage.position))
        near = [k for k in keys.scalars() if k.startswith(key)][:5]
        hint = f"did you mean {', '.join(near)}?" if near else "see `arshjul status` for the stage keys"
        raise NotFound(f"unknown stage '{key}' in cycle {cycle_id}", hint)
    return stage


def find_input(session: Session, stage: Stage, key: str, unit: str) -> InputItem:
    item = session.execute(
        select(InputItem)
        .options(joinedload(InputItem.stage))
        .where(InputItem.stage_id == stage.id, InputItem.key == key, InputItem.unit_key == unit)
    ).scalar_one_or_none()
    if item is None:
        rows = session.execute(select(InputItem.key, InputItem.unit_key).where(InputItem.stage_id == stage.id)).all()
        if not rows:
            raise NotFound(f"stage '{stage.key}' has no inputs")
        keys = sorted({r.key for r in rows})
        units = sorted({r.unit_key for r in rows if r.key == key})
        if key not in keys:
            raise NotFound(f"unknown input '{key}' in stage '{stage.key}' (inputs: {', '.join(keys)})")
        raise NotFound(f"input '{key}' of stage '{stage.key}' has no unit '{unit}' (units: {', '.join(units)})")
    return item
