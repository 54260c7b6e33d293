"""Engines, units of work and the schema check.

SQLite is the embedded default: WAL so readers never block the writer, a busy
timeout so writers queue instead of failing, foreign keys on, and write
transactions that start with `BEGIN IMMEDIATE`. Python's sqlite3 driver begins
transactions lazily, so a read-then-write transaction would otherwise take the
write lock only at its first write: two such transactions can then both read the
old state, and the loser fails with "database is locked" regardless of the busy
timeout. Taking the lock up front makes every write transaction serial.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Iterator

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cycle.clock import Clock, SystemClock
from cycle.errors import BadInput, Refused, SchemaMissing, StaleState

# The Alembic head this code expects; a unit test keeps it equal to the shipped migrations.
SCHEMA_REVISION = "0005"
SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_URL = "sqlite:///arshjul.db"
INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE of PostgreSQL's "permission denied" and of cycle.access's checks
# What an SQLite URL may ask of the file (`?mode=ro`, `?immutable=1`): SQLite's own URI parameters, which
# reach SQLite only in a `file:` URI, and the driver's own. Anything else would be silently ignored.
SQLITE_URI_PARAMETERS = ("mode", "immutable", "cache", "nolock", "psow", "vfs", "modeof")
PYSQLITE_PARAMETERS = ("uri", "timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements")
SECRET_PARAMETERS = ("password", "sslpassword")  # libpq takes them in the query string too
# The databases and drivers arshjul is built and tested for: SQLite through Python's sqlite3, PostgreSQL through
# psycopg 3 (SQLAlchemy 2.1's default for postgresql://).
DRIVERS = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg")}
# The shape SQLAlchemy's make_url reads (sqlalchemy.engine.url._parse_url), here only to say what is wrong
# with a URL it cannot read or that arshjul cannot use; the port as written, whatever it is.
URL_SHAPE = re.compile(
    r"""(?P<scheme>[\w+]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
        (?:/(?P<database>[^?]*))?
        (?:\?(?P<query>.*))?""",
    re.VERBOSE | re.DOTALL,
)
SCHEME_ONLY = re.compile(r"[A-Za-z][\w+.-]*:")


class SchemaTooNew(BadInput):
    """The database's schema was made by a newer arshjul than this one."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _configure_sqlite(engine: Engine, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not read_only:  # switching to WAL writes the file; a read-only one is read as it is
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            parsed = sqlite_url(parsed)
            _require_file_if_read_only(parsed)
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine, read_only=_read_only(parsed))
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except BadInput:
        raise
    except ModuleNotFoundError as err:  # psycopg, on a machine installed without the [postgres] extra
        said = f"its driver {err.name} is not installed: install arshjul with its [postgres] extra (docs/deploy.md)"
        raise BadInput(f"cannot use the database URL '{_shown(url)}': {said}") from err
    except Exception as err:  # anything else SQLAlchemy refuses in a URL it could read
        raise BadInput(f"cannot use the database URL '{_shown(url)}': {err}") from err


def parse_url(url: str) -> URL:
    """The URL read, once it is one arshjul can use; else BadInput naming, in one line, what is wrong with it,
    the URL shown as given but without its password. Nothing is opened or created."""
    problem = _url_problem(url)
    if problem is None:
        try:
            parsed = make_url(url)
        except Exception as err:  # noqa: BLE001 - _url_problem should have named it; say what SQLAlchemy said
            problem = str(err)
        else:
            problem = _repeated(parsed)
    if problem is None:
        return parsed
    if not url:
        raise BadInput(f"cannot use the database: {problem}")
    raise BadInput(f"cannot use the database URL '{_shown(url)}': {problem}")


def _shown(url: str) -> str:
    """A URL in a message: as written, without its password, control characters escaped (`\\n`) so it stays one line."""
    shown = _without_password(url)
    return "".join(ch if 32 <= ord(ch) != 127 else ch.encode("unicode_escape").decode() for ch in shown)


def _url_problem(url: str) -> str | None:
    """What keeps SQLAlchemy from reading `url`, or arshjul from using it; None for a URL worth reading."""
    if not url.strip():
        return "no URL given (--db or ARSHJUL_DB is empty)"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "the URL contains a line break or another control character"
    found = URL_SHAPE.match(url)
    if found is None:
        if SCHEME_ONLY.match(url) and not os.path.exists(url):
            return "it is not a database URL: write sqlite:///FILE or postgresql+psycopg://USER@HOST/DATABASE"
        return f"it is a file path, not a URL: for an SQLite file write sqlite:///{url}"
    backend, _, driver = found["scheme"].partition("+")
    if backend not in DRIVERS:
        if backend == "postgres":
            return "write postgresql+psycopg://, not postgres://"
        return f"arshjul works with SQLite (sqlite:///FILE) and PostgreSQL (postgresql+psycopg://…), not {backend}"
    if driver not in DRIVERS[backend]:
        if backend == "sqlite":
            return f"arshjul opens SQLite files with Python's own sqlite3: write sqlite:///FILE, not sqlite+{driver}"
        return f"arshjul reaches PostgreSQL through psycopg 3: write postgresql+psycopg://…, not postgresql+{driver}"
    if backend == "sqlite":
        return _sqlite_server(url, found)
    return _port_problem(found)


def _sqlite_server(url: str, found: re.Match) -> str | None:
    """A host, port, user or password in an SQLite URL (`sqlite://localhost/x.db`): a file has none."""
    start = found.end("scheme") + 3
    authority = url[start : found.start("database") - 1 if found["database"] is not None else found.end()]
    authority = authority.partition("?")[0]
    if not authority:
        return None
    if "@" in authority:  # the password hidden, as everywhere
        userinfo, _, host = authority.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}{':***' if colon else ''}@{host}"
    path = found["database"] or "FILE"
    return f"an SQLite URL names a file, not a server ('{authority}'): write sqlite:///{path}"


def _port_problem(found: re.Match) -> str | None:
    port, host = found["port"], found["ipv4host"] or ""
    if port is not None and "@" in port:  # `user:p@ss@host`: SQLAlchemy ends the password at the first '@'
        return "an '@' follows the host: percent-encode an '@' in the user name or password as %40"
    if host.rpartition("@")[2].startswith("["):
        written = host.rpartition("@")[2] + (f":{port}" if port is not None else "")
        return f"the IPv6 address '{written}' has no closing ']'"
    if port is None:
        return None
    if port == "":
        return "the port after ':' is missing"
    if not re.fullmatch(r"[0-9]+", port):
        return f"the port '{port}' is not a number"
    if not 1 <= int(port) <= 65535:
        return f"the port {int(port)} is not between 1 and 65535"
    return None


def _repeated(parsed: URL) -> str | None:
    """A query parameter given twice (`?mode=ro&mode=rw`): the driver would get a list, or one of them."""
    twice = [key for key, value in parsed.query.items() if isinstance(value, tuple)]
    return f"{', '.join(twice)} is given twice" if twice else None


def sqlite_url(url: str | URL) -> URL:
    """The URL as the driver must get it: SQLite's parameters (`?mode=ro`) in a `file:` URI, which the
    driver opens with `uri=true`; given as they are, SQLAlchemy would warn and drop them, and a
    `?mode=ro` database would be written to."""
    parsed = make_url(url)
    unknown = [key for key in parsed.query if key not in SQLITE_URI_PARAMETERS + PYSQLITE_PARAMETERS]
    if unknown:
        raise BadInput(
            f"cannot use the database {describe(url)}: unknown SQLite URL parameter(s) {', '.join(unknown)}",
            f"SQLite takes {', '.join(SQLITE_URI_PARAMETERS)}, e.g. {parsed.set(query={}).render_as_string()}?mode=ro",
        )
    _require_seconds(url, parsed)
    path = parsed.database
    # A `file:` path is SQLite's URI, as `sqlite_path` reads it: without uri=true the driver would create a
    # file called `file:…` where every message named another.
    wants_uri = (any(key in SQLITE_URI_PARAMETERS for key in parsed.query) or parsed.query.get("uri") == "true"
                 or (path or "").startswith("file:"))  # fmt: skip
    if not wants_uri or not path or path == ":memory:" or path.startswith("file:"):
        return parsed.update_query_dict({"uri": "true"}) if wants_uri else parsed
    quoted = urllib.parse.quote(os.path.abspath(path))
    return parsed.set(database=f"file:{quoted}").update_query_dict({"uri": "true"})


def _require_seconds(url: str | URL, parsed: URL) -> None:
    """`?timeout=` (the driver's busy timeout) in seconds, checked before the driver fails on it."""
    said = parsed.query.get("timeout")
    try:
        if said is None or float(said) >= 0:
            return
    except ValueError:
        pass
    raise BadInput(f"cannot use the database URL '{_shown(str(url))}': ?timeout={said} is not a number of seconds")


def _require_file_if_read_only(url: URL) -> None:
    """A read-only URL names a file that must be there: SQLite would create it empty (`?immutable=1`) or fail."""
    path = sqlite_path(url)
    if path is None or not _read_only(url) or os.path.exists(path):
        return
    given = "?mode=ro" if url.query.get("mode") == "ro" else f"?immutable={url.query['immutable']}"
    raise BadInput(
        f"cannot use the database {path}: it does not exist, and {given} opens it read-only: it cannot be created so",
        f"check the path; to create the database, leave {given} out and run `arshjul init`",
    )


def _read_only(url: URL) -> bool:
    return url.query.get("mode") == "ro" or url.query.get("immutable") not in (None, "0", "false")


def sqlite_path(url: URL) -> str | None:
    """The file an SQLite URL names; None for an in-memory database."""
    path = url.database or ""
    if path.startswith("file:"):
        path = urllib.parse.unquote(path.removeprefix("file:").partition("?")[0])
        path = path.removeprefix("//localhost").removeprefix("//") if path.startswith("//") else path
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        return None
    return path


class Database:
    """The composition root's handle on storage and time: units of work plus the clock."""

    def __init__(self, url: str = DEFAULT_URL, clock: Clock | None = None, engine: Engine | None = None):
        self.url = url
        self.engine = engine or make_engine(url)
        self.clock = clock or SystemClock()
        self.sqlite = self.engine.dialect.name == "sqlite"
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.sqlite else self.engine
        self._write = sessionmaker(bind=self._writer, expire_on_commit=False)
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any exception."""
        with _translated_errors(), self._write() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction on a bare connection, for the actions that run all day long.

        The same transaction as `write()` (`BEGIN IMMEDIATE` on SQLite), without a Session:
        the stage and input actions run prepared statements (`cycle.prepared`) on it.
        """
        with _translated_errors(), self._writer.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with _translated_errors(), self._read() as session, session.begin():
            yield session

    def require_schema(self) -> None:
        """Refuse to work on a database that `arshjul init` has not brought up to date."""
        where = describe(self.url)
        require_lasting(self.engine)
        if self._missing_file():
            raise SchemaMissing(f"the database {where} does not exist", "run `arshjul init` to create it")
        found = schema_revision(self.engine)
        if found == SCHEMA_REVISION:
            return
        if found is None:
            raise SchemaMissing(f"the database {where} has no arshjul schema", "run `arshjul init` first")
        require_known(found, where)
        raise SchemaMissing(
            f"the database {where} has schema revision {found}, this arshjul expects {SCHEMA_REVISION}",
            "run `arshjul init` to upgrade it",
        )

    def _missing_file(self) -> bool:
        """An SQLite file that is not there; connecting would create it, empty."""
        path = sqlite_path(self.engine.url) if self.sqlite else None
        return path is not None and not os.path.exists(path)

    def dispose(self) -> None:
        self.engine.dispose()


def describe(url: str | URL) -> str:
    """The database as a person would name it, in every message: the file, or the URL without its password."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, without what may be a password
        return _without_password(str(url))
    if parsed.get_backend_name() == "sqlite":
        return sqlite_path(parsed) or ":memory:"
    return parsed.difference_update_query(SECRET_PARAMETERS).render_as_string(hide_password=True)


def _without_password(url: str) -> str:
    """A URL SQLAlchemy cannot read (`…:notaport/…`) as written, but with `***` for a password (up
    to the last `@`, which may hide too much, never too little) and without a `?password=`."""
    scheme, slashes, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        scheme, slashes = "", f"{scheme}{slashes}{user}{':***' if colon else ''}@"
    head, mark, query = rest.partition("?")
    kept = [p for p in query.split("&") if p and p.partition("=")[0].lower() not in SECRET_PARAMETERS]
    return f"{scheme}{slashes}{head}" + (f"{mark}{'&'.join(kept)}" if kept else "")


def require_lasting(engine: Engine) -> None:
    """Refuse an in-memory SQLite database: each command would start from an empty one."""
    if engine.dialect.name == "sqlite" and sqlite_path(engine.url) is None:
        raise BadInput(
            "the database is in memory (sqlite://): each command starts from an empty one and nothing is kept",
            "give a file: --db sqlite:///arshjul.db (or ARSHJUL_DB)",
        )


def require_known(revision: str, where: str) -> None:
    """Refuse a schema revision that no shipped migration made: a newer arshjul made it."""
    from cycle.schema import known_revisions  # Alembic is loaded only when the revision is not ours

    if revision not in known_revisions():
        raise SchemaTooNew(
            f"the database {where} has schema revision {revision}, newer than this arshjul "
            f"(it knows revisions up to {SCHEMA_REVISION})",
            "a newer arshjul has upgraded it: upgrade arshjul on this machine too (docs/deploy.md, section 7)",
        )


def schema_revision(engine: Engine | Connection) -> str | None:
    """The Alembic revision of the database, None for a database without our schema."""
    try:
        with contextlib.nullcontext(engine) if isinstance(engine, Connection) else engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as err:
        raise cannot_use(engine.engine.url, err) from err


def outage(url: str | URL, err: Exception) -> BadInput | None:
    """`err` as `cannot_use` tells it if the database was unreachable, locked, restarting or no database at all;
    None for anything else (IntegrityError and its kind are bugs, not outages)."""
    return cannot_use(url, err) if type(err) in (OperationalError, DatabaseError) else None


def cannot_use(url: str | URL, err: Exception) -> BadInput:
    """The database could not be opened or reached: what it said, and for an SQLite file, why."""
    said = str(getattr(err, "orig", None) or err).strip()
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a URL we could not parse has no file to look at
        parsed = None
    hint = None
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        hint = _sqlite_trouble(sqlite_path(parsed), said)
    return BadInput(f"cannot use the database {describe(url)}: {said}", hint)


def _sqlite_trouble(path: str | None, said: str) -> str | None:
    """Why SQLite could not open a file: it is a folder, its folder is missing, or not writable for the -wal
    and -shm files."""
    if path is None or "unable to open" not in said:
        return None
    if os.path.isdir(path):
        return f"{path} is a folder, not a file: name a file in it, e.g. sqlite:///{os.path.join(path, 'arshjul.db')}"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    if os.access(folder, os.W_OK):
        return None
    if not os.path.exists(path):
        return f"the folder {folder} is not writable, so the database cannot be created there"
    name = os.path.basename(path)
    return (
        f"the folder {folder} is not writable: SQLite keeps {name}-wal and {name}-shm beside the database and "
        "must create them even to read it (docs/deploy.md, section 8)\n"
        f"make the folder writable for arshjul's users, or, if nobody writes to it, read it as it is: "
        f"--db 'sqlite:///{os.path.abspath(path)}?immutable=1'"
    )


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except StaleDataError as err:
        raise StaleState.moved() from err
    except DBAPIError as err:
        if getattr(err.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        diag = getattr(err.orig, "diag", None)
        said = getattr(diag, "message_primary", None) or str(err.orig).strip()
        hint = getattr(diag, "message_hint", None) or "your database login lacks the privilege: see docs/deploy.md"
        raise Refused(f"the database refused: {said}", hint) from err
