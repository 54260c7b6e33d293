"""What each PostgreSQL login may do, checked by the database itself (`arshjul access setup`).

Three roles, made by the IT department (docs/deploy.md): the owner role owns the schema
(it runs `arshjul init` and this setup); a people group role that every person's login
role is a member of; and an admins group role for the admins and the scheduler's login.
`setup` gives the groups exactly this:

- people (and admins): read the organisation, the cycles and the log; INSERT into the log; UPDATE
  only `state`, `version` and `deadline` (and an input's `remind_from`) of stage and
  input rows, and the chain head; nothing on the outbox; no UPDATE, DELETE or TRUNCATE
  on the log for anyone but the owner (the append-only trigger refuses even the owner);
- admins: also write the organisation (`org load`), insert cycles (`cycle start`) and
  work the outbox (`reminders`, `scheduler run`).

Privileges alone would let a person write through `psql` whatever the application
could. So every write by a login that is not the owner is checked by triggers, which
make "through the application's own path" mean what the application guarantees:
- a log entry names its writer: `actor` must be the session's login (`session_user`),
  and `at` must be now, within `CLOCK_SKEW`;
- the chain stays one chain: an entry must carry its predecessor's hash and the head
  must point at the newest entry (at commit);
- a stage or input changes only with its log entry, by the same login, in the same
  transaction (at commit, by the row versions' transaction id `xmin`); the entry's
  move must be an arrow of the state machine, made by a holder of the role the
  contract names, not by the submitter when it decides (four-eyes), and an input is
  submitted only to an open stage; a deadline moves with a `deadline` entry by an owner;
- organisation rows change only in a transaction whose log entry is an `org_load` by
  the same login, and cycles are inserted only with a `cycle_start` entry.
What stays with the application alone: the order of stages (`after`) and the required
inputs before a submit; a person bypassing it still writes the log in their own name.

The checks skip the owner (and superusers), who can drop triggers anyway: the protection
against them is `audit checkpoint` kept outside the database.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine, text

from cycle.errors import BadInput, Refused
from cycle.machines import INPUT_MACHINE, STAGE_MACHINE, arrows

PEOPLE, ADMINS = "arshjul_people", "arshjul_admins"
CLOCK_SKEW_MINUTES = 10
GENESIS_HASH = "0" * 64
MARK = "arshjul access"  # the comment on arshjul_privileged() that records the setup

READ = ("alembic_version", "unit", "person", "role_grant", "meeting", "cycle", "stage", "input",
        "transition_log", "log_head")  # fmt: skip
PEOPLE_UPDATE = {"stage": ("state", "version", "deadline"), "input": ("state", "version", "deadline", "remind_from"),
                 "log_head": ("seq", "hash")}  # fmt: skip
ORGANISATION = ("unit", "person", "role_grant", "meeting")
CYCLE_ROWS = ("cycle", "stage", "input")
OUTBOX = {"outbox_message": "SELECT, INSERT, UPDATE, DELETE", "outbox_item": "SELECT, INSERT"}

# The contract's "who may do what": (kind, event) -> (role, the row's column naming the unit).
WHO = {
    ("stage", "open"): ("owner", "owner_unit"), ("stage", "submit"): ("owner", "owner_unit"),
    ("stage", "close"): ("owner", "owner_unit"), ("stage", "approve"): ("approver", "decided_by_unit"),
    ("stage", "return"): ("approver", "decided_by_unit"), ("input", "submit"): ("contributor", "unit_key"),
    ("input", "approve"): ("approver", "approved_by_unit"), ("input", "return"): ("approver", "approved_by_unit"),
}  # fmt: skip
DECIDING = ("approve", "return")


def setup(engine: Engine, people: str = PEOPLE, admins: str = ADMINS) -> list[str]:
    """Grant the groups their privileges and install the checks (idempotent); returns what was done."""
    if engine.dialect.name != "postgresql":
        raise BadInput(
            "access setup is for PostgreSQL: an SQLite file is protected by its file permissions",
            "see docs/deploy.md, 'One office: SQLite'",
        )
    with engine.begin() as conn:
        _require_owner(conn)
        _require_roles(conn, people, admins)
        for statement in statements(conn, people, admins):
            conn.execute(text(statement))
        mark = json.dumps({"people": people, "admins": admins})
        conn.execute(text(f"COMMENT ON FUNCTION arshjul_privileged() IS {_literal(MARK + ' ' + mark)}"))
    return [
        f"{people}: read the organisation, cycles and log; append to the log; move stages and inputs (checked)",
        f"{admins}: also load the organisation, start cycles and work the outbox",
        "the log: UPDATE, DELETE and TRUNCATE for nobody but the owner (and refused for the owner by a trigger)",
    ]


def installed(engine: Engine) -> dict | None:
    """The groups of an earlier `setup` on this database, None if it never ran."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        note = conn.execute(text(
            "SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p "
            "WHERE p.proname = 'arshjul_privileged' AND p.pronamespace = current_schema()::regnamespace"
        )).scalar()  # fmt: skip
    if not note or not note.startswith(MARK + " "):
        return None
    return json.loads(note[len(MARK) + 1 :])


def _require_owner(conn: Connection) -> None:
    owner = conn.execute(text(
        "SELECT pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner) "
        "FROM pg_class c WHERE c.oid = to_regclass('transition_log')"
    )).one_or_none()  # fmt: skip
    if owner is None:
        raise BadInput("the database has no arshjul schema", "run `arshjul init` first, as the owner role")
    if not owner[0]:
        raise Refused(f"only the schema's owner ({owner[1]}) may set up access", "run it as the role that ran init")


def _require_roles(conn: Connection, *roles: str) -> None:
    stmt = text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)")
    found = set(conn.execute(stmt, {"r": list(roles)}).scalars())
    missing = [r for r in roles if r not in found]
    if missing:
        sql = " ".join(f"CREATE ROLE {_ident(r)} NOLOGIN;" for r in missing)
        raise BadInput(f"the group role(s) {', '.join(missing)} do not exist",
                       f"a database superuser creates them: {sql}")  # fmt: skip


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- the statements ----------------------------------------------------------------


def statements(conn: Connection, people: str, admins: str) -> list[str]:
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    return _privileges(schema, database, _ident(people), _ident(admins)) + _checks(schema)


def _privileges(schema: str, database: str, people: str, admins: str) -> list[str]:
    s, both = _ident(schema), f"{people}, {admins}"  # admins get the people's privileges too, not by membership
    done = [
        f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {both}",
        f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {s} TO {both}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM PUBLIC, {both}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM PUBLIC, {both}",
        f"GRANT SELECT ON {', '.join(READ)} TO {both}",
        f"GRANT INSERT ON transition_log TO {both}",
    ]
    done += [f"GRANT UPDATE ({', '.join(cols)}) ON {table} TO {both}" for table, cols in PEOPLE_UPDATE.items()]
    done += [f"GRANT INSERT, UPDATE, DELETE ON {', '.join(ORGANISATION)} TO {admins}",
             f"GRANT INSERT ON {', '.join(CYCLE_ROWS)} TO {admins}",
             f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {admins}"]  # fmt: skip
    done += [f"GRANT {verbs} ON {table} TO {admins}" for table, verbs in OUTBOX.items()]
    return done


def _checks(schema: str) -> list[str]:
    path = f"SET search_path = {_ident(schema)}, pg_temp"
    functions = {
        "arshjul_privileged() RETURNS boolean LANGUAGE sql STABLE": PRIVILEGED,
        "arshjul_log_written() RETURNS trigger LANGUAGE plpgsql": LOG_WRITTEN,
        "arshjul_log_linked() RETURNS trigger LANGUAGE plpgsql": LOG_LINKED,
        "arshjul_head_moved() RETURNS trigger LANGUAGE plpgsql": HEAD_MOVED,
        "arshjul_stage_changed() RETURNS trigger LANGUAGE plpgsql": _changed("stage"),
        "arshjul_input_changed() RETURNS trigger LANGUAGE plpgsql": _changed("input"),
        "arshjul_rows_logged() RETURNS trigger LANGUAGE plpgsql": ROWS_LOGGED,
    }
    done = [f"CREATE OR REPLACE FUNCTION {head} {path} AS $body${body}$body$" for head, body in functions.items()]
    triggers = [
        ("arshjul_log_written", "BEFORE INSERT ON transition_log", "arshjul_log_written()"),
        ("arshjul_log_linked", "AFTER INSERT ON transition_log", "arshjul_log_linked()"),
        ("arshjul_head_moved", "AFTER UPDATE ON log_head", "arshjul_head_moved()"),
        ("arshjul_stage_changed", "AFTER UPDATE ON stage", "arshjul_stage_changed()"),
        ("arshjul_input_changed", "AFTER UPDATE ON input", "arshjul_input_changed()"),
    ]
    triggers += [(f"arshjul_{t}_logged", f"AFTER INSERT OR UPDATE OR DELETE ON {t}", "arshjul_rows_logged('org_load')")
                 for t in ORGANISATION]  # fmt: skip
    triggers += [(f"arshjul_{t}_logged", f"AFTER INSERT ON {t}", "arshjul_rows_logged('cycle_start')")
                 for t in CYCLE_ROWS]  # fmt: skip
    for name, when, call in triggers:
        table = when.split(" ON ")[1].split()[0]
        done.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        # AFTER: checked at commit, as the log entry and the change may come in either order.
        # WHEN: nothing is even queued for the owner, so a migration may ALTER a table it just updated.
        kind = "TRIGGER" if when.startswith("BEFORE") else "CONSTRAINT TRIGGER"
        deferred = "" if when.startswith("BEFORE") else " DEFERRABLE INITIALLY DEFERRED"
        done.append(f"CREATE {kind} {name} {when}{deferred} FOR EACH ROW WHEN (NOT arshjul_privileged()) "
                    f"EXECUTE FUNCTION {call}")  # fmt: skip
    return done


# The owner of the log (and superusers, and members of the owner role) are not checked.
PRIVILEGED = """
SELECT pg_has_role(session_user, c.relowner, 'MEMBER') FROM pg_class c WHERE c.oid = 'transition_log'::regclass
"""

REFUSE = "USING ERRCODE = 'insufficient_privilege'"

LOG_WRITTEN = f"""
BEGIN
  IF arshjul_privileged() THEN RETURN NEW; END IF;
  IF NEW.actor IS DISTINCT FROM session_user::text THEN
    RAISE EXCEPTION 'log entries are written in your own name: you are logged in as %, the entry names %',
      session_user, NEW.actor {REFUSE},
      HINT = 'act as yourself: leave out --as, or use --identity db';
  END IF;
  IF abs(extract(epoch FROM NEW.at - (clock_timestamp() AT TIME ZONE 'UTC'))) > {CLOCK_SKEW_MINUTES * 60} THEN
    RAISE EXCEPTION 'a log entry is dated now: % (UTC) is over {CLOCK_SKEW_MINUTES} minutes off the database''s clock',
      NEW.at {REFUSE}, HINT = 'check the clocks of this machine and of the database server';
  END IF;
  RETURN NEW;
END
"""

LOG_LINKED = f"""
DECLARE
  previous text;
BEGIN
  IF arshjul_privileged() THEN RETURN NULL; END IF;
  previous := CASE WHEN NEW.seq = 1 THEN '{GENESIS_HASH}'
                   ELSE (SELECT l.hash FROM transition_log l WHERE l.seq = NEW.seq - 1) END;
  IF NEW.prev_hash IS DISTINCT FROM previous THEN
    RAISE EXCEPTION 'log entry % does not carry the hash of entry %', NEW.seq, NEW.seq - 1 {REFUSE};
  END IF;
  IF (SELECT h.seq FROM log_head h WHERE h.id = 1) < NEW.seq THEN
    RAISE EXCEPTION 'log entry % was added without moving the chain head to it', NEW.seq {REFUSE};
  END IF;
  RETURN NULL;
END
"""

HEAD_MOVED = f"""
BEGIN
  IF arshjul_privileged() THEN RETURN NULL; END IF;
  IF NOT EXISTS (SELECT 1 FROM transition_log l WHERE l.seq = NEW.seq AND l.hash = NEW.hash)
     OR EXISTS (SELECT 1 FROM transition_log l WHERE l.seq > NEW.seq) THEN
    RAISE EXCEPTION 'the chain head must name the newest log entry' {REFUSE};
  END IF;
  RETURN NULL;
END
"""

ROWS_LOGGED = f"""
BEGIN
  IF arshjul_privileged() THEN RETURN NULL; END IF;
  IF NOT EXISTS (
    SELECT 1 FROM transition_log l JOIN log_head h ON h.id = 1 AND l.seq = h.seq
    WHERE l.xmin = pg_current_xact_id()::xid AND l.actor = session_user::text AND l.event = TG_ARGV[0]
  ) THEN
    RAISE EXCEPTION '% rows change only together with an % log entry by you (%), in the same transaction',
      TG_TABLE_NAME, TG_ARGV[0], session_user {REFUSE};
  END IF;
  RETURN NULL;
END
"""


def _changed(kind: str) -> str:
    """The check of one updated stage or input row against the log entry that must come with it."""
    machine = STAGE_MACHINE if kind == "stage" else INPUT_MACHINE
    allowed = ", ".join(f"('{s}', '{e}', '{d}')" for s, e, d in sorted(arrows(machine)))
    role = " ".join(f"WHEN '{e}' THEN '{r}'" for (k, e), (r, _) in WHO.items() if k == kind)
    unit = " ".join(f"WHEN '{e}' THEN NEW.{c}" for (k, e), (_, c) in WHO.items() if k == kind)
    if kind == "stage":
        where = "c := NEW.cycle_id; s := NEW.key; owners := NEW.owner_unit; stage_state := NEW.state;"
        label = "format('stage %L of %s', s, c)"
    else:
        where = ("SELECT st.cycle_id, st.key, st.owner_unit, st.state INTO c, s, owners, stage_state "
                 "FROM stage st WHERE st.id = NEW.stage_id; i := NEW.key; u := NEW.unit_key;")  # fmt: skip
        label = "format('input %L from unit %L to stage %L of %s', i, u, s, c)"
    same_row = "l.cycle = c AND l.stage = s AND l.input IS NOT DISTINCT FROM i AND l.unit IS NOT DISTINCT FROM u"
    return f"""
DECLARE
  c text; s text; i text; u text; owners text; stage_state text; label text;
  entry transition_log%ROWTYPE; needed text; unit text; submitter text;
  me text := session_user::text;
BEGIN
  IF arshjul_privileged() THEN RETURN NULL; END IF;
  {where}
  label := {label};
  IF NEW.state IS DISTINCT FROM OLD.state THEN
    SELECT * INTO entry FROM transition_log l
     WHERE {same_row} AND l.xmin = pg_current_xact_id()::xid AND l.actor = me
       AND l.from_state = OLD.state AND l.to_state = NEW.state
     ORDER BY l.seq DESC LIMIT 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION '% moved from % to % without its log entry by you (%) in the same transaction',
        label, OLD.state, NEW.state, me {REFUSE};
    END IF;
    IF (OLD.state, entry.event, NEW.state) NOT IN (VALUES {allowed}) THEN
      RAISE EXCEPTION '% cannot go from % to % by %', label, OLD.state, NEW.state, entry.event {REFUSE};
    END IF;
    needed := CASE entry.event {role} END;
    unit := CASE entry.event {unit} END;
    IF NOT EXISTS (SELECT 1 FROM role_grant g WHERE g.username = me AND g.role = needed AND g.unit_key = unit) THEN
      RAISE EXCEPTION '% may not % %: it needs the role % of unit %', me, entry.event, label, needed, unit {REFUSE};
    END IF;
    IF entry.event IN ({", ".join(f"'{e}'" for e in DECIDING)}) THEN
      SELECT l.actor INTO submitter FROM transition_log l
       WHERE {same_row} AND l.event = 'submit' AND l.seq < entry.seq ORDER BY l.seq DESC LIMIT 1;
      IF submitter = me THEN
        RAISE EXCEPTION '% submitted % and may not also decide on it (four-eyes rule)', me, label {REFUSE};
      END IF;
    END IF;
    IF '{kind}' = 'input' AND entry.event = 'submit' AND stage_state <> 'open' THEN
      RAISE EXCEPTION '% can be submitted only while the stage is open; it is %', label, stage_state {REFUSE};
    END IF;
  END IF;
  IF NEW.deadline IS DISTINCT FROM OLD.deadline THEN
    IF NOT EXISTS (SELECT 1 FROM transition_log l
                    WHERE {same_row} AND l.xmin = pg_current_xact_id()::xid AND l.actor = me
                      AND l.event = 'deadline' AND l.from_state = to_char(OLD.deadline, 'YYYY-MM-DD')
                      AND l.to_state = to_char(NEW.deadline, 'YYYY-MM-DD')) THEN
      RAISE EXCEPTION 'the deadline of % moved without its log entry by you (%) in the same transaction',
        label, me {REFUSE};
    END IF;
    IF NOT EXISTS (SELECT 1 FROM role_grant g WHERE g.username = me AND g.role = 'owner' AND g.unit_key = owners) THEN
      RAISE EXCEPTION '% may not move the deadline of %: it needs the role owner of unit %', me, label, owners {REFUSE};
    END IF;
  END IF;
  {_remind_from_check() if kind == "input" else ""}
  RETURN NULL;
END
"""


def _remind_from_check() -> str:
    return f"""IF NEW.remind_from IS DISTINCT FROM OLD.remind_from
     AND NEW.deadline IS NOT DISTINCT FROM OLD.deadline THEN
    RAISE EXCEPTION 'the reminder start of % changes only with its deadline', label {REFUSE};
  END IF;"""
