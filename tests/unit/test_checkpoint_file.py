"""What `audit verify --checkpoint` accepts as a checkpoint: what `audit checkpoint` writes, and
anything else refused as bad input naming the file, never an internal error."""

from __future__ import annotations

import pytest

from cycle.audit import parse_checkpoint
from cycle.errors import BadInput

HEAD = "ab" * 32


def test_a_checkpoint_as_written_is_read_with_its_hash_in_lowercase():
    text = f'{{"entries": 7, "head_hash": "{HEAD.upper()}", "at": "2027-01-05T08:00:00Z"}}'
    assert parse_checkpoint(text, "kept.json") == {"entries": 7, "head_hash": HEAD, "at": "2027-01-05T08:00:00Z"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[" * 100_000 + "]" * 100_000, "kept.json: not an arshjul checkpoint: it is nested too deeply"),
        ('{"entries": 7}', "kept.json: not an arshjul checkpoint (want JSON with entries and head_hash)"),
        (f'{{"entries": -1, "head_hash": "{HEAD}"}}', "kept.json: the checkpoint's entries must be a whole number"),
        ('{"entries": 7, "head_hash": "abc"}', "kept.json: the checkpoint's head_hash must be 64 hexadecimal digits"),
    ],
    ids=["nested", "no-head", "negative", "short-hash"],
)
def test_anything_else_is_bad_input_naming_the_file(text, said):
    with pytest.raises(BadInput) as refused:
        parse_checkpoint(text, "kept.json")
    assert str(refused.value).startswith(said)
