"""Parameter types, shell completion from the database, and the arguments commands share."""

from __future__ import annotations

import datetime as dt
import os

import click

from cycle.errors import BadInput

DEFAULT_DB = "sqlite:///arshjul.db"  # cycle.database.DEFAULT_URL, repeated so --help needs no SQLAlchemy


class DateType(click.ParamType):
    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, dt.date):
            return value
        from cycle.clock import parse_date

        try:
            return parse_date(value)
        except BadInput as err:
            self.fail(": ".join(err.lines()), param, ctx)


DATE = DateType()


def completer(what: str):
    """Complete cycle, stage, input or unit keys from the database; never raises."""

    def complete(ctx: click.Context, param, incomplete: str) -> list[str]:
        try:
            return [n for n in _names(ctx, what) if n.startswith(incomplete)]
        except Exception:  # completion must never break the shell
            return []

    return complete


def _names(ctx: click.Context, what: str) -> list[str]:
    from cycle.database import Database
    from cycle.status import names

    url = ctx.find_root().params.get("url") or DEFAULT_DB
    if not database_exists(url):
        return []
    params = {k: v for c in (ctx, ctx.parent) if c for k, v in c.params.items()}
    db = Database(url)
    try:
        db.require_schema()
        return names(db, what, params.get("cycle_id"), params.get("stage_key"), params.get("input_key"))
    finally:
        db.dispose()


def database_exists(url: str) -> bool:
    """False for an SQLite file that is not there (connecting would create it)."""
    if not url.startswith("sqlite"):
        return True
    path = url.partition(":///")[2].partition("?")[0]
    return bool(path) and path != ":memory:" and os.path.isfile(path)


def cycle_argument(f):
    return click.argument("cycle_id", metavar="CYCLE", shell_complete=completer("cycle"))(f)


def stage_argument(f):
    return click.argument("stage_key", metavar="STAGE", shell_complete=completer("stage"))(f)


def unit_option(f):
    return click.option("--unit", required=True, shell_complete=completer("unit"),
                        help="The unit whose input it is (one input per unit in its `from` list).")(f)  # fmt: skip


def not_blank(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A required -m that says nothing is missing too: bad usage (exit 2), like leaving it out."""
    if value is not None and not value.strip():
        raise click.BadParameter("it is empty; say what it is about")
    return value


def named_file(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An empty file name (say `-o "$FILE"` with FILE unset) is bad usage, not a file nobody can open."""
    if value == "":
        raise click.BadParameter("it is empty; name a file, or - for standard output")
    return value


def comment_options(required: bool):
    def decorate(f):
        f = click.option("--ref", metavar="TEXT", help="A reference to keep with the entry, e.g. a diarienummer.")(f)
        why = "Required: say what to change." if required else "Optional."
        return click.option("-m", "--message", metavar="TEXT", required=required,
                            callback=not_blank if required else None,
                            help=f"A comment for the log and the people told. {why}")(f)  # fmt: skip

    return decorate
