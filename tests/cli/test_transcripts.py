"""The sessions the docs show (README.md's opening, docs/cli-transcript.txt, and the console blocks of
the guides docs/owners.md, contributors.md and auditors.md) are what the installed command prints now:
every `$ command` is run again in a fresh folder and its output compared. Only what depends on when the
session ran may differ: the log's times, the hashes, and the version."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.cli.conftest import arshjul_command

ROOT = Path(__file__).resolve().parents[2]
MOMENT = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}\.\d{6}Z)?")
HASH = re.compile(r"\b[0-9a-f]{64}\b")
VERSION = re.compile(r"\b(arshjul,? (?:version )?)\d+\.\d+\S*")
DOCS = ["README.md", "docs/cli-transcript.txt", "docs/owners.md", "docs/contributors.md", "docs/auditors.md"]


def gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timeless(text: str) -> str:
    return VERSION.sub(r"\1<version>", HASH.sub("<hash>", MOMENT.sub("<moment>", text)))


@pytest.mark.parametrize("doc", DOCS)
def test_the_sessions_in_the_docs_are_what_the_commands_print(doc):
    gen = gen_cli()
    path = ROOT / doc
    shown = path.read_text(encoding="utf-8")
    now = gen.refreshed(path, shown, str(Path(arshjul_command()[0]).parent))
    assert timeless(now) == timeless(shown), f"{doc} is out of date: run python docs/gen_cli.py --transcripts"


def test_a_guide_is_one_session_and_a_command_may_go_on_over_continuation_lines():
    gen = gen_cli()
    guide = (
        "Text.\n\n```console\n$ cat > note.txt <<'EOF'\n> hej\n> EOF\n\n$ echo one\nstale\n```\n\n"
        "More text.\n\n```console\n$ cat note.txt\n\n$ false\n```\n"
    )
    assert gen.refreshed(ROOT / "docs" / "guide.md", guide) == (
        "Text.\n\n```console\n$ cat > note.txt <<'EOF'\n> hej\n> EOF\n\n$ echo one\none\n```\n\n"
        "More text.\n\n```console\n$ cat note.txt\nhej\n\n$ false\n[exit 1]\n```\n"
    )
