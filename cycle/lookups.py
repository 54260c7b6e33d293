"""Finding a cycle, a stage or an input by its keys, or saying what exists instead.

Shared by the use cases (`cycle.actions`) and the read side (`cycle.status`); kept apart
from the use cases so that reading imports no state machines.
"""

from __future__ import annotations

import difflib
import unicodedata

from sqlalchemy import bindparam, select, union
from sqlalchemy.orm import Session, contains_eager

from cycle.errors import NotFound
from cycle.log import LogFilter
from cycle.models import Cycle, InputItem, LogEntry, Person, Stage, Unit


def row_name(key: tuple) -> str:
    """A stage or input row, by its key (cycle, stage, input, unit), as a person names it."""
    cycle_id, stage, item, unit = key
    if item:
        return f"input '{item}' from unit '{unit}' to stage '{stage}' of {cycle_id}"
    return f"stage '{stage}' of {cycle_id}"


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


# --- what a log filter names -----------------------------------------------------


def require_log_subjects(session: Session, flt: LogFilter) -> None:
    """Each cycle, stage, input, unit and actor a log query names is one arshjul knows, in the
    cycle's rows (every cycle's if none is named), the organisation or the log itself; else
    NotFound with the close matches, since an empty log for a typo would read as "nothing happened"."""
    cycle_id, stage, input_key, unit, actor = flt.cycle, flt.stage, flt.input, flt.unit, flt.actor
    if cycle_id is not None:
        find_cycle(session, cycle_id)
    in_cycle = f" in cycle {cycle_id}" if cycle_id else ""
    where = f"`arshjul status {cycle_id or 'CYCLE'}`"
    for kind, value, sources, said, hint in (
        ("stage", stage, _stage_sources(cycle_id), f"unknown stage '{stage}'{in_cycle}"
         + ("" if cycle_id else ": no cycle has it and the log names it nowhere"), f"{where} shows the stage keys"),
        ("input", input_key, _input_sources(cycle_id), f"unknown input '{input_key}'{in_cycle}"
         + ("" if cycle_id else ": no stage has it and the log names it nowhere"), f"{where} shows the input keys"),
        ("unit", unit, (select(Unit.key), select(InputItem.unit_key), select(LogEntry.unit)),
         f"unknown unit '{unit}': not in the organisation and the log names it nowhere", None),
        ("person", actor, (select(Person.username), select(LogEntry.actor)),
         f"unknown person '{actor}': not in the organisation and nobody of that name is in the log",
         "name a person by their username"),
    ):  # fmt: skip
        if value is not None and not _known(session, sources, value):
            raise NotFound(said, _suggest(value, _all_known(session, sources), kind, hint))


def _stage_sources(cycle_id: str | None) -> tuple:
    rows, logged = select(Stage.key), select(LogEntry.stage)
    if cycle_id is None:
        return rows, logged
    return rows.where(Stage.cycle_id == cycle_id), logged.where(LogEntry.cycle == cycle_id)


def _input_sources(cycle_id: str | None) -> tuple:
    rows, logged = select(InputItem.key).join(Stage), select(LogEntry.input)
    if cycle_id is None:
        return rows, logged
    return rows.where(Stage.cycle_id == cycle_id), logged.where(LogEntry.cycle == cycle_id)


def _known(session: Session, sources: tuple, value: str) -> bool:
    """Whether any source holds `value`; the definitions first, the log (the largest) last."""
    for stmt in sources:
        column = stmt.selected_columns[0]
        if session.execute(select(stmt.where(column == value).exists())).scalar():
            return True
    return False


def _all_known(session: Session, sources: tuple) -> list[str]:
    stmt = union(*(s.where(s.selected_columns[0].is_not(None)) for s in sources))
    return sorted(session.execute(stmt).scalars())


def _suggest(value: str, known: list[str], kind: str, hint: str | None) -> str:
    """`did you mean …?` (see `close_matches`); else the hint, or every key if there are few."""
    near = close_matches(value, known)
    if near:
        more = len(near) - SUGGESTED
        return f"did you mean {', '.join(near[:SUGGESTED])}{f' (or {more} more)' if more > 0 else ''}?"
    if hint is None or len(known) <= 10:
        return f"{kind}s: {', '.join(known) or 'none yet'}"
    return hint


SUGGESTED = 5


def close_matches(value: str, known: list[str]) -> list[str]:
    """Keys `value` may have meant: the same in other letter case or without accents (keys are
    ASCII; `omvärldsanalys` is `omvarldsanalys`), the keys it begins (a per-meeting stage without
    its date), in order, then spellings near it, nearest first."""
    folded = _folded(value)
    by_fold = {_folded(k): k for k in known}
    same = [k for k in known if _folded(k) == folded]
    begun = [k for k in known if folded and _folded(k).startswith(folded)]
    similar = [by_fold[m] for m in difflib.get_close_matches(folded, list(by_fold), n=SUGGESTED, cutoff=0.75)]
    return list(dict.fromkeys(same + begun + similar))


def _folded(text: str) -> str:
    """Lower case without accents: å, ä → a, ö → o, é → e."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
