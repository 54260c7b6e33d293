"""Finding a cycle, a stage or an input by its keys, or saying what exists instead.

Shared by the use cases (`cycle.actions`) and the read side (`cycle.status`); kept apart
from the use cases so that reading imports no state machines.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager

from cycle.errors import NotFound
from cycle.models import Cycle, InputItem, Stage


def find_cycle(session: Session, cycle_id: str) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        known = ", ".join(session.execute(select(Cycle.id).order_by(Cycle.id)).scalars()) or "none yet"
        raise NotFound(f"unknown cycle '{cycle_id}' (cycles: {known})")
    return cycle


# Built once: the use cases run them on every action (see cycle.people._PERSON).
_STAGE = select(Stage).where(Stage.cycle_id == bindparam("cycle"), Stage.key == bindparam("stage"))
_STAGE_INPUT = (
    select(InputItem)
    .join(InputItem.stage)
    .options(contains_eager(InputItem.stage))
    .where(Stage.cycle_id == bindparam("cycle"), Stage.key == bindparam("stage"))
    .where(InputItem.key == bindparam("input"), InputItem.unit_key == bindparam("unit"))
)


def find_stage(session: Session, cycle_id: str, key: str) -> Stage:
    stage = session.execute(_STAGE, {"cycle": cycle_id, "stage": key}).scalar_one_or_none()
    if stage is None:
        find_cycle(session, cycle_id)  # an unknown cycle is named as such
        keys = session.execute(select(Stage.key).where(Stage.cycle_id == cycle_id).order_by(Stage.position))
        near = [k for k in keys.scalars() if k.startswith(key)][:5]
        hint = f"did you mean {', '.join(near)}?" if near else "see `arshjul status` for the stage keys"
        raise NotFound(f"unknown stage '{key}' in cycle {cycle_id}", hint)
    return stage


def find_stage_input(session: Session, cycle_id: str, stage_key: str, key: str, unit: str) -> InputItem:
    """An input with its stage, in one query; what is unknown is named as `find_input` does."""
    keys = {"cycle": cycle_id, "stage": stage_key, "input": key, "unit": unit}
    item = session.execute(_STAGE_INPUT, keys).scalar_one_or_none()
    return item if item is not None else find_input(session, find_stage(session, cycle_id, stage_key), key, unit)


def find_input(session: Session, stage: Stage, key: str, unit: str) -> InputItem:
    stmt = select(InputItem).where(InputItem.stage_id == stage.id, InputItem.key == key, InputItem.unit_key == unit)
    item = session.execute(stmt).scalar_one_or_none()  # its stage is `stage`, already in the session
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
