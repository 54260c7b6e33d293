"""Rendering for the terminal and for scripts: aligned tables with colour for people,
JSON, NDJSON and CSV (always UTF-8, stable keys) for scripts. Data goes to stdout."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import tempfile

import click

from cycle.errors import BadInput

STYLES = {"pending": {"dim": True}, "missing": {"fg": "yellow"}, "open": {"fg": "yellow"},
          "returned": {"fg": "magenta"}, "submitted": {"fg": "cyan"}, "approved": {"fg": "green"},
          "closed": {"fg": "green"}, "ok": {"fg": "green"}}  # fmt: skip


def output_options(*formats: str):
    """The output option set every query command shares."""

    def decorate(f):
        f = click.option("--bom", is_flag=True, expose_value=False, envvar="ARSHJUL_CSV_BOM", show_envvar=True,
                         callback=lambda ctx, _p, value: ctx.meta.__setitem__("bom", value),
                         help="Start CSV with a UTF-8 byte-order mark, for Excel to show å, ä, ö.")(f)  # fmt: skip
        return click.option("--format", "fmt", type=click.Choice(formats), default="table", show_default=True,
                            help="table for people; the others for scripts (UTF-8, stable keys).")(f)  # fmt: skip

    return decorate


def _colour(err: bool = False) -> bool:
    stream = sys.stderr if err else sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, style: dict | None, err: bool = False) -> str:
    return click.style(text, **style) if style and _colour(err) else text


def _tone(cell: str) -> dict | None:
    cell = cell.strip()
    if cell.endswith("overdue") or cell.startswith("ALTERED"):
        return {"fg": "red", "bold": True}
    return STYLES.get(cell)


# Control characters (a newline in a comment, an escape sequence) would break a table's rows or
# reach the terminal: a table shows them escaped, as Python writes them. JSON and CSV keep them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def table(headers: list[str], rows: list[list]) -> str:
    """Aligned columns for people; the last column is not padded."""
    text_rows = [["" if v is None else _printable(str(v)) for v in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in text_rows) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(text_rows):
        cells = [c.ljust(w) if i < len(row) - 1 else c for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        styled = [paint(c, {"bold": True} if n == 0 else _tone(c)) for c in cells]
        lines.append("  ".join(styled).rstrip())
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def emit(fmt: str, data, columns=(), render=None) -> None:
    """Write `data` (a list of dicts, or one dict for json) to stdout in `fmt`."""
    if fmt == "table":
        text = (render or only_columns(tuple(columns)))(data)
        if text:
            with _stdout():
                click.echo(text)
        return
    if fmt == "json":
        out = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "ndjson":
        out = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data)
    else:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows({c: _cell(r.get(c)) for c in columns} for r in data)
        bom = click.get_current_context().meta.get("bom")
        out = ("\ufeff" if bom else "") + buffer.getvalue()
    write_data(out)


def write_data(text: str) -> None:
    """`text` to stdout as UTF-8 bytes, so scripts get UTF-8 whatever the locale's encoding is."""
    with _stdout() as stdout:
        stdout.flush()
        stream = stdout.buffer  # what click.get_binary_stream gave; click 8.5 deprecates that function
        stream.write(text.encode("utf-8"))
        stream.flush()


@contextlib.contextmanager
def _stdout():
    """stdout, for data: one closed, or on a full disk, is an `Error:` (exit 2), not a bug (exit 70) or
    silence; a pipe closed by its reader (`| head`) is left to the edge, which ends quietly."""
    if sys.stdout is None:  # started with stdout closed (>&-): click.echo would drop the data silently
        raise BadInput("cannot write to standard output: it is closed")
    try:
        yield sys.stdout
    except BrokenPipeError:
        raise
    except OSError as err:
        raise BadInput(f"cannot write to standard output: {err.strerror or err}") from err


def flattened(row: dict, key: str, fields: tuple[str, ...]) -> dict:
    """`row` with the object under `key` spread into columns `key_field`, empty where it is None, for CSV."""
    inner = row.get(key) or {}
    return {**{k: v for k, v in row.items() if k != key}, **{f"{key}_{f}": inner.get(f) for f in fields}}


def only_columns(columns: tuple[str, ...]):
    """A table renderer showing only `columns` (CSV and JSON keep every key)."""
    return lambda rows: table([c.upper() for c in columns], [[_cell(r.get(c)) for c in columns] for r in rows])


def _days(days: int | None) -> str:
    if days is None:
        return ""
    if days == 0:
        return "due today"
    return f"{days} d left" if days > 0 else f"{-days} d overdue"


def _next_text(step: dict | None) -> str:
    if not step:
        return ""
    who = ", ".join(step["people"]) or "nobody"
    return f"{step['role']}s of {step['unit']} to {step['action']}: {who}"


def _waiting(row: dict) -> str:
    blocked = row.get("blocked_by") or []
    if row.get("inputs") and row["state"] == "open" and blocked:
        waits = f"{len(blocked)} input(s) not approved (below)"
    else:
        waits = "; ".join(blocked) or _next_text(row.get("next"))
    if row.get("meeting_gone"):  # a per-meeting stage whose meeting an `org load` removed
        return "; ".join(filter(None, (f"meeting {row['meeting']} no longer in the organisation", waits)))
    return waits


def render_status(status: dict) -> str:
    head = f"{status['cycle']}  {status['name']}  (today {status['today']}, {status['timezone']})"
    rows = []
    for stage in status["stages"]:
        count = f"{stage['inputs_approved']}/{len(stage['inputs'])}" if stage["inputs"] else ""
        rows.append([stage["key"], stage["state"], stage["deadline"], _days(stage["days_left"]), count,
                     _waiting(stage)])  # fmt: skip
        if stage["state"] in ("open", "submitted"):
            for item in stage["inputs"]:
                rows.append([f"  {item['key']} ({item['unit']})", item["state"], item["deadline"],
                             _days(item["days_left"]), "", _waiting(item)])  # fmt: skip
    headers = ["STAGE / INPUT (UNIT)", "STATE", "DEADLINE", "DUE", "INPUTS", "BLOCKED BY / NEXT"]
    return head + "\n\n" + table(headers, rows)


def status_rows(status: dict) -> list[dict]:
    """One flat row per stage and per input, for CSV."""
    rows = []
    for stage in status["stages"]:
        for item in [None, *stage["inputs"]]:
            row = item or stage
            rows.append({"cycle": status["cycle"], "stage": stage["key"], "input": item and item["key"],
                         "unit": item and item["unit"], "name": row["name"], "state": row["state"],
                         "deadline": row["deadline"], "days_left": row["days_left"],
                         "blocked_by": row["blocked_by"], "next": _next_text(row["next"]),
                         "meeting_gone": None if item else stage["meeting_gone"]})  # fmt: skip
    return rows


def render_log(entries: list[dict]) -> str:
    rows = []
    for e in entries:
        what = e["stage"] or ""
        if e["input"]:
            what += f": {e['input']} ({e['unit']})"
        change = " → ".join(s for s in (e["from_state"], e["to_state"]) if s)
        note = " ".join(filter(None, (e["comment"], e["ref"] and f"[{e['ref']}]")))
        rows.append([e["seq"], e["at"][:16].replace("T", " "), e["actor"], e["event"], e["cycle"] or "", what,
                     change, note])  # fmt: skip
    return table(["SEQ", "AT (UTC)", "ACTOR", "EVENT", "CYCLE", "STAGE: INPUT (UNIT)", "CHANGE", "COMMENT [REF]"], rows)


def render_done(done) -> str:
    return f"{done.what}: {done.from_state} → {done.to_state} (log #{done.seq})"


def render_wheel(wheel: dict) -> str:
    found = "from the database" if wheel["meetings"] else "none known (no database): per-meeting stages show their rule"
    head = (f"{wheel['workflow']}  {wheel['name']}  year {wheel['year']}  ({wheel['timezone']}, holidays "
            f"{wheel['holidays']})\nmeetings: {found}")  # fmt: skip
    rows = []
    for stage in wheel["stages"]:
        note = "; ".join(filter(None, (_moved(stage), stage["after"] and f"after {', '.join(stage['after'])}")))
        rows.append([stage["deadline"] or "-", stage["rule"], stage["key"], stage["name"],
                     f"{stage['owner']} → {stage['decided_by']}", note])  # fmt: skip
        for item in stage["inputs"]:
            rows.append([item["deadline"] or "-", item["rule"], f"  {item['key']}", item["name"],
                         f"{', '.join(item['units'])} → {item['approved_by']}", _moved(item)])  # fmt: skip
    return head + "\n\n" + table(["DEADLINE", "RULE", "STAGE / INPUT", "NAME", "BY → DECIDED BY", "NOTE"], rows)


def _moved(row: dict) -> str:
    moved = row.get("moved")
    return f"moved from {moved['from']} ({moved['reason']})" if moved else ""


def write_whole(path: str, text: str) -> None:
    """Write `text` to the file at `path` whole or not at all: a file kept there before (an auditor's
    last checkpoint) stays as it was if the disk is full. Devices and pipes (/dev/stdout) are written
    to directly. BadInput if it cannot be written."""
    try:
        before = os.stat(path)
    except OSError:
        before = None
    try:
        if before is not None and not stat.S_ISREG(before.st_mode):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return
        target = os.path.realpath(path)  # a link to a file keeps being a link
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            shown = os.path.dirname(path) or folder
            why = f"{shown} is a file, not a folder" if os.path.exists(folder) else f"there is no folder {shown}"
            raise BadInput(f"cannot write {path}: {why}")
        _replace(target, folder, text, stat.S_IMODE(before.st_mode) if before else _created_mode())
    except OSError as err:
        raise BadInput(f"cannot write {path}: {err.strerror or err}") from err


def _replace(target: str, folder: str, text: str, mode: int) -> None:
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def _created_mode() -> int:
    """What open() would give a new file: 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
