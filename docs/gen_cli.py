"""Generate docs/cli.md from the command line's own help texts, and the sessions the docs show.

    python docs/gen_cli.py                rewrite docs/cli.md
    python docs/gen_cli.py --check        exit 1 if docs/cli.md differs from the help texts
    python docs/gen_cli.py --transcripts  run again every `$ command` of README.md's opening session,
                                          of docs/cli-transcript.txt and of the guides' console blocks
                                          (docs/owners.md, contributors.md, auditors.md), and write
                                          what they print now

`tests/cli/test_help.py` runs the check, so the reference cannot drift from `--help`;
`tests/cli/test_transcripts.py` replays the sessions, so they cannot drift from what the commands print
(times, hashes and the version are the only things allowed to differ).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
WIDTH = 100  # fixed, so the text does not depend on the terminal that runs this

INTRO = """# Command line reference

Generated from the `--help` texts by `python docs/gen_cli.py`; do not edit by hand
(a test fails when this file and `--help` differ).

Global options go before the command: `arshjul --db URL --as USER status`.
Exit codes: 0 done; 1 refused by the rules (a guard, a missing role, four-eyes, a stale
state, an unknown person), nothing written; 2 bad usage or input (unknown cycle, stage,
input or unit, an invalid date, definition or organisation file), nothing written; 3
`audit verify` found the log altered; 70 an internal error (a bug: please report it with
the output of `--debug`). Errors are one or a few lines on stderr, each starting `Error:`.

Query commands take `--format`: `table` for people; `json`, `csv` (and `ndjson` for `log`) for
scripts, always UTF-8. CSV has a header row and no byte-order mark, so scripts read it as
plain UTF-8; add `--bom` (or set `ARSHJUL_CSV_BOM=1`) for a file that Excel opens with
å, ä and ö intact. Colour is used only on a terminal, and never when `NO_COLOR` is set.

Who acts is `--as USER`, else `ARSHJUL_USER`, else the operating-system login name. It is
a claim, not a proof: anyone who can reach the database can name any person in it. On a
shared machine the protection is the database's own: file permissions on the SQLite file,
or one PostgreSQL login per person with `--identity db` (`ARSHJUL_IDENTITY=db`), where the
person is the database login itself and an `--as` naming anyone else is refused (exit 1);
`arshjul access setup` makes the database enforce it (docs/deploy.md). `init`, `workflow
check`, `workflow show`, `demo` and `--help` need no registered person; everything else
refuses an unknown one (exit 1).

Shell completion (bash, zsh, fish) completes commands, options, and cycle, stage, input and
unit keys from the database named by `--db` / `ARSHJUL_DB`:

```sh
eval "$(_ARSHJUL_COMPLETE=bash_source arshjul)"   # in ~/.bashrc
eval "$(_ARSHJUL_COMPLETE=zsh_source arshjul)"    # in ~/.zshrc
_ARSHJUL_COMPLETE=fish_source arshjul > ~/.config/fish/completions/arshjul.fish
```
"""


def walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
    """Every command depth first, each with the context its help is rendered in."""
    yield ctx, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))


def generate() -> str:
    from cli import arshjul

    settings = {**arshjul.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    root = click.Context(arshjul, info_name="arshjul", **settings)
    parts = [INTRO]
    for ctx, command in walk(arshjul, root):
        parts.append(f"\n## `{ctx.command_path}`\n\n```text\n{command.get_help(ctx)}\n```\n")
    return "".join(parts)


# The sessions: each `$ command` is run by bash in one fresh folder holding copies of the shipped
# definition and example organisation; talk (stderr) is shown inline, a non-zero exit as `[exit N]`.
# A command may go on over lines that start with `> ` (the shell's own continuation prompt), e.g. a
# here-document. A guide's console blocks are one session: they run in order in one folder, so each
# block goes on from the state the one before left.
README = ROOT / "README.md"
TRANSCRIPT = ROOT / "docs" / "cli-transcript.txt"
GUIDES = tuple(ROOT / "docs" / name for name in ("owners.md", "contributors.md", "auditors.md"))
SESSION_ENV = {"ARSHJUL_DB": "sqlite:///arshjul.db", "ARSHJUL_USER": "nils", "NO_COLOR": "1", "COLUMNS": "120"}
_README_SESSION = re.compile(r"(?s)\A(# arshjul\n\n```console\n)(.*?)(```\n)")
_CONSOLE_BLOCK = re.compile(r"(?ms)^(```console\n)(.*?)^(```\n)")


def _parse(session: str) -> tuple[str, list[list[str]]]:
    """The text before the first command (`#` lines, kept as they are) and each command's lines."""
    lines = session.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith("$ ")), len(lines))
    head = "".join(line + "\n" for line in lines[:first])
    commands: list[list[str]] = []
    for line in lines[first:]:
        if line.startswith("$ "):
            commands.append([line[2:]])
        elif line.startswith("> ") and commands and _continues(commands[-1]):
            commands[-1].append(line[2:])
    return head, commands


def _continues(command: list[str]) -> bool:
    """Whether the next `> ` line still belongs to `command`: a here-document not yet ended, or a `\\`."""
    heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", command[0])
    if heredoc:
        return command[-1].strip() != heredoc.group(1) or len(command) == 1
    return command[-1].endswith("\\")


def _run_sessions(sessions: list[str], path: str | None = None) -> list[str]:
    """Each session with every command run again, in order, in one fresh folder, and its output as it is now."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSHJUL_")} | SESSION_ENV
    if path:
        env["PATH"] = path + os.pathsep + env.get("PATH", "")
    fresh = []
    with tempfile.TemporaryDirectory() as work:
        for name in ("workflows/ange.yaml", "workflows/examples/ange-org.yaml"):
            shutil.copy(ROOT / name, work)
        for session in sessions:
            head, commands = _parse(session)
            parts = [head]
            for lines in commands:
                ran = subprocess.run(["bash", "-c", "{ " + "\n".join(lines) + "\n} 2>&1"], cwd=work, env=env,
                                     capture_output=True, text=True, encoding="utf-8", timeout=300)  # fmt: skip
                shown = ran.stdout + (f"[exit {ran.returncode}]\n" if ran.returncode else "")
                typed = "$ " + "".join(line + "\n" if i == 0 else "> " + line + "\n" for i, line in enumerate(lines))
                parts.append(f"{typed}{shown}\n")
            fresh.append("".join(parts).rstrip("\n") + "\n")
    return fresh


def replay(session: str, path: str | None = None) -> str:
    """`session` (lines of `$ command` each followed by its output and a blank line; `#` lines before
    the first command are kept) with every command run again and its output as it is now."""
    return _run_sessions([session], path)[0]


def readme_session(text: str) -> str:
    return _README_SESSION.match(text).group(2)


def console_blocks(text: str) -> list[str]:
    """A guide's ```console blocks, in order: together one session."""
    return [m.group(2) for m in _CONSOLE_BLOCK.finditer(text)]


def refreshed(doc: Path, text: str, path: str | None = None) -> str:
    """`text`, the content of `doc` (README.md, the transcript or a guide), with its sessions run again."""
    if doc == README:
        fresh = replay(readme_session(text), path)
        return _README_SESSION.sub(lambda m: m.group(1) + fresh + m.group(3), text, count=1)
    if doc == TRANSCRIPT:
        return replay(text, path)
    fresh = iter(_run_sessions(console_blocks(text), path))
    return _CONSOLE_BLOCK.sub(lambda m: m.group(1) + next(fresh) + m.group(3), text)


def write_transcripts(path: str | None = None) -> None:
    for doc in (README, TRANSCRIPT, *GUIDES):
        if doc.exists():
            doc.write_text(refreshed(doc, doc.read_text(encoding="utf-8"), path), encoding="utf-8")
            print(f"wrote {doc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if "--transcripts" in argv:
        write_transcripts(os.path.dirname(sys.executable))
        return 0
    text = generate()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
