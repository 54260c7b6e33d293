"""A small wheel and organisation built in code, for tests that need exact control.

Three stages: `analys` (inputs `underlag` from bou and soc), `budget` after it,
and `ekrapport` once per ks meeting. People:
- admin: admin and auditor
- anna: owner and approver of ks
- per: approver of ks
- oskar: contributor of bou
- sara: contributor of soc
- rut: auditor only
"""

from __future__ import annotations

import datetime as dt

from cycle import cycles, organisation
from workflows.definition import (
    DeadlineRule,
    InputDef,
    MeetingDef,
    Organisation,
    PersonDef,
    ReminderPolicy,
    RoleDef,
    StageDef,
    UnitDef,
    Workflow,
)

UNITS = (UnitDef("kf", "Kommunfullmäktige"), UnitDef("ks", "Kommunstyrelsen"),
         UnitDef("bou", "Barn och utbildning", "ks"), UnitDef("soc", "Socialtjänst", "ks"))  # fmt: skip

PEOPLE = (
    PersonDef("admin", "Ada Admin", "admin@example.se", roles=(RoleDef("admin"), RoleDef("auditor"))),
    PersonDef("anna", "Anna Åberg", "anna@example.se", roles=(RoleDef("owner", "ks"), RoleDef("approver", "ks"))),
    PersonDef("per", "Per Persson", "per@example.se", roles=(RoleDef("approver", "ks"),)),
    PersonDef("oskar", "Oskar Öberg", "oskar@example.se", roles=(RoleDef("contributor", "bou"),)),
    PersonDef("sara", "Sara Sandberg", "sara@example.se", "en", roles=(RoleDef("contributor", "soc"),)),
    PersonDef("rut", "Rut Revisor", "rut@example.se", roles=(RoleDef("auditor"),)),
)

MEETINGS = tuple(MeetingDef("ks", dt.date(2027, m, d)) for m, d in ((2, 10), (4, 14), (9, 22))) + (
    MeetingDef("ks", dt.date(2028, 2, 9)),
)

ORG = Organisation(UNITS, PEOPLE, MEETINGS, source="tests/wheel.py")

WHEEL = Workflow(
    id="test", name="Testhjul", timezone="Europe/Stockholm", holidays="SE", reminders=ReminderPolicy(),
    stages=(
        StageDef("analys", "Omvärldsanalys", "ks", "ks", DeadlineRule(0, 12, 25),
                 inputs=(InputDef("underlag", "Underlag", ("bou", "soc"), "ks"),)),
        StageDef("budget", "Mål och budget", "ks", "ks", DeadlineRule(0, 6, 1), after=("analys",)),
        StageDef("ekrapport", "Ekonomisk rapport", "ks", "ks", per_meeting="ks", days_before_meeting=7),
    ),
    source="tests/wheel.py",
)  # fmt: skip


def started(db, year: int = 2027) -> str:
    """Load the organisation and start the wheel for `year`; returns the cycle id."""
    organisation.load_organisation(db, "admin", ORG)
    return cycles.start_cycle(db, "admin", WHEEL, year).cycle
