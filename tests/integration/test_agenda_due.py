"""The agenda reads only the inputs that may be due, and misses none that are.

`input.remind_from` narrows the read in SQL; the planner then decides exactly. Whatever
the moment, the plan from the narrowed agenda must equal the plan from every open input.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from cycle import actions, agenda
from cycle.models import InputItem
from notifications import planner
from tests.integration.conftest import local


def full(session, since, until) -> agenda.Agenda:
    """The agenda as if every waiting input of an open stage could be due."""
    found = agenda.read(session, since, until)
    everything = agenda._open_inputs(session, dt.date.max, set()) + agenda._open_stages(session)
    everything = agenda._with_history(session, everything, until)
    return dataclasses.replace(found, work=tuple(everything))


def test_the_narrowed_plan_equals_the_plan_of_all_open_work_on_every_day(wheel, clock):
    clock.set(local("2026-01-12T09:00"))
    actions.open_stage(wheel, "karin", "ange-2027", "omvarldsanalys")
    actions.submit_input(wheel, "sara", "ange-2027", "omvarldsanalys", "verksamhetsanalys", "bou")
    later = dt.date(2026, 9, 30)
    actions.set_deadline(wheel, "karin", "ange-2027", "omvarldsanalys", later, "Later", "verksamhetsanalys", "soc")
    moment = local("2026-01-12T06:30")  # from inside the window of the stage's `opened` notice
    narrowed = []
    with wheel.read() as session:
        for _ in range(250):
            moment += dt.timedelta(days=1, hours=3)
            window = (moment - dt.timedelta(days=4), moment)
            expected = planner.plan(full(session, *window), moment)
            found = agenda.read(session, *window)
            assert planner.plan(found, moment) == expected, moment
            narrowed.append(len(found.work))
    assert min(narrowed) < max(narrowed)  # early on, inputs not yet due were not read


def test_moving_a_deadline_moves_the_first_reminder_day(wheel, clock):
    clock.set(local("2026-01-12T09:00"))
    stage, item, unit = "omvarldsanalys", "verksamhetsanalys", "bou"
    actions.set_deadline(wheel, "karin", "ange-2027", stage, dt.date(2026, 6, 30), "Later", item, unit)
    with wheel.read() as session:
        row = session.execute(select(InputItem).where(InputItem.key == item, InputItem.unit_key == unit)).scalar_one()
    assert row.remind_from == dt.date(2026, 6, 30) - dt.timedelta(days=max(row.reminders["before_days"]))
