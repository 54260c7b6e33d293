"""The sessions the docs show (README.md's opening, docs/cli-transcript.txt) are what the installed
command prints now: every `$ command` is run again in a fresh folder and its output compared.
Only the log's times and the hashes, which depend on when the session ran, may differ."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.cli.conftest import arshjul_command

ROOT = Path(__file__).resolve().parents[2]
MOMENT = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}\.\d{6}Z)?")
HASH = re.compile(r"\b[0-9a-f]{64}\b")


def gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timeless(text: str) -> str:
    return HASH.sub("<hash>", MOMENT.sub("<moment>", text))


@pytest.mark.parametrize("doc", ["README.md", "docs/cli-transcript.txt"])
def test_the_sessions_in_the_docs_are_what_the_commands_print(doc):
    gen = gen_cli()
    text = (ROOT / doc).read_text(encoding="utf-8")
    shown = gen.readme_session(text) if doc == "README.md" else text
    now = gen.replay(shown, str(Path(arshjul_command()[0]).parent))
    assert timeless(now) == timeless(shown), f"{doc} is out of date: run python docs/gen_cli.py --transcripts"
