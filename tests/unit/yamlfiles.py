"""Writing YAML test files and collecting the problems a loader reports for them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cycle.errors import InvalidDefinition


def write(tmp_path: Path, content: str | dict, name: str) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(load: Callable, path: Path) -> list[str]:
    """Every problem line, each of which must name the file."""
    with pytest.raises(InvalidDefinition) as caught:
        load(path)
    assert caught.value.source == str(path)
    lines = caught.value.lines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    return lines
