"""Who is acting, and which roles they hold."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, exists, select
from sqlalchemy.orm import Session

from cycle.errors import MissingRole, UnknownPerson
from cycle.models import Person, RoleGrant
from cycle.prepared import Prepared

_GRANTS = Prepared(
    select(Person.username, RoleGrant.role, RoleGrant.unit_key)
    .outerjoin(RoleGrant, RoleGrant.username == Person.username)
    .where(Person.username == bindparam("username"))
)


@dataclass(frozen=True)
class Grant:
    role: str
    unit_key: str


@dataclass(frozen=True)
class Actor:
    """Who acts in a use case, with their grants: what the guards of every action read."""

    username: str
    grants: tuple[Grant, ...]


def person(session: Session, username: str) -> Actor:
    """The registered person with their grants, in the session's transaction."""
    return acting(session.connection(), username)


def acting(connection: Connection, username: str) -> Actor:
    """The registered person with their grants, in one statement on the connection."""
    rows = _GRANTS.rows(connection, username=username)
    _require_known(username, bool(rows))
    return Actor(username, tuple(Grant(role, unit) for _, role, unit in rows if role is not None))


# How `actor_from` reads the grants a statement aggregated into one string: roles are
# fixed words and unit keys slugs, so neither separator can occur inside them.
ROLE_UNIT, GRANT_SEPARATOR = ":", ","


def actor_from(username: str, known: bool, granted: str | None) -> Actor:
    """The acting person from grants aggregated as `role:unit,role:unit` (the unit empty for global roles)."""
    _require_known(username, known)
    grants = tuple(Grant(*grant.split(ROLE_UNIT, 1)) for grant in granted.split(GRANT_SEPARATOR)) if granted else ()
    return Actor(username, grants)


def _require_known(username: str, known: bool) -> None:
    if not known:
        raise UnknownPerson(
            f"unknown person '{username}': not in the organisation",
            "act as a registered person with --as or ARSHJUL_USER",
        )


def holds(actor: Actor, role: str, unit: str | None = None) -> bool:
    return any(g.role == role and g.unit_key == (unit or "") for g in actor.grants)


def require(actor: Actor, role: str, unit: str | None = None, doing: str = "do this") -> None:
    if holds(actor, role, unit):
        return
    scope = f" of unit '{unit}'" if unit else ""
    raise MissingRole(f"{actor.username} may not {doing}: it needs the role {role}{scope}")


def require_any_global(actor: Actor, roles: tuple[str, ...], doing: str) -> None:
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
