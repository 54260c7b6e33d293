"""The validated, immutable shape of a workflow definition and an organisation file.

These are plain data: `workflows.loader` builds them from YAML, `cycle` consumes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

STAGE_ROLES = ("owner", "contributor", "approver")
GLOBAL_ROLES = ("auditor", "admin")
ROLES = STAGE_ROLES + GLOBAL_ROLES
LOCALES = ("sv", "en")


@dataclass(frozen=True)
class DeadlineRule:
    """`Y±N-MM-DD`: month and day in the cycle's year shifted by `year_offset`."""

    year_offset: int
    month: int
    day: int

    def date_in(self, year: int) -> dt.date:
        return dt.date(year + self.year_offset, self.month, self.day)

    def __str__(self) -> str:
        offset = f"{self.year_offset:+d}" if self.year_offset else ""
        return f"Y{offset}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class ReminderPolicy:
    before_days: tuple[int, ...] = (14, 7, 1)
    on_deadline: bool = True
    overdue_every_days: int | None = 3
    escalate_after_days: int | None = 3


@dataclass(frozen=True)
class InputDef:
    key: str
    name: str
    from_units: tuple[str, ...]
    approved_by: str
    deadline: DeadlineRule | None = None  # None: the stage's deadline
    required: bool = True
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)


@dataclass(frozen=True)
class StageDef:
    key: str
    name: str
    owner: str
    decided_by: str
    deadline: DeadlineRule | None = None  # None only for per-meeting stages
    after: tuple[str, ...] = ()
    inputs: tuple[InputDef, ...] = ()
    per_meeting: str | None = None  # unit whose meetings each get an instance
    days_before_meeting: int = 0
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)


@dataclass(frozen=True)
class Workflow:
    id: str
    name: str
    timezone: str
    holidays: str
    reminders: ReminderPolicy
    stages: tuple[StageDef, ...]
    source: str = "<memory>"

    def stage(self, key: str) -> StageDef:
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)


@dataclass(frozen=True)
class UnitDef:
    key: str
    name: str
    parent: str | None = None


@dataclass(frozen=True)
class RoleDef:
    role: str
    unit: str | None = None  # None for the global roles auditor and admin


@dataclass(frozen=True)
class PersonDef:
    username: str
    name: str
    email: str
    locale: str = "sv"
    roles: tuple[RoleDef, ...] = ()


@dataclass(frozen=True)
class MeetingDef:
    unit: str
    date: dt.date


@dataclass(frozen=True)
class Organisation:
    units: tuple[UnitDef, ...]
    people: tuple[PersonDef, ...]
    meetings: tuple[MeetingDef, ...]
    source: str = "<memory>"
