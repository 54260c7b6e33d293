"""Identity you can trust: each person logs in to PostgreSQL as their own role.

The deployment of docs/deploy.md, for real: an owner role owns a fresh database and runs
`init` and `access setup`; a people group and an admins group; one login role per person
of `tests/wheel.py`, named like their username. Role names carry a per-test tag, since
roles belong to the whole server. Each test then acts as one person, through the
installed `arshjul` command (`--identity db`) or with raw SQL over their own connection,
which is what a person with `psql` could do.

PostgreSQL only: skipped with the reason when no server is configured (failing under CI=true).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cycle import access, actions, audit, cycles, log, organisation
from cycle.database import Database
from cycle.errors import BadInput, Refused
from cycle.identity import acting
from cycle.schema import upgrade
from tests.cli.conftest import arshjul_command, clean_env
from tests.wheel import ORG, WHEEL
from workflows.definition import MeetingDef

MEETING_STAGE = "ekrapport@2027-02-10"  # no inputs, no predecessors: open and submit need only the role


@dataclass
class Secured:
    """A database set up as docs/deploy.md says, with one login role per person."""

    server: object  # sqlalchemy URL of the server, as the superuser
    database: str
    tag: str
    cycle: str

    def name(self, person: str) -> str:
        """The username, and login role, of a person of tests/wheel.py (`owner`: the owner role)."""
        return f"arshjul_owner_{self.tag}" if person == "owner" else f"{person}_{self.tag}"

    def url(self, login: str) -> str:
        return self.server.set(username=login, database=self.database).render_as_string(hide_password=False)

    def person_url(self, person: str) -> str:
        return self.url(self.name(person))

    def libpq(self, person: str) -> str:
        return self.person_url(person).replace("postgresql+psycopg://", "postgresql://")

    def db(self, person: str) -> Database:
        return Database(self.person_url(person))


def tagged(tag: str):
    """tests/wheel.py's organisation with every username suffixed by the tag."""
    people = tuple(dataclasses.replace(p, username=f"{p.username}_{tag}") for p in ORG.people)
    return dataclasses.replace(ORG, people=people)


@pytest.fixture
def secured(pg_template) -> Secured:
    tag = uuid.uuid4().hex[:6]
    server = make_url(pg_template.url)
    owner, people, admins = f"arshjul_owner_{tag}", f"people_{tag}", f"admins_{tag}"
    logins = {p.username: any(r.role == "admin" for r in p.roles) for p in tagged(tag).people}
    database = f"arshjul_id_{tag}"
    setup_sql = [f'CREATE ROLE "{owner}" LOGIN', f'CREATE ROLE "{people}" NOLOGIN', f'CREATE ROLE "{admins}" NOLOGIN']
    setup_sql += [f'CREATE ROLE "{name}" LOGIN IN ROLE "{admins if admin else people}"'
                  for name, admin in logins.items()]  # fmt: skip
    setup_sql.append(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    for sql in setup_sql:
        pg_template._execute(sql)
    place = Secured(server, database, tag, "")
    try:
        as_owner = Database(place.url(owner))
        upgrade(as_owner.engine)
        access.setup(as_owner.engine, people, admins)
        as_owner.dispose()
        admin = place.db("admin")  # the first load bootstraps; the admin acts under their own login
        organisation.load_organisation(admin, place.name("admin"), tagged(tag))
        place.cycle = cycles.start_cycle(admin, place.name("admin"), WHEEL, 2027).cycle
        admin.dispose()
        yield place
    finally:
        pg_template.drop(database)
        for name in [*logins, owner, people, admins]:
            pg_template._execute(f'DROP ROLE IF EXISTS "{name}"')


def cli(place: Secured, person: str, *args: str) -> subprocess.CompletedProcess:
    """The installed command, logged in to the database as `person`'s own role."""
    env = clean_env(ARSHJUL_DB=place.person_url(person), ARSHJUL_IDENTITY="db")
    return subprocess.run([*arshjul_command(), *args], capture_output=True, text=True, env=env, timeout=60)


@contextlib.contextmanager
def connected(place: Secured, person: str) -> Iterator[psycopg.Connection]:
    """`person`'s own connection; one transaction, committed at the end, closed whatever happens."""
    conn = psycopg.connect(place.libpq(person), connect_timeout=10)
    try:
        yield conn
        conn.commit()  # the deferred checks run here
    finally:
        conn.close()


def sql(place: Secured, person: str, *statements: str, params: tuple = ()) -> None:
    """Raw SQL in one transaction over `person`'s own connection, as `psql` would send it."""
    with connected(place, person) as conn:
        for statement in statements:
            conn.execute(statement, params if "%s" in statement else None)


def append_raw(conn: psycopg.Connection, actor: str, at: dt.datetime | None = None, **event) -> int:
    """A log entry written by hand, correctly chained: what the application itself would write."""
    seq, prev = conn.execute("SELECT seq, hash FROM log_head WHERE id = 1 FOR UPDATE").fetchone()
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = {name: None for name in log.LOG_FIELDS}
    values.update(event, seq=seq + 1, at=at, actor=actor, prev_hash=prev)
    ordered = [values[name] for name in log.LOG_FIELDS]
    digest = log.entry_hash([log.format_at(v) if isinstance(v, dt.datetime) else v for v in ordered])
    names = ", ".join(f'"{n}"' for n in (*log.LOG_FIELDS, "hash"))
    marks = ", ".join(["%s"] * (len(ordered) + 1))
    conn.execute(f"INSERT INTO transition_log ({names}) VALUES ({marks})", [*ordered, digest])
    conn.execute("UPDATE log_head SET seq = %s, hash = %s WHERE id = 1", (seq + 1, digest))
    return seq + 1


def refused_by_database(place: Secured, person: str, work, match: str) -> None:
    """`work(conn)` in one transaction of `person`'s is refused (at the latest at commit); nothing stays."""
    before = log_size(place)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=match), connected(place, person) as conn:
        work(conn)
    assert log_size(place) == before


def verified(place: Secured) -> bool:
    db = place.db("rut")
    try:
        return audit.verify(db, place.name("rut")).ok
    finally:
        db.dispose()


def log_size(place: Secured) -> int:
    db = place.db("rut")
    with db.read() as session:
        found = session.execute(text("SELECT count(*) FROM transition_log")).scalar_one()
    db.dispose()
    return found


# --- the command line ------------------------------------------------------------


def test_a_person_acts_as_their_own_login_and_the_log_names_them(secured):
    anna = secured.name("anna")
    done = cli(secured, "anna", "stage", "open", secured.cycle, MEETING_STAGE)
    assert done.returncode == 0, done.stderr
    shown = cli(secured, "rut", "log", "--cycle", secured.cycle, "--event", "open", "--format", "json")
    assert [e["actor"] for e in json.loads(shown.stdout)] == [anna]


def test_as_naming_someone_else_is_refused_in_db_mode(secured):
    anna, per = secured.name("anna"), secured.name("per")
    done = cli(secured, "anna", "--as", per, "stage", "open", secured.cycle, MEETING_STAGE)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: you are logged in to the database as {anna}: you cannot act as {per}",
        "Error: the identity comes from the database login (identity 'db'); leave out --as and ARSHJUL_USER",
    ]
    assert cli(secured, "anna", "--as", anna, "stage", "open", secured.cycle, MEETING_STAGE).returncode == 0


def test_claiming_someone_else_is_refused_by_the_database_too(secured):
    """Without --identity db the application believes --as; the database does not."""
    anna, per = secured.name("anna"), secured.name("per")
    assert cli(secured, "anna", "stage", "open", secured.cycle, MEETING_STAGE).returncode == 0
    assert cli(secured, "anna", "stage", "submit", secured.cycle, MEETING_STAGE).returncode == 0
    # Four-eyes stops anna from approving her own submission, so she claims to be per:
    env = clean_env(ARSHJUL_DB=secured.person_url("anna"), ARSHJUL_USER=per)
    done = subprocess.run([*arshjul_command(), "stage", "approve", secured.cycle, MEETING_STAGE],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"Error: the database refused: log entries are written in your own name: you are logged in as {anna}, "
        f"the entry names {per}"
    )
    assert cli(secured, "per", "stage", "approve", secured.cycle, MEETING_STAGE).returncode == 0


# --- raw SQL, as a person with psql could send it -------------------------------


def test_a_log_entry_in_someone_elses_name_is_refused(secured):
    def forge(conn):
        append_raw(conn, secured.name("per"), event="open", cycle=secured.cycle, stage=MEETING_STAGE)

    refused_by_database(secured, "anna", forge, "written in your own name")


@pytest.mark.parametrize("statement", [
    "UPDATE transition_log SET comment = 'changed' WHERE seq = 1",
    "DELETE FROM transition_log WHERE seq = 2",
    "TRUNCATE transition_log",
])  # fmt: skip
@pytest.mark.parametrize("person", ["anna", "admin"])
def test_nobody_but_the_owner_may_update_or_delete_the_log(secured, person, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table transition_log"):
        sql(secured, person, statement)


def test_the_owner_is_refused_by_the_trigger(secured):
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        sql(secured, "owner", "DELETE FROM transition_log WHERE seq = 2")
    assert verified(secured)


def test_a_state_change_without_its_log_entry_is_refused(secured):
    def sneak(conn):
        conn.execute("UPDATE stage SET state = 'open', version = version + 1 WHERE key = %s", (MEETING_STAGE,))

    refused_by_database(secured, "anna", sneak, "without its log entry by you")


def test_a_logged_change_by_someone_without_the_role_is_refused(secured):
    def usurp(conn):
        conn.execute("UPDATE stage SET state = 'open', version = version + 1 WHERE key = %s", (MEETING_STAGE,))
        append_raw(conn, secured.name("oskar"), event="open", cycle=secured.cycle, stage=MEETING_STAGE,
                   from_state="pending", to_state="open")  # fmt: skip

    refused_by_database(secured, "oskar", usurp, "needs the role owner of unit ks")


def test_four_eyes_holds_in_the_database(secured):
    anna = secured.name("anna")
    actions.open_stage(db := secured.db("anna"), anna, secured.cycle, MEETING_STAGE)
    actions.submit_stage(db, anna, secured.cycle, MEETING_STAGE)
    db.dispose()

    def approve_own(conn):
        append_raw(conn, anna, event="approve", cycle=secured.cycle, stage=MEETING_STAGE,
                   from_state="submitted", to_state="approved")  # fmt: skip
        conn.execute("UPDATE stage SET state = 'approved', version = version + 1 WHERE key = %s", (MEETING_STAGE,))

    refused_by_database(secured, "anna", approve_own, "four-eyes")


def test_a_backdated_entry_is_refused(secured):
    def backdate(conn):
        last_year = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=365)
        append_raw(conn, secured.name("anna"), at=last_year, event="open", cycle=secured.cycle,
                   stage=MEETING_STAGE, from_state="pending", to_state="open")  # fmt: skip
        conn.execute("UPDATE stage SET state = 'open', version = version + 1 WHERE key = %s", (MEETING_STAGE,))

    refused_by_database(secured, "anna", backdate, "off the database's clock")


def test_what_the_application_would_write_is_what_raw_sql_may_write(secured):
    """The checks describe the application's path, not its binary: a correct entry passes, and verifies."""
    anna = secured.name("anna")
    with connected(secured, "anna") as conn:
        conn.execute("UPDATE stage SET state = 'open', version = version + 1 WHERE key = %s", (MEETING_STAGE,))
        append_raw(conn, anna, event="open", cycle=secured.cycle, stage=MEETING_STAGE,
                   from_state="pending", to_state="open")  # fmt: skip
    assert verified(secured)


def test_the_chain_head_cannot_be_moved_back(secured):
    def rewind(conn):
        conn.execute("UPDATE log_head SET seq = 1, hash = (SELECT hash FROM transition_log WHERE seq = 1)")

    refused_by_database(secured, "anna", rewind, "newest log entry")


def test_people_neither_write_the_organisation_nor_read_the_outbox(secured):
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table role_grant"):
        sql(secured, "anna", "INSERT INTO role_grant (username, role, unit_key) VALUES (%s, 'admin', '')",
            params=(secured.name("anna"),))  # fmt: skip
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table outbox_message"):
        sql(secured, "anna", "SELECT * FROM outbox_message")


def test_an_admin_changes_the_organisation_only_with_its_log_entry(secured):
    def grant_quietly(conn):
        conn.execute("INSERT INTO role_grant (username, role, unit_key) VALUES (%s, 'approver', 'bou')",
                     (secured.name("admin"),))  # fmt: skip

    refused_by_database(secured, "admin", grant_quietly, "only together with an org_load log entry")


def test_an_admin_whose_login_lacks_the_group_is_told_so(secured, pg_template):
    """The organisation says admin, the database does not: a Refused (exit 1) in the database's words."""
    pg_template._execute(f'REVOKE "admins_{secured.tag}" FROM "{secured.name("admin")}"')
    pg_template._execute(f'GRANT "people_{secured.tag}" TO "{secured.name("admin")}"')
    org = tagged(secured.tag)
    org = dataclasses.replace(org, meetings=(*org.meetings, MeetingDef("ks", dt.date(2027, 11, 3))))
    db = secured.db("admin")
    with pytest.raises(Refused) as caught:
        organisation.load_organisation(db, secured.name("admin"), org)
    db.dispose()
    assert caught.value.lines() == ["the database refused: permission denied for table meeting",
                                    "your database login lacks the privilege: see docs/deploy.md"]  # fmt: skip


# --- setting it up ---------------------------------------------------------------


def test_identity_comes_from_the_login_and_a_matching_claim_is_fine(secured):
    db = secured.db("per")
    assert acting(db, "db", None) == acting(db, "db", secured.name("per")) == secured.name("per")
    assert acting(db, "claimed", "someone") == "someone"
    db.dispose()


def test_only_the_owner_may_set_up_access(secured):
    db = secured.db("admin")
    with pytest.raises(Refused, match="only the schema's owner"):
        access.setup(db.engine, f"people_{secured.tag}", f"admins_{secured.tag}")
    db.dispose()


def test_setup_names_the_group_roles_it_misses(secured):
    owner = Database(secured.person_url("owner"))
    with pytest.raises(BadInput) as caught:
        access.setup(owner.engine, f"people_{secured.tag}", "no_such_group")
    owner.dispose()
    assert caught.value.lines() == [
        "the group role(s) no_such_group do not exist",
        'a database superuser creates them: CREATE ROLE "no_such_group" NOLOGIN;',
    ]


def test_an_upgrade_by_init_keeps_the_access(secured):
    """`arshjul init` after a schema upgrade sets the access up again, new columns included."""
    owner_url = secured.person_url("owner")
    from alembic import command

    from cycle.schema import alembic_config

    owner = Database(owner_url)
    with owner.engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    owner.dispose()
    done = subprocess.run([*arshjul_command(), "--db", owner_url, "init"], capture_output=True, text=True,
                          env=clean_env(), timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"access set up again for people_{secured.tag} and admins_{secured.tag}" in done.stderr
    db = secured.db("anna")
    actions.set_deadline(db, secured.name("anna"), secured.cycle, "analys", dt.date(2026, 12, 18), "Tidigare",
                         input_key="underlag", unit="bou")  # fmt: skip
    db.dispose()


def test_init_by_someone_who_does_not_own_the_schema_is_refused_and_changes_nothing(secured):
    """An admin (not the owner role) runs the upgrade: the database refuses, exit 1 with who may, no internal error."""
    from alembic import command

    from cycle.database import schema_revision
    from cycle.schema import alembic_config

    owner = Database(secured.person_url("owner"))
    with owner.engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    done = cli(secured, "admin", "init")
    found = schema_revision(owner.engine)
    owner.dispose()
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "Error: the database refused: must be owner of table transition_log",
        "Error: run `arshjul init` as the role that owns the schema (docs/deploy.md, sections 3 and 7)",
    ]
    assert found == "0004"


def test_db_identity_needs_postgresql(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'office.db'}")
    with pytest.raises(BadInput, match="identity 'db' needs PostgreSQL"):
        acting(db, "db", None)
    with pytest.raises(BadInput, match="access setup is for PostgreSQL"):
        access.setup(db.engine)
    db.dispose()
