"""Generate docs/cli.md from the command line's own help texts.

    python docs/gen_cli.py          rewrite docs/cli.md
    python docs/gen_cli.py --check  exit 1 if docs/cli.md differs from the help texts

`tests/cli/test_help.py` runs the check, so the reference cannot drift from `--help`.
"""

from __future__ import annotations

import sys
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


def main(argv: list[str]) -> int:
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
