"""Reading untrusted YAML: plain data only, bounded work, every problem as a message.

Definition and organisation files come from people, not programs, so a mistake in one
must become a sentence naming the place, never a traceback; and a hostile file (an alias
bomb, a Python tag, a huge file) must fail quickly instead of costing memory or time.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from cycle.errors import InvalidDefinition

MAX_BYTES = 2 * 1024 * 1024
# Hand-written files share a reminder policy or a unit list through a few aliases; a
# "billion laughs" file needs many, or aliases of aliases that expand exponentially.
MAX_ALIASES = 200
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 50
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """Plain data read from YAML, with what the reader learnt about where things are."""

    data: Any
    problems: list[str] = field(default_factory=list)  # duplicate keys, as key-path messages
    lines: dict[str, int] = field(default_factory=dict)  # key path → 1-based line
    sha256: str | None = None  # of the file's bytes, as `sha256sum` gives it; None when not read from a file


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that bounds alias expansion and nesting, and explains refusals."""

    def __init__(self, stream: str | bytes):
        super().__init__(stream)
        self._aliases = 0
        self._nodes = 0  # nodes composed, counting each alias as the nodes it stands for
        self._alias_nodes = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) → its expanded size

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._count_alias(event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        before = self._nodes
        self._nodes += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        if getattr(event, "anchor", None) is not None:
            self._sizes[id(node)] = self._nodes - before
        return node

    def _count_alias(self, event: yaml.AliasEvent) -> None:
        node = self.anchors.get(event.anchor)
        if node is None:
            return  # the composer reports the undefined alias itself
        size = self._sizes.get(id(node))
        if size is None:
            raise ComposerError(None, None, f"the alias *{event.anchor} refers to itself", event.start_mark)
        self._aliases += 1
        self._nodes += size
        self._alias_nodes += size
        if self._aliases > MAX_ALIASES or self._alias_nodes > MAX_ALIAS_NODES:
            raise ComposerError(
                None,
                None,
                f"too many aliases (more than {MAX_ALIASES} uses or {MAX_ALIAS_NODES} expanded values);"
                " write the values out instead",
                event.start_mark,
            )

    def construct_undefined(self, node: Node) -> Any:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConstructorError(
            None,
            None,
            f"the tag {tag} is not allowed: only plain data (mappings, lists, text, numbers, true/false, dates)",
            node.start_mark,
        )

    def construct_yaml_timestamp(self, node: ScalarNode) -> Any:
        # 2027-02-30 looks like a date but is none: keep the text, so the validator
        # reports it at its key path along with every other problem.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # Scalars that look like numbers are converted by plain Python, which raises
        # ValueError for a 5,000-digit one.
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            value = str(node.value) if isinstance(node, ScalarNode) else node.tag
            shown = repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
            reason = str(exc).split(";")[0]  # drop advice meant for Python programmers
            raise ConstructorError(None, None, f"{shown} cannot be read: {reason}", node.start_mark) from exc


StrictLoader.add_constructor(None, StrictLoader.construct_undefined)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_yaml_timestamp)


def read_yaml(path: str | os.PathLike[str]) -> Document:
    """Read a file; raises InvalidDefinition naming the file as given."""
    source = os.fspath(path)
    try:
        status = os.stat(source)
        if stat.S_ISDIR(status.st_mode):
            raise InvalidDefinition(source, ["cannot be read: it is a folder, not a file"])
        size = status.st_size
        if size > MAX_BYTES:
            raise InvalidDefinition(source, [f"the file is {size:,} bytes; the limit is {MAX_BYTES:,}"])
        with open(source, "rb") as stream:
            text = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidDefinition(source, [f"cannot be read: {exc.strerror or exc}"]) from exc
    document = parse_yaml(text, source)
    document.sha256 = hashlib.sha256(text).hexdigest()
    return document


def parse_yaml(text: str | bytes, source: str) -> Document:
    """Parse YAML text into plain data, reporting duplicate keys rather than dropping them."""
    if len(text) > MAX_BYTES:
        raise InvalidDefinition(source, [f"the text is longer than {MAX_BYTES:,} bytes"])
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(text)
        node = loader.get_single_node()
        if node is None:
            return Document(None)
        document = Document(None)
        _survey(node, "", document)
        document.data = loader.construct_document(node)
        return document
    except yaml.YAMLError as exc:
        raise InvalidDefinition(source, [describe_yaml_error(exc, text)]) from exc
    except RecursionError as exc:  # aliases of deeply nested values, nested again
        raise InvalidDefinition(source, ["the values are nested too deeply"]) from exc
    finally:
        if loader is not None:
            loader.dispose()


def describe_yaml_error(exc: yaml.YAMLError, text: str | bytes | None = None) -> str:
    """One line with the position, for people who have never read a YAML traceback."""
    if isinstance(exc, ReaderError):
        hint = " (save the file as UTF-8)" if exc.encoding != "unicode" else ""
        return f"{_reader_position(exc, text)}cannot read the text: {exc.reason}{hint}"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"not valid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = exc.problem or "not valid YAML"
    if "found character '\\t'" in problem:  # the scanner's words for a tab where indentation goes
        return f"{where}found a tab: YAML indents with spaces, not tabs"
    return f"{where}{exc.context}, {problem}" if exc.context else f"{where}{problem}"


def _reader_position(exc: ReaderError, text: str | bytes | None) -> str:
    """`line L, column C: ` of a reader error: a byte offset if the text could not be decoded,
    else a character offset."""
    if text is None:
        return f"at character {exc.position}: "
    if exc.encoding != "unicode" and isinstance(text, bytes):
        before = text[: exc.position].decode("utf-8", errors="replace")
    else:
        decoded = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        before = decoded[: exc.position]
    line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    return f"line {line}, column {column}: "


def _survey(node: Node, path: str, document: Document) -> None:
    """Record each key path's line and any key given twice in one mapping.

    Alias expansion is bounded by the loader, so walking through aliases stays cheap.
    """
    document.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _survey(item, f"{path}[{index}]", document)
    elif isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                where = f"{path}: " if path else ""
                document.problems.append(f"{where}duplicate key {key!r} (line {line}; first given on line {seen[key]})")
            else:
                seen[key] = line
            _survey(value_node, f"{path}.{key}" if path else key, document)
