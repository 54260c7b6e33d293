"""Who is acting: a claim (`--as`), or the database login itself.

Two modes (`ARSHJUL_IDENTITY`):
- `claimed` (the default): the acting person is the name the caller gives. Anyone who
  can reach the database can name anyone; fine for one office's SQLite file.
- `db`: the acting person is the role the PostgreSQL session logged in as
  (`session_user`), one login role per person, named like their username. A claim
  naming someone else is refused. `session_user` rather than `current_user`: a
  `SET ROLE` changes the latter, never the role that authenticated.

The database enforces the same rule on its side once `arshjul access setup` has run
(`cycle.access`): a log entry must name the session's own login.
"""

from __future__ import annotations

from sqlalchemy import text

from cycle.database import Database
from cycle.errors import BadInput, Refused

CLAIMED, DATABASE = "claimed", "db"
MODES = (CLAIMED, DATABASE)


def login(db: Database) -> str:
    """The role this database session authenticated as; PostgreSQL only."""
    if db.sqlite:
        raise BadInput(
            "identity 'db' needs PostgreSQL: an SQLite file has no logins to take the person from",
            "use --identity claimed (the default) with --as, or a PostgreSQL database",
        )
    with db.read() as session:
        return session.execute(text("SELECT session_user")).scalar_one()


def acting(db: Database, mode: str, claimed: str | None) -> str | None:
    """The acting person under `mode`; None when the mode is `claimed` and nobody was named."""
    if mode == CLAIMED:
        return claimed
    if mode != DATABASE:
        raise BadInput(f"unknown identity mode '{mode}': use one of {', '.join(MODES)}")
    who = login(db)
    if claimed is not None and claimed != who:
        raise Refused(
            f"you are logged in to the database as {who}: you cannot act as {claimed}",
            "the identity comes from the database login (identity 'db'); leave out --as and ARSHJUL_USER",
        )
    return who
