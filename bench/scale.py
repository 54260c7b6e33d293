"""Starting a cycle of 6,000 inputs, and `reminders plan` as open inputs pile up.

The plan database holds open stages (opened a month before the moment planned, so
their `opened` notices are old news) whose inputs are bulk-inserted: exactly `DUE`
of them have a deadline four days after the moment (their `before-7` slot is due),
all the others are due in the autumn. The same database grows from 10k to 100k to
300k open inputs; the due work stays the same, so the growth of the plan's time is
what the inputs that are not due cost.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from bench.common import NOW, Databases, linear_wheel, loaded, timed, unit_key
from cycle import actions
from cycle.agenda import remind_from
from cycle.clock import FixedClock
from cycle.cycles import policy_json, start_cycle
from cycle.models import InputItem, Stage
from notifications.service import plan_reminders
from workflows.definition import ReminderPolicy

UNITS = 300
DUE = 1000
SOON = (NOW + dt.timedelta(days=4)).date()
LATER = dt.date(2027, 10, 15)


def cycle_start(dbs: Databases, repeat: int) -> dict:
    db = loaded(dbs.fresh("start"), UNITS)
    wheel = linear_wheel(4, 5, UNITS, "start")  # 4 stages × 5 inputs × 300 units = 6,000 input rows
    years = iter(range(2027, 2027 + repeat))
    started = []
    timing = timed(lambda: started.append(start_cycle(db, "admin", wheel, next(years))), repeat)
    assert started[0].inputs == 6000, started[0]
    key = "cycle_start_s_6000_inputs"
    return {key: round(timing.median, 4), "_spread": {key: timing.spread(unit=" s")}}


def plan(dbs: Databases, sizes: tuple[int, ...], repeat: int) -> dict:
    db = loaded(dbs.fresh("plan"), UNITS)
    stages = _open_stages(db, 10)
    out: dict = {"_spread": {}}
    have = 0
    for size in sizes:
        _add_inputs(db, stages, have, size)
        have = size
        rows = plan_reminders(db, "admin", NOW)
        assert len(rows) == DUE, f"{len(rows)} reminders planned, expected {DUE}"
        timing = timed(lambda: plan_reminders(db, "admin", NOW), repeat)
        key = f"plan_ms_{size // 1000}k"
        out[key] = round(timing.median * 1000, 2)
        out["_spread"][key] = timing.spread(1000, " ms")
    return out


def _open_stages(db, count: int) -> list[int]:
    """`count` open stages of one cycle, opened a month before the moment planned."""
    wheel = linear_wheel(count, 0, 0, "plan", chained=False, first_month=11)  # the stages are due in Nov-Dec
    cid = start_cycle(db, "admin", wheel, 2027).cycle
    now, db.clock = db.clock, FixedClock(NOW - dt.timedelta(days=30))
    for n in range(count):
        actions.open_stage(db, "owner", cid, f"s{n:02d}")
    db.clock = now
    with db.read() as session:
        return list(session.execute(select(Stage.id).where(Stage.cycle_id == cid).order_by(Stage.position)).scalars())


def _add_inputs(db, stages: list[int], first: int, last: int) -> None:
    """Input rows `first`…`last - 1`, spread over the stages; the first `DUE` are due soon."""
    policy = policy_json(ReminderPolicy())
    soon, later = remind_from(SOON, policy), remind_from(LATER, policy)
    rows = [
        {
            "stage_id": stages[n % len(stages)],
            "key": f"in{n // (UNITS * len(stages)):04d}",
            "name": f"Underlag {n}",
            "position": n // (UNITS * len(stages)),
            "unit_key": unit_key(n // len(stages) % UNITS),
            "approved_by_unit": "ks",
            "required": True,
            "state": "missing",
            "version": 1,
            "deadline": SOON if n < DUE else LATER,
            "reminders": policy,
            "remind_from": soon if n < DUE else later,
        }  # fmt: skip
        for n in range(first, last)
    ]
    with db.write() as session:
        session.connection().execute(insert(InputItem.__table__), rows)  # Core executemany: no ORM per row
