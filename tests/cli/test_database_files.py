"""The database as IT gives it to the installed `arshjul`: SQLite URLs with parameters, files and
folders that cannot be written, and servers that refuse. Every message names the database the
same way (the file, or the URL without any password), never a warning or a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import CYCLE, STAGE
from tests.conftest import copied


def deadline(run, url: str) -> str:
    ran = run("--db", url, "--as", "oskar", "status", CYCLE, "--format", "json")
    assert ran.code == 0, ran.stderr
    return next(s["deadline"] for s in json.loads(ran.stdout)["stages"] if s["key"] == STAGE)


def errors_only(ran) -> None:
    assert ran.stderr and all(line.startswith("Error: ") for line in ran.stderr.splitlines()), ran.stderr


def test_a_read_only_url_reads_without_a_warning_and_writes_nothing(run, url):
    path = url.removeprefix("sqlite:///")
    before = deadline(run, url)
    read_only = f"{url}?mode=ro"
    shown = run("--db", read_only, "--as", "oskar", "cycle", "list")
    assert shown.code == 0 and CYCLE in shown.stdout
    assert shown.stderr == ""
    moved = run("--db", read_only, "--as", "oskar", "deadline", "set", CYCLE, STAGE, "2026-03-02", "-m", "Flyttad")
    assert moved.code == 2
    errors_only(moved)
    assert f"Error: cannot use the database {path}: attempt to write a readonly database" in moved.stderr
    assert deadline(run, url) == before


def test_a_read_only_url_reads_a_database_that_is_not_in_wal_mode(run, url):
    path = url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    shown = run("--db", f"{url}?mode=ro", "--as", "oskar", "cycle", "list")
    assert shown.code == 0 and CYCLE in shown.stdout, shown.stderr


def test_an_unknown_sqlite_url_parameter_is_bad_input_not_ignored(run, url):
    ran = run("--db", f"{url}?mdoe=ro", "--as", "oskar", "cycle", "list")
    assert ran.code == 2
    errors_only(ran)
    assert "unknown SQLite URL parameter(s) mdoe" in ran.stderr and "?mode=ro" in ran.stderr


def test_init_names_the_file_as_every_other_message_does(run, tmp_path):
    path = tmp_path / "new.db"
    ran = run("--db", f"sqlite:///{path}", "init")
    assert ran.stderr == f"{path}: created the schema (revision 0005)\n"


def test_no_password_reaches_a_message_wherever_the_url_carries_it(run):
    for url in ("postgresql+psycopg://anna:s3cret@127.0.0.1:1/arshjul",
                "postgresql+psycopg://anna@127.0.0.1:1/arshjul?password=s3cret&sslmode=disable"):  # fmt: skip
        ran = run("--db", url, "--as", "anna", "cycle", "list")
        assert ran.code == 2
        errors_only(ran)
        assert "s3cret" not in ran.stderr + ran.stdout
        assert "Error: cannot use the database postgresql+psycopg://anna" in ran.stderr
        assert "\t" not in ran.stderr  # libpq's indented second line, as one more Error: line


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://127.0.0.1:notaport/arshjul", "postgresql+psycopg://127.0.0.1:notaport/arshjul"),
        ("postgresql+psycopg://anna:s3cret@127.0.0.1:notaport/arshjul",
         "postgresql+psycopg://anna:***@127.0.0.1:notaport/arshjul"),
        ("postgresql+psycopg://anna:s3@cret@db.kommun.se:54x2/arshjul?sslmode=require&password=s3cret",
         "postgresql+psycopg://anna:***@db.kommun.se:54x2/arshjul?sslmode=require"),
    ],
)  # fmt: skip
def test_a_url_that_cannot_be_read_is_shown_as_given_without_its_password(run, tmp_path, url, shown):
    ran = run("--db", url, "--as", "anna", "cycle", "list")
    assert ran.code == 2
    errors_only(ran)
    assert ran.stderr.startswith(f"Error: cannot use the database URL '{shown}': ")
    assert "s3" not in ran.stderr and "cret" not in ran.stderr
    assert list(tmp_path.iterdir()) == []


# --- a folder that cannot be written -----------------------------------------------


@contextlib.contextmanager
def read_only(folder: Path):
    """The folder read-only for this process: its mode, or for root (whom modes do not stop) a
    read-only bind mount; skipped where neither works."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mount = ["mount", "--bind", str(folder), str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("root without a read-only bind mount: cannot make a folder read-only here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


@pytest.fixture
def office(tmp_path, started_file):
    """A folder holding a WAL database with the Ånge cycle, closed cleanly (no -wal or -shm left)."""
    folder = tmp_path / "office"
    folder.mkdir()
    copied(started_file, folder / "arshjul.db")
    assert sorted(p.name for p in folder.iterdir()) == ["arshjul.db"]
    return folder


def test_a_wal_database_in_a_read_only_folder_says_why_and_how_to_read_it(run, office):
    path = office / "arshjul.db"
    with read_only(office):
        ran = run("--db", f"sqlite:///{path}", "--as", "oskar", "cycle", "list")
        assert ran.code == 2
        errors_only(ran)
        assert f"the folder {office} is not writable" in ran.stderr
        assert "arshjul.db-wal" in ran.stderr
        hinted = f"sqlite:///{path}?immutable=1"
        assert hinted in ran.stderr
        shown = run("--db", hinted, "--as", "oskar", "cycle", "list")
        assert shown.code == 0 and CYCLE in shown.stdout, shown.stderr
        refused = run("--db", hinted, "--as", "oskar", "stage", "open", CYCLE, STAGE)
        assert refused.code == 2
        errors_only(refused)
    assert sorted(p.name for p in office.iterdir()) == ["arshjul.db"]


def test_init_in_a_read_only_or_missing_folder_says_which_folder(run, office):
    with read_only(office):
        ran = run("--db", f"sqlite:///{office / 'new.db'}", "init")
        assert ran.code == 2
        errors_only(ran)
        assert f"the folder {office} is not writable" in ran.stderr
    missing = office / "no" / "such"
    ran = run("--db", f"sqlite:///{missing / 'x.db'}", "init")
    assert ran.code == 2 and f"Error: the folder {missing} does not exist" in ran.stderr
    assert not (office / "new.db").exists()


# --- malformed URLs: one line saying what is wrong, exit 2, nothing written ----------

BACKENDS = "SQLite (sqlite:///FILE) and PostgreSQL (postgresql+psycopg://…)"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql+psycopg://u@localhost:abc/db",
         "'postgresql+psycopg://u@localhost:abc/db': the port 'abc' is not a number"),
        ("postgresql+psycopg://anna:s3cret@localhost:abc/db",
         "'postgresql+psycopg://anna:***@localhost:abc/db': the port 'abc' is not a number"),
        ("postgresql+psycopg://u@localhost:/db",
         "'postgresql+psycopg://u@localhost:/db': the port after ':' is missing"),
        ("postgresql+psycopg://u@localhost:99999/db", "the port 99999 is not between 1 and 65535"),
        ("postgresql+psycopg://u@localhost:0/db", "the port 0 is not between 1 and 65535"),
        ("postgresql+psycopg://u@[::1/db", "the IPv6 address '[::1' has no closing ']'"),
        ("postgresql+psycopg://u@localhost/db?sslmode=require&sslmode=disable", "sslmode is given twice"),
        ("sqlite:///arshjul.db?mode=ro&mode=rw", "mode is given twice"),
        ("sqlite://localhost/x.db", "an SQLite URL names a file, not a server ('localhost'): write sqlite:///x.db"),
        ("sqlite://localhost:abc/x.db", "an SQLite URL names a file, not a server ('localhost:abc')"),
        ("sqlite://anna:s3cret@/x.db", "an SQLite URL names a file, not a server ('anna:***@')"),
        ("mysql://u@h/db", f"arshjul works with {BACKENDS}, not mysql"),
        ("foo://x", f"arshjul works with {BACKENDS}, not foo"),
        ("postgresql+psycopg2://u@h/db", "arshjul reaches PostgreSQL through psycopg 3: write postgresql+psycopg://"),
        ("sqlite+aiosqlite:///x.db", "write sqlite:///FILE"),
        ("sqlite:/x.db", "'sqlite:/x.db': it is not a database URL: write sqlite:///FILE or postgresql+psycopg://"),
        ("", "cannot use the database: no URL given (--db or ARSHJUL_DB is empty)"),
        ("sqlite:///x.db?mode=ro\nimmutable=1", "the URL contains a line break or another control character"),
        ("postgresql+psycopg://anna:s3cret@x:s3cret@db/arshjul", "percent-encode an '@' in the user name or password"),
        ("postgres://u@h/db", "write postgresql+psycopg://, not postgres://"),
        ("arshjul.db", "it is a file path, not a URL: for an SQLite file write sqlite:///arshjul.db"),
        ("sqlite:///x.db?timeout=abc", "?timeout=abc is not a number of seconds"),
    ],
)  # fmt: skip
def test_a_malformed_url_says_what_is_wrong_in_one_line(run, tmp_path, url, said):
    ran = run("--db", url, "--as", "anna", "status")
    assert ran.code == 2, ran.stderr
    (line,) = ran.stderr.splitlines()
    assert line.startswith("Error: cannot use the database") and said in line, line
    assert "s3cret" not in ran.stderr and "invalid literal" not in ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_on_a_folder_says_it_is_a_folder(run, tmp_path):
    for url in (f"sqlite:///{tmp_path}", "sqlite:///."):
        ran = run("--db", url, "init")
        assert ran.code == 2
        errors_only(ran)
        folder = str(tmp_path) if url.endswith(str(tmp_path)) else "."
        assert f"{folder} is a folder, not a file: name a file in it, e.g. sqlite:///" in ran.stderr, ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_file_uri_names_the_file_it_opens(run, tmp_path):
    ran = run("--db", "sqlite:///file:y.db", "init")
    assert ran.stderr == "y.db: created the schema (revision 0005)\n"
    assert [p.name for p in tmp_path.iterdir()] == ["y.db"]  # not a file called 'file:y.db'
    again = run("--db", "sqlite:///file:y.db", "init")
    assert again.stderr == "y.db: schema already at revision 0005, nothing to do\n"


def test_init_with_a_read_only_url_on_a_missing_file_says_it_cannot_create_it(run, tmp_path):
    for query in ("mode=ro", "immutable=1"):
        ran = run("--db", f"sqlite:///x.db?{query}", "init")
        assert ran.code == 2
        errors_only(ran)
        assert f"x.db: it does not exist, and ?{query} opens it read-only: it cannot be created so" in ran.stderr
    assert list(tmp_path.iterdir()) == []
