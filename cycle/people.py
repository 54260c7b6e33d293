"""Who is acting, and which roles they hold."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session, joinedload

from cycle.errors import MissingRole, UnknownPerson
from cycle.models import Person, RoleGrant

# Built once: every use case runs it, and a reused statement skips building and cache-keying.
_PERSON = select(Person).where(Person.username == bindparam("username")).options(joinedload(Person.grants))


def person(session: Session, username: str) -> Person:
    """The registered person with their grants, in one query."""
    found = session.execute(_PERSON, {"username": username}).unique().scalar_one_or_none()
    if found is None:
        raise UnknownPerson(
            f"unknown person '{username}': not in the organisation",
            "act as a registered person with --as or ARSHJUL_USER",
        )
    return found


def holds(actor: Person, role: str, unit: str | None = None) -> bool:
    return any(g.role == role and g.unit_key == (unit or "") for g in actor.grants)


def require(actor: Person, role: str, unit: str | None = None, doing: str = "do this") -> None:
    if holds(actor, role, unit):
        return
    scope = f" of unit '{unit}'" if unit else ""
    raise MissingRole(f"{actor.username} may not {doing}: it needs the role {role}{scope}")


def require_any_global(actor: Person, roles: tuple[str, ...], doing: str) -> None:
    if any(holds(actor, role) for role in roles):
        return
    raise MissingRole(f"{actor.username} may not {doing}: it needs the role {' or '.join(roles)}")


def holders(session: Session, role: str, unit: str) -> list[str]:
    stmt = (
        select(RoleGrant.username)
        .where(RoleGrant.role == role, RoleGrant.unit_key == unit)
        .order_by(RoleGrant.username)
    )
    return list(session.execute(stmt).scalars())


def anyone_registered(session: Session) -> bool:
    return bool(session.execute(select(exists().where(Person.username.is_not(None)))).scalar())
