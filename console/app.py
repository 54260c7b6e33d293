"""The composition root's state and the edge: who acts, the database built on first use,
and the translation of errors into `Error:` lines and the contract's exit codes."""

from __future__ import annotations

import sys

import click
from click.core import ParameterSource

from console.output import paint
from console.params import DEFAULT_DB
from cycle.encoding import require_utf8
from cycle.errors import ArshjulError, BadInput, UnknownPerson

INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, neither a refusal (1) nor bad input (2)


class App:
    """What the commands share: the database (built on first use) and the acting person."""

    def __init__(self, url: str, user: str | None, debug: bool, clock=None, identity: str = "claimed"):
        self.url, self.user, self.debug, self.clock, self.identity = url, user, debug, clock, identity
        self._db = None
        self._actor: str | None = None

    def db(self, schema: bool = True):
        if self._db is None:
            from cycle.database import Database

            self._db = Database(self.url, clock=self.clock)
        if schema:
            self._db.require_schema()
        return self._db

    @property
    def actor(self) -> str:
        if self.user == "":  # `--as "$WHO"` with WHO unset must not act as the login name
            raise BadInput("--as needs a username", "name a registered person, or leave --as out")
        if self._actor is None and self.identity == "claimed":
            self._actor = self.user or self._login_name()
        elif self._actor is None:  # from the database login (cycle.identity)
            from cycle.identity import acting

            self._actor = acting(self.db(), self.identity, self.user)
        return self._actor

    @staticmethod
    def _login_name() -> str:
        import getpass  # here, not at import: `arshjul --help` should cost what click costs

        try:
            name = getpass.getuser()
        except Exception as err:  # no login name (e.g. a container user without a passwd entry)
            raise UnknownPerson(f"cannot tell who you are: {err}", "name yourself with --as or ARSHJUL_USER") from err
        return require_utf8(name, "your login name")

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


pass_app = click.make_pass_decorator(App)


class Failure(click.ClickException):
    """An error for the user: every line on stderr starts with `Error:`."""

    def __init__(self, lines: list[str], exit_code: int):
        self.lines = [part.strip() for line in lines for part in str(line).splitlines() if part.strip()]
        super().__init__("\n".join(self.lines))
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        prefix = paint("Error:", {"fg": "red", "bold": True}, err=True)
        for line in self.lines:
            click.echo(f"{prefix} {line}", err=True)


class ArshjulCommand(click.Command):
    """A command that refuses text it could not store before it runs (`require_text`)."""

    def invoke(self, ctx: click.Context):
        require_text(ctx)
        return super().invoke(ctx)


class ArshjulGroup(click.Group):
    """Turns exceptions into the contract's exit codes; lists commands in the order they are defined."""

    group_class = type  # subgroups are ArshjulGroups too
    command_class = ArshjulCommand

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:  # the global options: arshjul --nope
            raise usage_failure(err) from err

    def invoke(self, ctx: click.Context):
        try:
            require_text(ctx)
            return super().invoke(ctx)
        except ArshjulError as err:
            if _debugging(ctx):
                _print_traceback()
            raise Failure(err.lines(), err.exit_code) from err
        except click.UsageError as err:
            raise usage_failure(err) from err
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise  # click reports these itself (a closed pipe, e.g. `| head`, quietly)
        except Exception as err:
            if _debugging(ctx):
                raise
            raise _unexpected(ctx, err) from err


def require_text(ctx: click.Context) -> None:
    """Every text argument and option, from the command line or the environment, must be encodable as UTF-8
    (`cycle.encoding`): BadInput names the option, argument or variable. File and folder names are exempt: they
    are used as paths, which need not be UTF-8."""
    for param in ctx.command.params:
        value = ctx.params.get(param.name) if param.name else None
        if isinstance(param.type, click.Path) or value is None:
            continue
        for text in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(text, str):  # --db: a URL may hold a password, so none of it is quoted
                require_utf8(text, _named(ctx, param), secret=param.name == "url")


def _named(ctx: click.Context, param: click.Parameter) -> str:
    """How the user gave `param`: its environment variable, its option names, or the argument's name."""
    if param.envvar and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
        return param.envvar if isinstance(param.envvar, str) else "/".join(param.envvar)
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    return param.human_readable_name


def usage_failure(err: click.UsageError) -> click.ClickException:
    """A usage error as `Error:` lines like every other error: what is wrong, then the usage."""
    if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return err  # a bare `arshjul stage` shows the help
    lines = [err.format_message()]
    if err.ctx is not None:
        lines.append(f"usage: {err.ctx.get_usage().removeprefix('Usage: ')} (see {err.ctx.command_path} --help)")
    return Failure(lines, err.exit_code)


def _debugging(ctx: click.Context) -> bool:
    return bool(getattr(ctx.obj, "debug", False) or ctx.params.get("debug"))


def _unexpected(ctx: click.Context, err: Exception) -> Failure:
    if "sqlalchemy.exc" in sys.modules:  # else no database was used, and nothing of it is loaded for this message
        from cycle.database import outage

        down = outage(ctx.find_root().params.get("url", DEFAULT_DB), err)
        if down is not None:
            return Failure(down.lines(), 2)
    return Failure([f"internal error: {type(err).__name__}: {err} (run with --debug for a traceback)"], INTERNAL_ERROR)


def where(url: str) -> str:
    """The database as every message names it: the file, or the URL without its password (`cycle.database`)."""
    from cycle.database import describe  # only where a database is used, so SQLAlchemy is loaded anyway

    return describe(url)


def say(text: str) -> None:
    """Talk (confirmations, notices) goes to stderr; stdout carries data."""
    click.echo(text, err=True)


def _print_traceback() -> None:
    import traceback  # only with --debug

    traceback.print_exc()
