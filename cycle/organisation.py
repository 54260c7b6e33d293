"""Loading an organisation file: units, people, role grants and meetings.

An idempotent upsert. The people in the file get exactly the roles the file
lists (so removing a line revokes a role), and people absent from the file hold
none: they, and units absent from the file, stay only because the log and the
cycles still refer to them. For each year the file lists meetings in, those are
that year's meetings; cycles already started keep the instances they were given,
and the load warns of each one not yet approved whose meeting it removed, naming the
`deadline set` that the stage's rule gives for the organ's new meeting nearby. The
first load on an empty database bootstraps and must name an admin; after that
only an admin may load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cycle import deadlines, log, people
from cycle.clock import MONTHS
from cycle.database import Database
from cycle.encoding import require_utf8
from cycle.errors import Refused
from cycle.models import Cycle, LogEntry, Meeting, Person, RoleGrant, Stage, Unit
from cycle.status import without_meeting
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
MOVED_WITHIN = 31  # days: a new meeting of the same organ this close to a removed one may be where it moved


@dataclass(frozen=True)
class Loaded:
    units: Count
    people: Count
    grants: Count
    meetings: Count
    changed: bool
    bootstrap: bool
    seq: int | None
    # Stages of running cycles whose meeting this load removed, each with what to do about it.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Meetings:
    """What replacing the meetings did: (unit, date) pairs held before, removed and added."""

    count: Count
    before: frozenset[tuple[str, dt.date]]
    gone: tuple[tuple[str, dt.date], ...]
    new: tuple[tuple[str, dt.date], ...]


def load_organisation(db: Database, actor: str, org: Organisation) -> Loaded:
    require_utf8(org.source, f"the file name {ascii(org.source)}")  # the log keeps it
    with db.write() as session:
        bootstrap = not people.anyone_registered(session)
        if not bootstrap:
            people.require(people.person(session, actor), "admin", None, "load an organisation")
        _require_an_admin(org, bootstrap)
        upserted = (_upsert_units(session, org.units), _upsert_people(session, org.people),
                    _replace_grants(session, org.people))  # fmt: skip
        meetings = _replace_meetings(session, org)  # after the units they belong to
        counts = (*upserted, meetings.count)
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
        warnings = tuple(_stranded_stages(session, meetings))
        return Loaded(*counts, changed=True, bootstrap=bootstrap, seq=entry.seq, warnings=warnings)


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


def _replace_meetings(session: Session, org: Organisation) -> _Meetings:
    """The file's meetings are all of their years' meetings, so a moved or cancelled
    meeting goes; years the file lists no meeting in keep what was loaded before."""
    years = {m.date.year for m in org.meetings}
    existing = {(row.unit_key, row.date): row for row in session.execute(select(Meeting)).scalars()}
    wanted = {(m.unit, m.date) for m in org.meetings}
    gone = sorted(key for key in existing if key[1].year in years and key not in wanted)
    for key in gone:
        session.delete(existing[key])
    new = sorted(wanted - existing.keys())
    session.add_all(Meeting(unit_key=unit, date=day) for unit, day in new)
    return _Meetings(Count(added=len(new), removed=len(gone)), frozenset(existing), tuple(gone), tuple(new))


# --- stages left without their meeting ---------------------------------------------


def _stranded_stages(session: Session, meetings: _Meetings) -> list[str]:
    """A warning for each unfinished per-meeting stage, in any cycle, whose meeting the load removed.

    Matched by date alone (`status.without_meeting`, which `status` shows them by too): while any
    meeting is left on that date (another organ's, say), the stage is taken to be for that one and
    nothing is said, even if it was the removed meeting's.
    """
    dates = {day for _, day in meetings.gone}
    if not dates:
        return []
    stmt = without_meeting(select(Stage, Cycle).join(Cycle, Stage.cycle_id == Cycle.id)
                           .where(Stage.meeting_date.in_(dates))
                           .order_by(Cycle.year, Cycle.id, Stage.position))  # fmt: skip
    return [_stranded(session, stage, cycle, meetings) for stage, cycle in session.execute(stmt)]


def _stranded(session: Session, stage: Stage, cycle: Cycle, meetings: _Meetings) -> str:
    old = stage.meeting_date
    said = (f"stage '{stage.key}' of {cycle.id} was planned for a meeting on {old} that is no longer in the "
            "organisation")  # fmt: skip
    organ = _organ(session, stage, meetings)
    moved_to = _nearest_new(organ, old, meetings.new)
    if moved_to is None:
        organs = f"{organ} has" if organ else "none of its organs has"
        return (f"{said}, and {organs} no new meeting within {MOVED_WITHIN} days of it: if the meeting was "
                "cancelled, move the stage's deadline to the meeting that takes the matter up (arshjul deadline "
                f"set {cycle.id} {stage.key} DATE -m REASON), or take the stage on to closed as usual")  # fmt: skip
    calendar = deadlines.working_days(cycle.holidays)
    due = deadlines.meeting_deadline(moved_to, _days_before(session, stage, calendar), calendar)
    if due == stage.deadline:
        return f"{said}; if it moved to {moved_to}, its deadline {due} already fits that meeting"
    reason = f"{organ.upper()} sammanträder {_swedish(moved_to, old)} i stället för {_swedish(old, moved_to)}"
    return f'{said}; if it moved to {moved_to}: arshjul deadline set {cycle.id} {stage.key} {due} -m "{reason}"'


def _organ(session: Session, stage: Stage, meetings: _Meetings) -> str | None:
    """The unit whose removed meeting the stage was for; None if several were removed that day and the
    stage's other instances do not tell which (the one that met on most of their dates)."""
    organs = sorted({unit for unit, day in meetings.gone if day == stage.meeting_date})
    if len(organs) > 1:
        dates = set(session.scalars(select(Stage.meeting_date).where(
            Stage.cycle_id == stage.cycle_id, Stage.definition_key == stage.definition_key)))  # fmt: skip
        met = {unit: sum((unit, day) in meetings.before for day in dates) for unit in organs}
        organs = [unit for unit in organs if met[unit] == max(met.values())]
    return organs[0] if len(organs) == 1 else None


def _nearest_new(organ: str | None, old: dt.date, new: tuple[tuple[str, dt.date], ...]) -> dt.date | None:
    """The organ's new meeting nearest after `old` within MOVED_WITHIN days, else the nearest before it."""
    near = [day for unit, day in new if unit == organ and abs((day - old).days) <= MOVED_WITHIN]
    return min((day for day in near if day > old), default=None) or max(near, default=None)


def _days_before(session: Session, stage: Stage, calendar: deadlines.WorkingDays) -> int:
    """The definition's days before the meeting, as `cycle start` applied them: from the first deadline
    of this instance and of its siblings (a deadline moved back off a weekend fits several counts;
    the siblings on other weekdays narrow them), the most that remain if still more than one."""
    siblings = session.execute(select(Stage.key, Stage.meeting_date, Stage.deadline).where(
        Stage.cycle_id == stage.cycle_id, Stage.definition_key == stage.definition_key)).all()  # fmt: skip
    first = _first_deadlines(session, stage.cycle_id, [key for key, _, _ in siblings])
    fits = set(deadlines.days_before_giving(stage.meeting_date, first.get(stage.key, stage.deadline), calendar))
    for key, meeting, deadline in siblings:
        narrowed = fits & set(deadlines.days_before_giving(meeting, first.get(key, deadline), calendar))
        fits = narrowed or fits  # a sibling that fits none (its rule changed?) says nothing
    return max(fits)


def _first_deadlines(session: Session, cycle_id: str, keys: list[str]) -> dict[str, dt.date]:
    """The deadline `cycle start` gave each stage that has been moved since: its first move's from-date."""
    stmt = (select(LogEntry.stage, LogEntry.from_state)
            .where(LogEntry.cycle == cycle_id, LogEntry.event == "deadline", LogEntry.stage.in_(keys),
                   LogEntry.input.is_(None))
            .order_by(LogEntry.seq.desc()))  # fmt: skip
    return {key: dt.date.fromisoformat(day) for key, day in session.execute(stmt)}  # the earliest wins


def _swedish(day: dt.date, other: dt.date) -> str:
    """`9 mars`, with the year when `other` is in another one."""
    return f"{day.day} {MONTHS['sv'][day.month - 1]}" + (f" {day.year}" if day.year != other.year else "")


def _digest(org: Organisation) -> str:
    units = [[u.key, u.name, u.parent] for u in org.units]
    persons = [[p.username, p.name, p.email, p.locale, [[r.role, r.unit] for r in p.roles]] for p in org.people]
    meetings = [[m.unit, m.date.isoformat()] for m in org.meetings]
    return hashlib.sha256(log.canonical([units, persons, meetings])).hexdigest()
