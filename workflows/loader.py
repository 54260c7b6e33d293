"""Workflow definitions and organisation files: YAML in, frozen, validated objects out.

Every problem in a file is reported in one run, each with the key path (and line) it is
about, by raising `InvalidDefinition(source, problems)`. Unit keys in a definition are
only checked for their shape here; whether they exist is a question for `cycle start`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from dataclasses import replace
from functools import cache, partial
from typing import Any

from workflows import orgfile
from workflows.checks import (
    Problems,
    check_keys,
    checked,
    child,
    find_cycles,
    flag,
    item,
    kind,
    mapping,
    optional_whole,
    sequence,
    slug,
    slug_list,
    suggestion,
    text,
    top_level,
    whole,
)
from workflows.definition import DeadlineRule, InputDef, Organisation, ReminderPolicy, StageDef, Workflow
from workflows.yamlsafe import Document, read_yaml

TOP_REQUIRED = ("id", "name", "timezone", "holidays", "stages")
TOP_OPTIONAL = ("reminders", "description")
STAGE_REQUIRED = ("key", "name", "owner", "decided_by")
STAGE_OPTIONAL = ("deadline", "per_meeting", "days_before_meeting", "after", "inputs", "reminders", "description")
INPUT_REQUIRED = ("key", "name", "from", "approved_by")
INPUT_OPTIONAL = ("deadline", "required", "reminders", "description")
REMINDER_KEYS = ("before_days", "on_deadline", "overdue_every_days", "escalate_after_days")
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")
# Files in the zoneinfo folder that are not places: a definition must mean the same on every server.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

_unit = partial(slug, what="unit key")
_description = partial(text, multiline=True)
_NO_STAGE = StageDef(key="", name="", owner="", decided_by="")


def load_workflow(path: str | os.PathLike[str]) -> Workflow:
    """Read and validate a workflow definition file."""
    source = os.fspath(path)
    return _workflow(read_yaml(source), source)


def parse_workflow(data: Any, source: str = "<memory>") -> Workflow:
    """Validate a definition already read into plain data (dicts, lists, strings)."""
    return _workflow(Document(data), source)


def load_organisation(path: str | os.PathLike[str]) -> Organisation:
    """Read and validate an organisation file (units, people, meetings)."""
    source = os.fspath(path)
    return orgfile.organisation(read_yaml(source), source)


def parse_organisation(data: Any, source: str = "<memory>") -> Organisation:
    """Validate an organisation already read into plain data."""
    return orgfile.organisation(Document(data), source)


def _workflow(document: Document, source: str) -> Workflow:
    problems = Problems(document.lines, document.problems)
    data = top_level(problems, document.data, TOP_REQUIRED, source)
    check_keys(problems, "", data, TOP_REQUIRED, TOP_OPTIONAL)
    head = {
        "id": checked(problems, "", data, "id", partial(slug, what="workflow id")),
        "name": checked(problems, "", data, "name", text),
        "description": checked(problems, "", data, "description", _description),
        "timezone": checked(problems, "", data, "timezone", _timezone),
        "holidays": checked(problems, "", data, "holidays", _holiday_country),
        "reminders": _reminders(problems, "reminders", data.get("reminders", {}), ReminderPolicy()),
    }
    raw_stages = checked(problems, "", data, "stages", sequence, default=[])
    if "stages" in data and isinstance(data["stages"], list) and not raw_stages:
        problems.add("stages", "must list at least one stage")
    stages = tuple(_stage(problems, item("stages", i), raw, head["reminders"]) for i, raw in enumerate(raw_stages))
    _check_order(problems, stages)
    workflow = Workflow(**head, stages=stages, source=source, lines=document.lines, warnings=tuple(problems.warnings),
                        file_sha256=document.sha256)  # fmt: skip
    problems.raise_if_any(source)
    return workflow


def _stage(problems: Problems, path: str, raw: Any, defaults: ReminderPolicy) -> StageDef:
    data = mapping(problems, path, raw)
    if data is None:
        return _NO_STAGE
    check_keys(problems, path, data, STAGE_REQUIRED, STAGE_OPTIONAL)
    head = {  # in the order a stage is usually written, so problems come out in file order
        "key": checked(problems, path, data, "key", partial(slug, what="stage key")),
        "name": checked(problems, path, data, "name", text),
        "description": checked(problems, path, data, "description", _description),
        "owner": checked(problems, path, data, "owner", _unit),
        "decided_by": checked(problems, path, data, "decided_by", _unit),
    }
    deadline, per_meeting, days = _timing(problems, path, data)
    after = checked(problems, path, data, "after", partial(slug_list, what="stage"), default=())
    reminders = _reminders(problems, child(path, "reminders"), data.get("reminders", {}), defaults)
    raw_inputs = checked(problems, path, data, "inputs", sequence, default=[])
    inputs = tuple(_input(problems, item(child(path, "inputs"), i), raw, reminders) for i, raw in enumerate(raw_inputs))
    stage = StageDef(
        **head,
        deadline=deadline,
        after=after,
        inputs=inputs,
        per_meeting=per_meeting,
        days_before_meeting=days,
        reminders=reminders,
    )
    _check_inputs(problems, path, stage)
    return stage


def _timing(problems: Problems, path: str, data: dict[Any, Any]) -> tuple[DeadlineRule | None, str | None, int]:
    """A stage is due on a rule's date, or some days before each meeting of a unit."""
    has_deadline, has_meetings = "deadline" in data, "per_meeting" in data
    if has_deadline and has_meetings:
        problems.add(path, "give either 'deadline' or 'per_meeting', not both")
    elif not (has_deadline or has_meetings):
        problems.add(path, "needs a 'deadline' (e.g. Y-1-04-30) or 'per_meeting' (the unit whose meetings it serves)")
    if "days_before_meeting" in data and not has_meetings:
        problems.add(child(path, "days_before_meeting"), "only applies to a stage with 'per_meeting'")
    return (
        checked(problems, path, data, "deadline", _deadline_rule, default=None),
        checked(problems, path, data, "per_meeting", _unit, default=None),
        checked(problems, path, data, "days_before_meeting", whole, default=0),
    )


def _input(problems: Problems, path: str, raw: Any, defaults: ReminderPolicy) -> InputDef:
    data = mapping(problems, path, raw)
    if data is None:
        return InputDef(key="", name="", from_units=(), approved_by="")
    check_keys(problems, path, data, INPUT_REQUIRED, INPUT_OPTIONAL)
    return InputDef(
        key=checked(problems, path, data, "key", partial(slug, what="input key")),
        name=checked(problems, path, data, "name", text),
        from_units=checked(problems, path, data, "from", partial(slug_list, what="unit", at_least_one=True), ()),
        approved_by=checked(problems, path, data, "approved_by", _unit),
        deadline=checked(problems, path, data, "deadline", _deadline_rule, default=None),
        required=checked(problems, path, data, "required", flag, default=True),
        reminders=_reminders(problems, child(path, "reminders"), data.get("reminders", {}), defaults),
        description=checked(problems, path, data, "description", _description),
    )


def _check_inputs(problems: Problems, path: str, stage: StageDef) -> None:
    """Input keys are unique in their stage, and no input is due after its stage."""
    seen: dict[str, int] = {}
    for index, input_def in enumerate(stage.inputs):
        where = item(child(path, "inputs"), index)
        if input_def.key in seen:
            problems.add(child(where, "key"), f"{input_def.key!r} is already the key of inputs[{seen[input_def.key]}]")
        elif input_def.key:
            seen[input_def.key] = index
        if input_def.deadline is None:
            continue
        if stage.per_meeting:
            problems.add(child(where, "deadline"), "the inputs of a per-meeting stage share its deadline; remove this")
        elif stage.deadline and _order(input_def.deadline) > _order(stage.deadline):
            problems.add(
                child(where, "deadline"), f"{input_def.deadline} is after the stage's deadline {stage.deadline}"
            )


def _order(rule: DeadlineRule) -> tuple[int, int, int]:
    return (rule.year_offset, rule.month, rule.day)


def _check_order(problems: Problems, stages: tuple[StageDef, ...]) -> None:
    """Stage keys are unique, and `after` names other stages without going in a circle."""
    index: dict[str, int] = {}
    for i, stage in enumerate(stages):
        if stage.key in index:
            problems.add(
                child(item("stages", i), "key"), f"{stage.key!r} is already the key of stages[{index[stage.key]}]"
            )
        elif stage.key:
            index[stage.key] = i
    for i, stage in enumerate(stages):
        for j, key in enumerate(stage.after):
            _check_after(problems, item(child(item("stages", i), "after"), j), stage, key, index, stages)
    graph = {key: [k for k in stages[i].after if k != key] for key, i in index.items()}
    for cycle in find_cycles(graph):
        where = child(item("stages", index[cycle[0]]), "after")
        problems.add(where, f"the stages wait for each other in a circle: {' → '.join(cycle)}")


def _check_after(
    problems: Problems, path: str, stage: StageDef, key: str, index: dict[str, int], stages: tuple[StageDef, ...]
) -> None:
    if not key:
        return
    if key == stage.key:
        problems.add(path, "a stage cannot come after itself")
    elif key not in index:
        problems.add(path, f"no stage has the key {key!r}{suggestion(key, index)}")
    elif stages[index[key]].per_meeting and stage.deadline:
        _check_after_meetings(problems, path, stage, stages[index[key]])
    else:
        before = stages[index[key]].deadline
        if before and stage.deadline and _order(before) > _order(stage.deadline):
            problems.add(path, f"{key!r} is due {before}, later than this stage's own deadline {stage.deadline}")


def _check_after_meetings(problems: Problems, path: str, stage: StageDef, before: StageDef) -> None:
    """A stage with a fixed deadline after a per-meeting stage waits for its instance before every
    meeting of Y, December's included: impossible for a deadline in Y-1, a risk for one in Y."""
    rule, unit, days = stage.deadline, before.per_meeting, before.days_before_meeting
    if rule is None or rule.year_offset > 0:
        return
    comes = f"which comes {days} day(s) before" if days else "which is due on the day of"
    comes = f"{comes} every {unit} meeting in Y"
    if rule.year_offset < 0:
        problems.add(path, f"{stage.key!r} is due {rule}, but waits for {before.key!r}, {comes}, all after that "
                           f"deadline: it can never open in time; take {before.key!r} out of 'after', or give "
                           f"{stage.key!r} a deadline in Y+1")  # fmt: skip
        return
    last_safe = dt.date(2001, rule.month, rule.day) + dt.timedelta(days=days)  # a common year, as the rule is checked
    if last_safe >= dt.date(2001, 12, 31):
        return  # no meeting of Y can come late enough
    latest = DeadlineRule(0, last_safe.month, last_safe.day)
    problems.warn(path, f"{stage.key!r} is due {rule}, but waits for {before.key!r}, {comes}, December's included: "
                        f"a {unit} meeting after {latest} keeps {stage.key!r} from opening before its deadline; "
                        f"take {before.key!r} out of 'after', or give {stage.key!r} a deadline in Y+1")  # fmt: skip


def _reminders(problems: Problems, path: str, raw: Any, base: ReminderPolicy) -> ReminderPolicy:
    """Override any subset of `base`: the top level's policy, then a stage's, then an input's."""
    data = mapping(problems, path, raw)
    if data is None:
        return base
    check_keys(problems, path, data, (), REMINDER_KEYS)
    changes: dict[str, Any] = {}
    if "before_days" in data:
        changes["before_days"] = _before_days(problems, child(path, "before_days"), data["before_days"])
    if "on_deadline" in data:
        changes["on_deadline"] = flag(problems, child(path, "on_deadline"), data["on_deadline"])
    for name, minimum in (("overdue_every_days", 1), ("escalate_after_days", 0)):
        if name in data:
            changes[name] = optional_whole(problems, child(path, name), data[name], minimum=minimum)
    return replace(base, **changes)


def _before_days(problems: Problems, path: str, value: Any) -> tuple[int, ...]:
    raws = sequence(problems, path, value)
    days = [whole(problems, item(path, i), raw) for i, raw in enumerate(raws)]
    first: dict[int, int] = {}
    for i, n in enumerate(days):
        if n != raws[i] or isinstance(raws[i], bool):  # refused above: no number to compare
            continue
        if n in first:  # taken (one reminder for the lead time), but a repeated number is rarely what was meant
            problems.warn(item(path, i), f"{n} is already before_days[{first[n]}]; a duplicate is almost always a "
                                         f"typo: was another lead time meant? (one reminder goes out {n} "
                                         f"day{'' if n == 1 else 's'} before the deadline)")  # fmt: skip
        first.setdefault(n, i)
    return tuple(sorted(set(days), reverse=True))


def _deadline_rule(problems: Problems, path: str, value: Any) -> DeadlineRule | None:
    if isinstance(value, dt.date):  # YAML reads 2027-04-30 as a date
        rule = f"Y-{value.month:02d}-{value.day:02d}"
        problems.add(path, f"must be a rule like {rule}, not the fixed date {value}: one definition serves every year")
        return None
    if not isinstance(value, str):
        problems.add(path, f"must be a rule like Y-1-04-30, not {kind(value)}")
        return None
    try:
        return DeadlineRule.parse(value)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def _timezone(problems: Problems, path: str, value: Any) -> str:
    if not isinstance(value, str):
        problems.add(path, f"must be a time zone name such as 'Europe/Stockholm', not {kind(value)}")
        return ""
    if ZONE_NAME.fullmatch(value) and value not in NOT_ZONES:
        try:
            zoneinfo.ZoneInfo(value)
            return value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    hint = suggestion(value, zoneinfo.available_timezones() - NOT_ZONES)
    problems.add(path, f"{value!r} is not a known IANA time zone such as 'Europe/Stockholm'{hint}")
    return value


@cache
def _countries() -> frozenset[str]:
    import holidays  # only when a definition is checked, not on every start of the CLI

    return frozenset(holidays.list_supported_countries())


def _holiday_country(problems: Problems, path: str, value: Any) -> str:
    if value is False:  # YAML 1.1 reads the bare word NO (Norway) as false
        problems.add(path, "was read as false: write a country code in quotes, e.g. 'NO'")
        return ""
    if not isinstance(value, str):
        problems.add(path, f"must be a country code such as 'SE', not {kind(value)}")
        return ""
    if value not in _countries():
        # Only the case is worth suggesting: difflib would pair any two letters with some country.
        hint = f" (did you mean {value.upper()!r}?)" if value.upper() in _countries() else ""
        problems.add(path, f"{value!r} is not a country code the holidays package supports{hint}")
    return value
