"""arshjul's command line: parse, find out who acts, call one use case, render the result.

The composition root is the group callback: it records the database URL and the acting
person, and builds the `Database` only when a command first needs it, so `--help`
and completion never connect. The core and the notifications are imported inside the
commands that use them, which keeps `arshjul --help` free of SQLAlchemy, APScheduler,
jinja2 and smtplib. Errors of the core (`ArshjulError`) become `Error:` lines on stderr
and the contract's exit codes here, at the edge; anything else is a bug, reported in
one line (exit 70) unless `--debug` asks for the traceback.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import sys

import click

from console.app import App, ArshjulCommand, ArshjulGroup, Failure, pass_app, say, where
from console.output import (
    emit,
    flattened,
    only_columns,
    output_options,
    render_done,
    render_log,
    render_status,
    render_wheel,
    status_rows,
    table,
    write_data,
    write_whole,
)
from console.params import (
    DATE,
    DEFAULT_DB,
    comment_options,
    completer,
    cycle_argument,
    database_exists,
    named_file,
    not_blank,
    stage_argument,
    unit_option,
)
from cycle.errors import BadInput, LogAltered

DEFAULT_ZONE = "Europe/Stockholm"
EVENTS = ("org_load", "cycle_start", "open", "submit", "approve", "return", "close", "deadline")
LOG_KEYS = ("seq", "at", "actor", "cycle", "stage", "input", "unit", "event", "from_state", "to_state",
            "comment", "ref", "prev_hash", "hash")  # fmt: skip
PLAN_KEYS = ("to", "cycle", "stage", "input", "unit", "kind", "deadline", "reason",
             "slot", "email", "locale", "command")  # fmt: skip
CHECKPOINT_KEYS = ("entries", "head_hash", "at")  # what `audit checkpoint` writes (cycle.audit.take_checkpoint)
VERIFY_KEYS = ("ok", "entries", "head_hash", "bad_seq", "reason")
OUTBOX_KEYS = ("id", "to", "email", "status", "items", "attempts", "created_at", "next_attempt_at", "sent_at",
               "subject", "last_error", "message_id")  # fmt: skip
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --- the commands ----------------------------------------------------------------


@click.group(cls=ArshjulGroup, context_settings=CONTEXT)
@click.option(
    "--db",
    "url",
    envvar="ARSHJUL_DB",
    default=DEFAULT_DB,
    show_default=True,
    show_envvar=True,
    metavar="URL",
    help="The database as an SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://…",
)
@click.option(
    "--as",
    "user",
    envvar="ARSHJUL_USER",
    show_envvar=True,
    metavar="USER",
    help="Act as this registered person (a username).  [default: your login name]",
)
@click.option(
    "--identity",
    type=click.Choice(["claimed", "db"]),
    envvar="ARSHJUL_IDENTITY",
    show_envvar=True,
    default="claimed",
    show_default=True,
    metavar="MODE",
    help="Who acts: claimed takes --as (else your login name); db takes the PostgreSQL login itself "
    "(one database role per person) and refuses an --as naming anyone else.",
)
@click.option("--debug", is_flag=True, help="Show the traceback when something goes wrong.")
@click.version_option(package_name="arshjul", message="%(prog)s %(version)s", help="Show the version and exit.")
@click.pass_context
def arshjul(ctx: click.Context, url: str, user: str | None, identity: str, debug: bool) -> None:  # fmt: skip
    """The yearly planning wheel (årshjul) of a Swedish kommun: stages with deadlines and
    guards, inputs from every unit, email reminders, and a hash-chained log for auditors.

    Global options go before the command: arshjul --db URL --as USER status.
    Exit codes: 0 done, 1 refused by the rules, 2 bad usage or input, 3 the log was altered.
    """
    # An embedding caller (the demo, tests) may inject a clock: main(obj={"clock": clock}).
    clock = ctx.obj.get("clock") if isinstance(ctx.obj, dict) else None
    app = ctx.obj = App(url, user, debug, clock, identity)
    ctx.call_on_close(app.close)


@arshjul.command()
@pass_app
def init(app: App) -> None:
    """Create the database schema, or upgrade it to this version (idempotent)."""
    from cycle.schema import upgrade

    engine = app.db(schema=False).engine
    before, after = upgrade(engine)
    if before == after:
        say(f"{where(app.url)}: schema already at revision {after}, nothing to do")
    elif before is None:
        say(f"{where(app.url)}: created the schema (revision {after})")
    else:
        say(f"{where(app.url)}: upgraded the schema from revision {before} to {after}")
        _reapply_access(engine)


def _reapply_access(engine) -> None:
    """An upgraded schema keeps the access an earlier `access setup` gave (new tables included)."""
    from cycle.access import installed, setup

    groups = installed(engine)
    if groups:
        setup(engine, groups["people"], groups["admins"])
        say(f"access set up again for {groups['people']} and {groups['admins']}")


@arshjul.group()
def access() -> None:
    """PostgreSQL: what each person's own database login may do (see docs/deploy.md)."""


@access.command("setup")
@click.option("--people", default="arshjul_people", show_default=True, metavar="ROLE",
              help="The group role that every person's login role is a member of.")  # fmt: skip
@click.option("--admins", default="arshjul_admins", show_default=True, metavar="ROLE",
              help="The group role of the admins' and the scheduler's login roles.")  # fmt: skip
@pass_app
def access_setup(app: App, people: str, admins: str) -> None:
    """Grant the group roles their privileges and install the database's checks (idempotent).

    Run it as the schema's owner after `arshjul init`; people then act with --identity db.
    The database itself refuses a log entry in someone else's name, a state change without
    its log entry, and any UPDATE or DELETE of the log. `init` repeats it after an upgrade.
    """
    from cycle.access import setup

    for line in setup(app.db().engine, people, admins):
        say(line)


@arshjul.group()
def org() -> None:
    """The organisation: units, people with their roles, and meetings."""


@org.command("load")
@click.argument("file", metavar="ORG.yaml", type=click.Path(dir_okay=False))
@pass_app
def org_load(app: App, file: str) -> None:
    """Load units, people, role grants and meetings from ORG.yaml (an idempotent upsert).

    The people in the file get exactly the roles it lists, and people left out of it
    lose theirs (their names stay, for the log). Every load must name an admin; the
    first, on an empty database, bootstraps it, and after that only an admin may load.
    For each year the file lists meetings in, they replace that year's meetings loaded
    before (a moved or cancelled meeting goes); other years keep theirs. A running cycle
    keeps its stage for a meeting that went: a warning names each one not yet approved,
    with the `deadline set` its rule gives for the organ's new meeting within 31 days.
    """
    from cycle.organisation import load_organisation
    from workflows.loader import load_organisation as read_organisation

    organisation = read_organisation(file)
    done = load_organisation(app.db(), app.actor, organisation)
    if not done.changed:
        say(f"{file}: nothing changed, the database already holds this organisation")
        return
    kinds = {"unit(s)": done.units, "person(s)": done.people, "role grant(s)": done.grants, "meeting(s)": done.meetings}
    say(f"loaded {file}: {_what_changed(kinds)} (log #{done.seq})")
    for warning in done.warnings:  # stages of running cycles whose meeting went; the load stands
        say(f"warning: {warning}")
    admins = sorted(p.username for p in organisation.people for r in p.roles if r.role == "admin")
    if done.bootstrap and app.actor not in admins:
        say(f"the database was empty: act as one of its admins from now on, e.g. --as {admins[0]}")


def _what_changed(kinds: dict) -> str:
    """`1 meeting(s) added; 2 role grant(s) and 1 meeting(s) removed`: what a load did, in numbers."""
    said = []
    for verb in ("added", "changed", "removed"):
        counted = [f"{getattr(count, verb)} {noun}" for noun, count in kinds.items() if getattr(count, verb)]
        if counted:
            listed = counted[-1] if len(counted) == 1 else f"{', '.join(counted[:-1])} and {counted[-1]}"
            said.append(f"{listed} {verb}")
    return "; ".join(said)


@arshjul.group()
def workflow() -> None:
    """Workflow definitions (YAML): check them, and preview a year's wheel."""


@workflow.command("check")
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=click.Path())  # each problem is reported
def workflow_check(files: tuple[str, ...]) -> None:
    """Validate definitions; report every problem with its file and key path (exit 2 if any)."""
    from workflows.loader import load_workflow

    problems: list[str] = []
    for file in files:
        try:
            definition = load_workflow(file)
        except BadInput as err:
            problems.extend(err.lines())
            continue
        inputs = sum(len(s.inputs) for s in definition.stages)
        say(f"ok: {file} ({len(definition.stages)} stages, {inputs} inputs)")
        for warning in definition.warnings:  # valid, so the exit code stays 0
            say(f"warning: {file}: {warning}")
    if problems:
        raise Failure(problems, 2)


@workflow.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--year", type=click.IntRange(1901, 9998), help="The budget year Y.  [default: next year]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table for people, json for scripts.")  # fmt: skip
@pass_app
def workflow_show(app: App, file: str, year: int | None, fmt: str) -> None:
    """Show the wheel FILE gives for a year: stages and inputs with their resolved deadlines.

    A deadline on a weekend or holiday shows the day it moved from. Per-meeting stages
    get one row per meeting if the database (--db) has meetings for that year; otherwise
    they show their rule. No registered person is needed.
    """
    from cycle.status import preview
    from workflows.loader import load_workflow

    definition = load_workflow(file)
    year = year or dt.date.today().year + 1
    wheel = preview(definition, year, _meetings(app, year))
    emit(fmt, wheel, render=render_wheel)


def _meetings(app: App, year: int) -> dict | None:
    """Meetings from the database if there is one with the schema; None (rules only) otherwise."""
    if not database_exists(app.url):
        return None
    from cycle.status import meetings_in

    try:
        return meetings_in(app.db(), year)
    except Exception:  # no schema, no server: the preview still works, with rules
        return None


@arshjul.group()
def cycle() -> None:
    """Cycles: one definition instantiated for one budget year (<id>-<year>)."""


@cycle.command("start")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--year", type=click.IntRange(1901, 9998), required=True, help="The budget year Y of the cycle.")
@pass_app
def cycle_start(app: App, file: str, year: int) -> None:
    """Start the cycle of definition FILE for a budget year; prints the cycle id."""
    from cycle.cycles import start_cycle
    from workflows.loader import load_workflow

    started = start_cycle(app.db(), app.actor, load_workflow(file), year)
    for warning in started.warnings:
        say(f"warning: {warning}")
    say(f"started {started.cycle}: {started.stages} stage(s), {started.inputs} input(s) (log #{started.seq})")
    click.echo(started.cycle)


@cycle.command("list")
@output_options("table", "json", "csv")
@pass_app
def cycle_list(app: App, fmt: str) -> None:
    """List the cycles, oldest year first."""
    from cycle.status import read_cycles

    emit(fmt, read_cycles(app.db(), app.actor), ("cycle", "workflow", "year", "name"))


@arshjul.command()
@click.argument("cycle_id", metavar="[CYCLE]", required=False, shell_complete=completer("cycle"))
@click.option("--at", "today", type=DATE, help="Count days left as on this date (YYYY-MM-DD).  [default: today]")
@output_options("table", "json", "csv")
@pass_app
def status(app: App, cycle_id: str | None, today: dt.date | None, fmt: str) -> None:
    """Each stage of a cycle: state, deadline, days left, and what or whom it waits for.

    Without CYCLE it shows the newest cycle (the highest year) and says so on stderr.
    """
    from cycle.status import cycle_status

    result = cycle_status(app.db(), app.actor, cycle_id, today)
    if cycle_id is None:
        say(f"showing {result['cycle']}, the newest cycle (name a CYCLE to see another)")
    if fmt == "csv":
        columns = ("cycle", "stage", "input", "unit", "name", "state", "deadline", "days_left", "blocked_by", "next",
                   "meeting_gone")  # fmt: skip
        return emit(fmt, status_rows(result), columns)
    emit(fmt, result, render=render_status)


@arshjul.group()
def stage() -> None:
    """Move a stage: open, submit, approve, return, close."""


STAGE_HELP = {
    "open": "Open STAGE, once the stages it comes after are approved or closed (owners of its unit).",
    "submit": "Submit STAGE for decision, once its required inputs are approved (owners of its unit).",
    "approve": "Approve a submitted STAGE (approvers of its deciding unit; not whoever submitted it).",
    "return": "Return a submitted STAGE to open, saying why with -m (approvers; not its submitter).",
    "close": "Close an approved STAGE (owners of its unit).",
}
INPUT_HELP = {
    "submit": "Submit a unit's INPUT to STAGE while the stage is open (contributors of the unit).",
    "approve": "Approve a submitted INPUT (approvers of its approving unit; not whoever submitted it).",
    "return": "Return a submitted INPUT to its unit, saying why with -m (approvers; not its submitter).",
}


def _stage_command(trigger: str) -> click.Command:
    @click.command(trigger, cls=ArshjulCommand, help=STAGE_HELP[trigger])
    @cycle_argument
    @stage_argument
    @comment_options(required=trigger == "return")
    @pass_app
    def command(app: App, cycle_id: str, stage_key: str, message: str | None, ref: str | None) -> None:
        from cycle.actions import STAGE_ACTIONS

        say(render_done(STAGE_ACTIONS[trigger](app.db(), app.actor, cycle_id, stage_key, message, ref)))

    return command


@arshjul.group("input")
def input_group() -> None:
    """Move a unit's input to a stage: submit, approve, return."""


def _input_command(trigger: str) -> click.Command:
    @click.command(trigger, cls=ArshjulCommand, help=INPUT_HELP[trigger])
    @cycle_argument
    @stage_argument
    @click.argument("input_key", metavar="INPUT", shell_complete=completer("input"))
    @unit_option
    @comment_options(required=trigger == "return")
    @pass_app
    def command(app: App, cycle_id, stage_key, input_key, unit, message, ref) -> None:
        from cycle.actions import INPUT_ACTIONS

        action = INPUT_ACTIONS[trigger]
        say(render_done(action(app.db(), app.actor, cycle_id, stage_key, input_key, unit, message, ref)))

    return command


for _trigger in STAGE_HELP:
    stage.add_command(_stage_command(_trigger))
for _trigger in INPUT_HELP:
    input_group.add_command(_input_command(_trigger))


@arshjul.group()
def deadline() -> None:
    """Move deadlines."""


@deadline.command("set")
@cycle_argument
@stage_argument
@click.argument("target", metavar="[INPUT] DATE", nargs=-1, required=True, shell_complete=completer("input"))
@click.option("--unit", shell_complete=completer("unit"), help="The unit whose INPUT it is (needed with INPUT).")
@click.option("-m", "--message", "reason", metavar="REASON", required=True, callback=not_blank,
              help="Why it moves; kept in the log.")  # fmt: skip
@click.option("--ref", metavar="TEXT", help="A reference to keep with the entry, e.g. a decision's paragraph.")
@pass_app
def deadline_set(app: App, cycle_id: str, stage_key: str, target: tuple[str, ...], unit, reason, ref) -> None:
    """Move the deadline of STAGE, or of one unit's INPUT to it, to DATE (YYYY-MM-DD).

    Owners of the stage's unit may do this, with a reason: arshjul deadline set
    ange-2027 kf-mal-och-budget 2026-11-23 -m "Valår: nya fullmäktige beslutar".
    """
    if len(target) > 2:
        raise click.UsageError("give at most INPUT and DATE after STAGE")
    input_key, day = target if len(target) == 2 else (None, target[0])
    if (input_key is None) != (unit is None):
        raise click.UsageError("an INPUT needs --unit UNIT, and --unit needs an INPUT")
    when = DATE.convert(day, None, click.get_current_context())
    from cycle.actions import set_deadline

    done = set_deadline(app.db(), app.actor, cycle_id, stage_key, when, reason, input_key, unit, ref)
    say(render_done(done))
    for note in done.notes:
        say(f"warning: {note}")


@arshjul.command("log")
@click.option("--cycle", "cycle_id", shell_complete=completer("cycle"), help="Only entries of this cycle.")
@click.option("--stage", "stage_key", shell_complete=completer("stage"), help="Only entries about this stage.")
@click.option("--input", "input_key", shell_complete=completer("input"), help="Only entries about this input.")
@click.option("--unit", shell_complete=completer("unit"), help="Only entries about inputs of this unit.")
@click.option("--actor", help="Only entries made by this username.")
@click.option("--event", type=click.Choice(EVENTS), help="Only entries of this kind.")
@click.option("--since", type=DATE, help="From this date on (YYYY-MM-DD, UTC, inclusive).")
@click.option("--until", type=DATE, help="Up to this date (YYYY-MM-DD, UTC, inclusive).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N entries (still oldest first).")
@output_options("table", "json", "csv", "ndjson")
@pass_app
def log_command(app: App, cycle_id, stage_key, input_key, unit, actor, event, since, until, limit, fmt) -> None:
    """The transition log, oldest first, filtered; for auditors and scripts."""
    from cycle.log import LogFilter
    from cycle.status import read_log

    flt = LogFilter(cycle_id, stage_key, input_key, unit, actor, event, since, until, limit)
    emit(fmt, read_log(app.db(), app.actor, flt), (*LOG_KEYS, "detail"), render=render_log)


@arshjul.group()
def audit() -> None:
    """Verify the log and keep checkpoints of it (auditors and admins)."""


@audit.command("verify")
@click.option("--checkpoint", type=click.Path(dir_okay=False, exists=True),
              help="A file from `audit checkpoint`: also prove the log still extends it.")  # fmt: skip
@output_options("table", "json", "csv")
@pass_app
def audit_verify(app: App, checkpoint: str | None, fmt: str) -> None:
    """Recompute the hash chain, replay it against the current states; exit 3 if altered."""
    from cycle.audit import verify

    kept = _read_checkpoint(checkpoint) if checkpoint else None
    verdict = verify(app.db(), app.actor, kept).as_dict()
    where = f" at entry {verdict['bad_seq']}" if verdict["bad_seq"] else ""  # none: a row disagrees with the log
    result = "ok" if verdict["ok"] else f"ALTERED{where}: {verdict['reason']}"
    rows = [["result", result], ["entries", verdict["entries"]], ["head hash", verdict["head_hash"]]]
    if kept:
        rows.append(["checkpoint", f"{kept['entries']} entries, {kept['head_hash']}: "
                                   + ("the log extends it" if verdict["ok"] else "see above")])  # fmt: skip
    try:
        if fmt == "csv":  # flat columns for spreadsheets: checkpoint_entries, checkpoint_head_hash, checkpoint_at
            columns = (*VERIFY_KEYS, *(f"checkpoint_{k}" for k in CHECKPOINT_KEYS))
            emit(fmt, [flattened(verdict, "checkpoint", CHECKPOINT_KEYS)], columns)
        else:
            emit(fmt, verdict, render=lambda _: table(["CHECK", "RESULT"], rows))
    except BadInput as err:  # stdout took nothing: an altered log is still told, and still exit 3
        if verdict["ok"]:
            raise
        _altered(verdict, err.message)
    if not verdict["ok"]:
        _altered(verdict)


def _altered(verdict: dict, also: str | None = None) -> None:
    if verdict["bad_seq"] is None:  # every entry holds, but the rows are not what they explain: either side moved
        raise LogAltered(f"the log and the stored states disagree (one was changed outside arshjul): "
                         f"{verdict['reason']}", also)  # fmt: skip
    raise LogAltered(f"the log was altered (entry {verdict['bad_seq']}): {verdict['reason']}", also)


@audit.command("checkpoint")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=named_file,
              help="Write it to this file (- for stdout).  [default: stdout]")  # fmt: skip
@pass_app
def audit_checkpoint(app: App, output: str | None) -> None:
    """Entry count, head hash and time as JSON, for auditors to keep outside the system."""
    from cycle.audit import take_checkpoint

    text = json.dumps(take_checkpoint(app.db(), app.actor), ensure_ascii=False, indent=2) + "\n"
    if output in (None, "-"):
        return write_data(text)
    write_whole(output, text)
    say(f"checkpoint written to {output}")


CHECKPOINT_MAX = 64 * 1024  # `audit checkpoint` writes about 150 bytes


def _read_checkpoint(path: str) -> dict:
    """The checkpoint in the file at `path`, a byte-order mark or not; a file far larger than one (say
    /dev/zero) is not read to its end."""
    from cycle.audit import parse_checkpoint

    try:
        with open(path, "rb") as handle:
            data = handle.read(CHECKPOINT_MAX + 1)
    except OSError as err:
        raise BadInput(f"cannot read {path}: {err.strerror or err}") from err
    not_one = f"{path}: not an arshjul checkpoint"
    if len(data) > CHECKPOINT_MAX:
        size = f"{CHECKPOINT_MAX // 1024} KiB"
        raise BadInput(f"{not_one}: it is larger than {size}, and `audit checkpoint` writes a few lines")
    try:
        return parse_checkpoint(data.decode("utf-8-sig"), path)  # as Notepad may save it
    except UnicodeDecodeError as err:
        raise BadInput(f"cannot read {path}: {err}") from err


# --- reminders and the scheduler -------------------------------------------------

HAS_OFFSET = re.compile(r"(Z|[+-][0-9]{2}:?[0-9]{2})$", re.IGNORECASE)


def _moment(app: App, text: str | None) -> dt.datetime:
    """`--at` in the cycles' time zone when it has no UTC offset; now when it is not given."""
    from cycle.clock import parse_moment
    from cycle.status import cycle_zones

    db = app.db()
    if text is None:
        return db.clock.now()
    zones = cycle_zones(db) or [DEFAULT_ZONE]
    if len(zones) > 1 and not HAS_OFFSET.search(text):
        raise BadInput(f"the cycles use several time zones ({', '.join(zones)}): give --at with a UTC offset",
                       "e.g. 2027-02-01T08:00+01:00")  # fmt: skip
    return parse_moment(text, zones[0])


def at_option(f):
    return click.option("--at", "at_text", metavar="DATETIME",
                        help="As at YYYY-MM-DD[THH:MM], in the cycles' time zone.  [default: now]")(f)  # fmt: skip


def mail_dir_option(f):
    return click.option("--mail-dir", envvar="ARSHJUL_MAIL_DIR", show_envvar=True, default="arshjul-mail",
                        show_default=True, type=click.Path(file_okay=False),
                        help="Where mail is written as .eml files when ARSHJUL_SMTP_URL is not set.")(f)  # fmt: skip


@arshjul.group()
def reminders() -> None:
    """Deadline reminders: plan (dry run), send, list (admins)."""


@reminders.command("plan")
@at_option
@output_options("table", "json", "csv")
@pass_app
def reminders_plan(app: App, at_text: str | None, fmt: str) -> None:
    """What would be sent at a moment, one row per item and recipient, with the reason; sends nothing."""
    from notifications.service import plan_reminders

    emit(fmt, plan_reminders(app.db(), app.actor, _moment(app, at_text)), PLAN_KEYS, render=only_columns(PLAN_KEYS[:8]))


@reminders.command("send")
@at_option
@mail_dir_option
@click.option("--eml", is_flag=True, help="Write .eml files to --mail-dir even when ARSHJUL_SMTP_URL is set.")
@pass_app
def reminders_send(app: App, at_text: str | None, mail_dir: str, eml: bool) -> None:
    """Enqueue the reminders due at a moment (once each, however often run), then deliver."""
    from notifications.service import send_reminders, summary, transport_from_env

    environ = {k: v for k, v in os.environ.items() if not (eml and k == "ARSHJUL_SMTP_URL")}
    transport = transport_from_env(environ, mail_dir)
    counts = send_reminders(app.db(), app.actor, _moment(app, at_text), transport)
    say(summary(counts) + f"; mail goes to {transport.describe()}")


@reminders.command("list")
@click.option("--status", "state", type=click.Choice(["pending", "sent", "failed"]), help="Only these messages.")
@output_options("table", "json", "csv")
@pass_app
def reminders_list(app: App, state: str | None, fmt: str) -> None:
    """The outbox: messages waiting, sent or failed."""
    from notifications.service import list_reminders

    rows = list_reminders(app.db(), app.actor, state)
    shown = ("id", "to", "status", "items", "created_at", "sent_at", "subject")
    emit(fmt, rows, OUTBOX_KEYS, render=only_columns(shown))


@arshjul.group()
def scheduler() -> None:
    """The long-running reminder sender."""


@scheduler.command("run")
@click.option("--interval", type=click.IntRange(min=1), default=300, show_default=True,
              help="Seconds between runs of plan, enqueue and deliver.")  # fmt: skip
@click.option("--lease", type=click.IntRange(min=1), default=900, show_default=True, metavar="SECONDS",
              envvar="ARSHJUL_LEASE_SECONDS", show_envvar=True,
              help="How long a message this node claimed stays its own, renewed as it hands each one to the "
                   "relay; if the node dies, another node sends it after that. At least 3 times the SMTP "
                   "timeout.")  # fmt: skip
@mail_dir_option
@pass_app
def scheduler_run(app: App, interval: int, lease: int, mail_dir: str) -> None:
    """Send reminders on schedule until stopped (SIGTERM or Ctrl-C). Several may share a database."""
    from notifications.service import run_scheduler, transport_from_env

    transport = transport_from_env(os.environ, mail_dir)
    run_scheduler(app.db(), app.actor, transport, interval, say, dt.timedelta(seconds=lease))


@arshjul.command()
@click.option("--dir", "folder", default="arshjul-demo", show_default=True, type=click.Path(file_okay=False),
              help="The folder to play in; it is recreated on each run.")  # fmt: skip
def demo(folder: str) -> None:
    """Play a week of Ånge kommun's wheel on a fresh SQLite database in a folder.

    Loads the shipped definition and example organisation, starts the 2027 cycle with
    the clock fixed in February 2026 (its planning has begun, nothing is overdue), lets
    different people act, including a refusal and a four-eyes refusal, writes the
    reminders due as .eml files, and shows the status, the log and the audit.
    """
    from console.demo import play

    play(folder, _run_inside, click.echo)


def _run_inside(args: list[str], clock) -> None:
    """Run one command of this CLI in-process, showing its errors as the shell would."""
    try:
        arshjul.main(args, prog_name="arshjul", standalone_mode=False, obj={"clock": clock})
    except click.ClickException as err:
        err.show()


# A command is a short process that imports a lot (SQLAlchemy, the models) and frees little:
# with the interpreter's default gen-0 threshold of 700 allocations, cycle collection scans
# those imports again and again, 10–15 % of `arshjul status` (docs/performance.md).
# Reference counting still frees everything else at once; cycles are collected later.
GC_THRESHOLD = (100_000, 50, 50)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLD)
    for stream in (sys.stdout, sys.stderr):
        # A terminal that cannot show "→" or "å" gets a replacement, not a traceback.
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="backslashreplace")
    arshjul(prog_name="arshjul", windows_expand_args=False)


if __name__ == "__main__":
    main()
