"""Moving a deadline by hand: the process owner chooses the day, and hears when it is not a working
day, since every deadline the definition sets is moved to the working day before such a day."""

from __future__ import annotations

import datetime as dt

from cycle import actions
from cycle.status import cycle_status

CYCLE = "ange-2027"


def test_a_deadline_moved_to_a_working_day_says_the_cycle_and_nothing_more(wheel):
    done = actions.set_deadline(wheel, "karin", CYCLE, "omvarldsanalys", dt.date(2026, 3, 12), "KS flyttar")
    assert done.what == f"stage 'omvarldsanalys' of {CYCLE}"
    assert done.notes == ()


def test_a_deadline_moved_to_a_saturday_is_kept_with_a_note_naming_the_working_day_before(wheel):
    done = actions.set_deadline(wheel, "karin", CYCLE, "omvarldsanalys", dt.date(2026, 3, 14), "KS flyttar")
    assert done.to_state == "2026-03-14"  # the owner's choice stands
    assert done.notes == (
        "2026-03-14 is a Saturday, not a working day (holidays SE); the definition's own deadlines "
        "move to the working day before, 2026-03-13",
    )


def test_a_deadline_moved_to_a_public_holiday_names_the_holiday(wheel):
    done = actions.set_deadline(wheel, "karin", CYCLE, "omvarldsanalys", dt.date(2026, 6, 19), "Midsommar")
    (note,) = done.notes
    assert note.startswith("2026-06-19 is Midsommarafton, not a working day (holidays SE)")
    assert note.endswith("the working day before, 2026-06-18")


def test_an_inputs_deadline_on_a_sunday_is_noted_too(wheel):
    done = actions.set_deadline(wheel, "karin", CYCLE, "budgetdialog", dt.date(2026, 4, 12), "Senare",
                                "budgetunderlag", "soc")  # fmt: skip
    assert done.what == f"input 'budgetunderlag' from unit 'soc' to stage 'budgetdialog' of {CYCLE}"
    assert done.notes[0].startswith("2026-04-12 is a Sunday")
    stage = next(s for s in cycle_status(wheel, "karin", CYCLE)["stages"] if s["key"] == "budgetdialog")
    assert (
        next(i for i in stage["inputs"] if i["unit"] == "soc" and i["key"] == "budgetunderlag")["deadline"]
        == "2026-04-12"
    )
