"""The validated, immutable shape of a workflow definition and an organisation file.

These are plain data: `workflows.loader` builds them from YAML, `cycle` consumes them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from cycle.clock import MONTHS

STAGE_ROLES = ("owner", "contributor", "approver")
GLOBAL_ROLES = ("auditor", "admin")
ROLES = STAGE_ROLES + GLOBAL_ROLES
LOCALES = ("sv", "en")
# A cycle for Y spans the analysis in Y-1 to the annual report in Y+1 (domain.md).
MAX_YEAR_OFFSET = 1
EXPECTED = "expected Y-MM-DD, Y-1-MM-DD or Y+1-MM-DD"
DEADLINE_RULE = re.compile(r"Y(?:([+-])(\d{1,2}))?-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class DeadlineRule:
    """`Y-1-MM-DD`, `Y-MM-DD` or `Y+1-MM-DD`: month and day in the cycle's year shifted by `year_offset`."""

    year_offset: int
    month: int
    day: int

    def date_in(self, year: int) -> dt.date:
        return dt.date(year + self.year_offset, self.month, self.day)

    def __str__(self) -> str:
        offset = f"{self.year_offset:+d}" if self.year_offset else ""
        return f"Y{offset}-{self.month:02d}-{self.day:02d}"

    @classmethod
    def parse(cls, text: str) -> DeadlineRule:
        """`Y-1-04-30` → DeadlineRule(-1, 4, 30); ValueError says what is wrong, in words.

        The year is Y-1, Y or Y+1, the span of one cycle; `Y+0` and `Y+01` are refused
        with the one way to write them (`Y`, `Y+1`), so the file reads as `workflow show` does.
        """
        match = DEADLINE_RULE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not a deadline rule ({EXPECTED}, e.g. Y-1-04-30)")
        sign, years = match.group(1), int(match.group(2) or 0)
        month, day = int(match.group(3)), int(match.group(4))
        offset = -years if sign == "-" else years
        if abs(offset) > MAX_YEAR_OFFSET:
            raise ValueError(
                f"Y{sign}{years} is outside the cycle, which runs from Y-1 (the analysis) to Y+1 (the annual "
                "report): use Y-1, Y or Y+1"
            )
        if sign and (offset == 0 or match.group(2) != str(years)):  # Y+0, Y-0, Y+01: one way to write each year
            plain = str(cls(offset, month, day))
            what = "for the cycle's own year" if offset == 0 else "(no leading zero)"
            raise ValueError(f"{text!r}: write {plain} {what}")
        if not 1 <= month <= 12:
            raise ValueError(f"month {month} is not a month ({EXPECTED})")
        if (month, day) == (2, 29):
            year = text[: -len("-02-29")]
            raise ValueError(f"{text} does not exist in every year; use {year}-02-28 or {year}-03-01")
        last = calendar.monthrange(2001, month)[1]  # a common year: the rule must hold in every year
        if not 1 <= day <= last:
            raise ValueError(f"{MONTHS['en'][month - 1]} has no day {day} ({EXPECTED})")
        return cls(offset, month, day)


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
    description: str = ""


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
    description: str = ""


@dataclass(frozen=True)
class Workflow:
    id: str
    name: str
    timezone: str
    holidays: str
    reminders: ReminderPolicy
    stages: tuple[StageDef, ...]
    source: str = "<memory>"
    description: str = ""
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)  # key path → line in source
    warnings: tuple[str, ...] = field(default=(), compare=False)  # valid, but likely not meant: `path: why (line N)`
    file_sha256: str | None = field(default=None, compare=False)  # what `sha256sum` gives for the file read

    def stage(self, key: str) -> StageDef:
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    def unit_references(self) -> Iterator[tuple[str, str]]:
        """(key path, unit key) of every unit the definition names, in file order."""
        for i, stage in enumerate(self.stages):
            at = f"stages[{i}]"
            if stage.per_meeting:
                yield f"{at}.per_meeting", stage.per_meeting
            yield f"{at}.owner", stage.owner
            yield f"{at}.decided_by", stage.decided_by
            for j, item in enumerate(stage.inputs):
                yield from ((f"{at}.inputs[{j}].from[{k}]", unit) for k, unit in enumerate(item.from_units))
                yield f"{at}.inputs[{j}].approved_by", item.approved_by


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
    file_sha256: str | None = field(default=None, compare=False)  # what `sha256sum` gives for the file read
