"""Loading an organisation file: units, people, role grants and meetings.

An idempotent upsert. The people in the file get exactly the roles the file
lists (so removing a line revokes a role), and people absent from the file hold
none: they, and units absent from the file, stay only because the log and the
cycles still refer to them. For each year the file lists meetings in, those are
that year's meetings; cycles already started keep the instances they were given. The
first load on an empty database bootstraps and must name an admin; after that
only an admin may load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cycle import log, people
from cycle.database import Database
from cycle.encoding import require_utf8
from cycle.errors import Refused
from cycle.models import Meeting, Person, RoleGrant, Unit
from workflows.definition import Organisation, PersonDef, UnitDef


@dataclass(frozen=True)
class Count:
    """What one load did to one kind of row."""

    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def total(self) -> int:
        return self.added + self.changed + self.removed


NOTHING = Count()
KINDS = ("units", "people", "grants", "meetings")  # the org_load entry's detail keeps each kind's total


@dataclass(frozen=True)
class Loaded:
    units: Count
    people: Count
    grants: Count
    meetings: Count
    changed: bool
    bootstrap: bool
    seq: int | None


def load_organisation(db: Database, actor: str, org: Organisation) -> Loaded:
    require_utf8(org.source, f"the file name {ascii(org.source)}")  # the log keeps it
    with db.write() as session:
        bootstrap = not people.anyone_registered(session)
        if not bootstrap:
            people.require(people.person(session, actor), "admin", None, "load an organisation")
        _require_an_admin(org, bootstrap)
        counts = (
            _upsert_units(session, org.units),
            _upsert_people(session, org.people),
            _replace_grants(session, org.people),
            _replace_meetings(session, org),
        )
        if not any(count.total for count in counts):
            return Loaded(NOTHING, NOTHING, NOTHING, NOTHING, changed=False, bootstrap=bootstrap, seq=None)
        session.flush()
        detail = {kind: count.total for kind, count in zip(KINDS, counts, strict=True)}
        detail["sha256"] = _digest(org)
        if org.file_sha256:  # what an auditor can check the kept file against with `sha256sum`
            detail["file_sha256"] = org.file_sha256
        event = log.Event("org_load", comment=org.source, to_state="bootstrap" if bootstrap else "loaded",
                          detail=log.detail_json(detail))  # fmt: skip
        entry = log.append(session, actor, db.clock.now(), event)
        return Loaded(*counts, changed=True, bootstrap=bootstrap, seq=entry.seq)


def _require_an_admin(org: Organisation, bootstrap: bool) -> None:
    """The file's grants are all the grants there are, so it must keep someone able to load the next one."""
    if any(role.role == "admin" for p in org.people for role in p.roles):
        return
    which = "the first organisation loaded" if bootstrap else "the organisation"
    raise Refused(
        f"{org.source}: {which} must give someone the role admin",
        "otherwise nobody could load the next one or start a cycle",
    )


def _parents_first(units: tuple[UnitDef, ...]) -> list[UnitDef]:
    done: set[str] = set()
    ordered: list[UnitDef] = []
    pending = list(units)
    while pending:
        ready = [u for u in pending if u.parent is None or u.parent in done or u.parent not in {
            p.key for p in pending}]  # fmt: skip
        for unit in ready:
            done.add(unit.key)
            ordered.append(unit)
        pending = [u for u in pending if u.key not in done]
        if not ready:  # a parent cycle; the loader refuses those, keep going anyway
            ordered.extend(pending)
            break
    return ordered


def _upsert_units(session: Session, units: tuple[UnitDef, ...]) -> Count:
    existing = {u.key: u for u in session.execute(select(Unit)).scalars()}
    added = changed = 0
    for unit in _parents_first(units):
        row = existing.get(unit.key)
        if row is None:
            session.add(Unit(key=unit.key, name=unit.name, parent_key=unit.parent))
            session.flush()
            added += 1
        elif (row.name, row.parent_key) != (unit.name, unit.parent):
            row.name, row.parent_key = unit.name, unit.parent
            changed += 1
    return Count(added, changed)


def _upsert_people(session: Session, persons: tuple[PersonDef, ...]) -> Count:
    existing = {p.username: p for p in session.execute(select(Person)).scalars()}
    added = changed = 0
    for p in persons:
        row = existing.get(p.username)
        if row is None:
            session.add(Person(username=p.username, name=p.name, email=p.email, locale=p.locale))
            added += 1
        elif (row.name, row.email, row.locale) != (p.name, p.email, p.locale):
            row.name, row.email, row.locale = p.name, p.email, p.locale
            changed += 1
    session.flush()
    return Count(added, changed)


def _replace_grants(session: Session, persons: tuple[PersonDef, ...]) -> Count:
    """Every grant is the file's: someone who left the file leaves their roles behind."""
    current = {(g.username, g.role, g.unit_key): g for g in session.execute(select(RoleGrant)).scalars()}
    wanted = {(p.username, r.role, r.unit or "") for p in persons for r in p.roles}
    for key in current.keys() - wanted:
        session.delete(current[key])
    for username, role, unit in sorted(wanted - current.keys()):
        session.add(RoleGrant(username=username, role=role, unit_key=unit))
    return Count(added=len(wanted - current.keys()), removed=len(current.keys() - wanted))


def _replace_meetings(session: Session, org: Organisation) -> Count:
    """The file's meetings are all of their years' meetings, so a moved or cancelled
    meeting goes; years the file lists no meeting in keep what was loaded before."""
    years = {m.date.year for m in org.meetings}
    existing = {(row.unit_key, row.date): row for row in session.execute(select(Meeting)).scalars()}
    wanted = {(m.unit, m.date) for m in org.meetings}
    gone = [row for key, row in existing.items() if key[1].year in years and key not in wanted]
    for row in gone:
        session.delete(row)
    new = sorted(wanted - existing.keys())
    session.add_all(Meeting(unit_key=unit, date=day) for unit, day in new)
    return Count(added=len(new), removed=len(gone))


def _digest(org: Organisation) -> str:
    units = [[u.key, u.name, u.parent] for u in org.units]
    persons = [[p.username, p.name, p.email, p.locale, [[r.role, r.unit] for r in p.roles]] for p in org.people]
    meetings = [[m.unit, m.date.isoformat()] for m in org.meetings]
    return hashlib.sha256(log.canonical([units, persons, meetings])).hexdigest()
