"""The log's canonical bytes are exactly compact json.dumps, whatever the values hold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from cycle import log

VALUES = st.lists(st.one_of(st.none(), st.integers(), st.text()), max_size=16)


@given(VALUES)
def test_canonical_is_compact_json_of_the_values(values):
    assert log.canonical(values) == json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_canonical_escapes_what_json_escapes():
    tricky = ['å"\\', "\n\t\x00\x1f\u2028\x7f", None, 7, -1, "\ud7ff😀", ""]
    assert log.canonical(tricky) == json.dumps(tricky, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
