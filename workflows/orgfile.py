"""The organisation file: units, the people and their role grants, and meeting dates.

Public entry points are `workflows.loader.load_organisation` and `parse_organisation`.
Names and addresses end up in mail headers, so line breaks and control characters are
refused here rather than escaped later.
"""

from __future__ import annotations

import datetime as dt
import re
from email.errors import MessageError
from email.headerregistry import Address
from functools import partial
from typing import Any

from workflows.checks import (
    USERNAME,
    Problems,
    check_keys,
    checked,
    child,
    find_cycles,
    item,
    kind,
    mapping,
    sequence,
    slug,
    suggestion,
    text,
    top_level,
)
from workflows.definition import (
    GLOBAL_ROLES,
    LOCALES,
    ROLES,
    STAGE_ROLES,
    MeetingDef,
    Organisation,
    PersonDef,
    RoleDef,
    UnitDef,
)
from workflows.yamlsafe import Document

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_unit = partial(slug, what="unit key")


def organisation(document: Document, source: str) -> Organisation:
    problems = Problems(document.lines, document.problems)
    data = top_level(problems, document.data, ("units", "people", "meetings"), source)
    check_keys(problems, "", data, ("units",), ("people", "meetings"))
    units = _units(problems, checked(problems, "", data, "units", sequence, default=[]))
    known = {unit.key for unit in units if unit.key}
    people = _people(problems, checked(problems, "", data, "people", sequence, default=[]), known)
    meetings = _meetings(problems, checked(problems, "", data, "meetings", sequence, default=[]), known)
    result = Organisation(units=units, people=people, meetings=meetings, source=source, file_sha256=document.sha256)
    problems.raise_if_any(source)
    return result


def _units(problems: Problems, raws: list[Any]) -> tuple[UnitDef, ...]:
    units: list[UnitDef] = []
    index: dict[str, int] = {}
    for i, raw in enumerate(raws):
        path = item("units", i)
        data = mapping(problems, path, raw)
        if data is None:
            units.append(UnitDef(key="", name=""))  # keeps units[i] aligned with the file
            continue
        check_keys(problems, path, data, ("key", "name"), ("parent",))
        unit = UnitDef(
            key=checked(problems, path, data, "key", _unit),
            name=checked(problems, path, data, "name", text),
            parent=checked(problems, path, data, "parent", _unit, default=None),
        )
        if unit.key in index:
            problems.add(child(path, "key"), f"{unit.key!r} is already the key of units[{index[unit.key]}]")
        elif unit.key:
            index[unit.key] = i
        units.append(unit)
    _check_parents(problems, units, index)
    return tuple(units)


def _check_parents(problems: Problems, units: list[UnitDef], index: dict[str, int]) -> None:
    for i, unit in enumerate(units):
        path = child(item("units", i), "parent")
        if not unit.parent:
            continue
        if unit.parent == unit.key:
            problems.add(path, "a unit cannot be its own parent")
        elif unit.parent not in index:
            problems.add(path, f"no unit has the key {unit.parent!r}{suggestion(unit.parent, index)}")
    graph = {key: [units[i].parent] for key, i in index.items() if units[i].parent not in (None, key)}
    for cycle in find_cycles(graph):
        path = child(item("units", index[cycle[0]]), "parent")
        problems.add(path, f"the units are each other's parents: {' → '.join(cycle)}")


def _people(problems: Problems, raws: list[Any], units: set[str]) -> tuple[PersonDef, ...]:
    people: list[PersonDef] = []
    usernames: dict[str, int] = {}
    emails: dict[str, int] = {}
    for i, raw in enumerate(raws):
        path = item("people", i)
        data = mapping(problems, path, raw)
        if data is None:
            continue
        person = _person(problems, path, data, units)
        _once(problems, child(path, "username"), person.username, usernames, i, "the username of")
        _once(problems, child(path, "email"), person.email.casefold(), emails, i, "the email of")
        people.append(person)
    return tuple(people)


def _once(problems: Problems, path: str, value: str, seen: dict[str, int], index: int, what: str) -> None:
    if value in seen:
        problems.add(path, f"{value!r} is already {what} people[{seen[value]}]")
    elif value:
        seen[value] = index


def _person(problems: Problems, path: str, data: dict[Any, Any], units: set[str]) -> PersonDef:
    check_keys(problems, path, data, ("username", "name", "email"), ("locale", "roles"))
    raw_roles = checked(problems, path, data, "roles", sequence, default=[])
    roles = tuple(_role(problems, item(child(path, "roles"), i), raw, units) for i, raw in enumerate(raw_roles))
    for i, role in enumerate(roles):
        if role.role and role in roles[:i]:
            problems.add(item(child(path, "roles"), i), f"the role {role.role!r} is granted twice")
    return PersonDef(
        username=checked(problems, path, data, "username", partial(slug, what="username", pattern=USERNAME)),
        name=checked(problems, path, data, "name", text),
        email=checked(problems, path, data, "email", _email),
        locale=checked(problems, path, data, "locale", _choice(LOCALES, "locale"), default="sv"),
        roles=roles,
    )


def _role(problems: Problems, path: str, raw: Any, units: set[str]) -> RoleDef:
    data = mapping(problems, path, raw)
    if data is None:
        return RoleDef(role="")
    check_keys(problems, path, data, ("role",), ("unit",))
    role = checked(problems, path, data, "role", _choice(ROLES, "role"))
    unit = checked(problems, path, data, "unit", _unit, default=None)
    if role in STAGE_ROLES and "unit" not in data:
        problems.add(path, f"the role {role!r} needs a 'unit' it applies to")
    elif role in GLOBAL_ROLES and "unit" in data:
        problems.add(child(path, "unit"), f"the role {role!r} applies everywhere; remove 'unit'")
    elif unit and unit not in units:
        problems.add(child(path, "unit"), f"no unit in this file has the key {unit!r}{suggestion(unit, units)}")
    return RoleDef(role=role, unit=unit)


def _choice(choices: tuple[str, ...], what: str) -> Any:
    def check(problems: Problems, path: str, value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            shown = repr(value) if isinstance(value, str) else kind(value)
            hint = suggestion(value, choices) if isinstance(value, str) else ""
            problems.add(path, f"{shown} is not a {what}; use one of {', '.join(choices)}{hint}")
            return ""
        return value

    return check


def _email(problems: Problems, path: str, value: Any) -> str:
    before = len(problems.items)
    value = text(problems, path, value)
    if len(problems.items) > before:
        return value
    try:
        address = Address(addr_spec=value)
        valid = address.addr_spec == value and bool(address.username) and bool(address.domain)
    except (ValueError, IndexError, MessageError):  # the parser's own errors, by its documentation and ours
        valid = False
    if not valid:
        problems.add(path, f"{value!r} is not an email address (expected local@domain)")
    return value


def _meetings(problems: Problems, raws: list[Any], units: set[str]) -> tuple[MeetingDef, ...]:
    meetings: list[MeetingDef] = []
    seen: dict[tuple[str, dt.date], int] = {}
    for i, raw in enumerate(raws):
        path = item("meetings", i)
        data = mapping(problems, path, raw)
        if data is None:
            continue
        check_keys(problems, path, data, ("unit", "date"))
        unit = checked(problems, path, data, "unit", _unit)
        if unit and unit not in units:
            problems.add(child(path, "unit"), f"no unit in this file has the key {unit!r}{suggestion(unit, units)}")
        meeting = MeetingDef(unit=unit, date=checked(problems, path, data, "date", _date, default=None))
        if meeting.date and (meeting.unit, meeting.date) in seen:
            earlier = seen[(meeting.unit, meeting.date)]
            problems.add(path, f"{meeting.unit} already meets on {meeting.date} (meetings[{earlier}])")
        elif meeting.date:
            seen[(meeting.unit, meeting.date)] = i
        meetings.append(meeting)
    return tuple(meetings)


def _date(problems: Problems, path: str, value: Any) -> dt.date | None:
    """YAML reads 2027-02-10 as a date already; a quoted "2027-02-10" is accepted too."""
    if isinstance(value, dt.datetime):
        problems.add(path, f"must be a date (YYYY-MM-DD), not a date and time ({value})")
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            problems.add(path, f"{value!r} is not a date: {exc}")
            return None
    shown = repr(value) if isinstance(value, str) else kind(value)
    problems.add(path, f"must be a date (YYYY-MM-DD), not {shown}")
    return None
