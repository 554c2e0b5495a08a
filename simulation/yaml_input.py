"""Reading untrusted YAML: bounded in size, nesting and alias expansion, strict about keys.

Scenario files, `--set` values and the `scenario.yaml` of result folders are read here. Before
any Python object is built, the composed node graph is walked once (memoised, so a "billion
laughs" file costs as much as its size): nesting deeper than `MAX_DEPTH`, aliases expanding to
more than `MAX_NODES` nodes or `MAX_CHARS` characters, a recursive alias, a duplicate key in any
mapping and any non-standard tag (`!!python/...`) are refused. Every problem is a
`ScenarioError` with one line naming the file; values in messages are cut by `shorten`.
"""

from __future__ import annotations

import os
import reprlib
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1 << 20  # a scenario file (1 MiB)
MAX_DEPTH = 64  # nested mappings and sequences, aliases expanded
MAX_NODES = 100_000  # nodes of the document with every alias expanded
MAX_CHARS = 4 << 20  # characters of its scalars with every alias expanded
SHOWN = 60  # characters of a value shown in a message

MERGE_TAG = "tag:yaml.org,2002:merge"


class ScenarioError(Exception):
    """Invalid scenario input; `problems` holds one human-readable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


_REPR = reprlib.Repr(maxlevel=3, maxdict=4, maxlist=4, maxtuple=4, maxset=4, maxstring=SHOWN)
_REPR.maxother = _REPR.maxlong = SHOWN


def shorten(value: Any, limit: int = SHOWN) -> str:
    """`repr(value)` cut to about `limit` characters, at a cost bounded whatever the value."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<a {value.bit_length()}-bit integer>"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # e.g. an integer too long to print
        text = f"<{type(value).__name__}>"
    return clip(text, limit)


def clip(text: str, limit: int = 2 * SHOWN) -> str:
    """The first line of `text`, cut to `limit` characters (for quoting another error)."""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _Loader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses nesting deeper than MAX_DEPTH as it reads."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(_too_deep(self.peek_event().start_mark.line))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refused(Exception):
    """A limit was hit; the message lacks only the source."""


def _too_deep(line: int) -> str:
    return f"line {line + 1}: nested deeper than {MAX_DEPTH} levels"


class _Walk:
    """One pass over a composed node graph with aliases expanded, memoised per node."""

    def __init__(self, loader: _Loader):
        self.loader = loader
        self.memo: dict[int, tuple[int, int, int]] = {}  # id -> nodes, characters, height
        self.active: set[int] = set()

    def visit(self, node: Node, depth: int, path: tuple[str, ...]) -> tuple[int, int, int]:
        key = id(node)
        if key in self.active:
            raise _Refused(f"line {node.start_mark.line + 1}: an alias refers to itself")
        if key not in self.memo:
            if depth > MAX_DEPTH:
                raise _Refused(_too_deep(node.start_mark.line))
            self.active.add(key)
            self.memo[key] = self._measure(node, depth, path)
            self.active.discard(key)
        nodes, chars, height = self.memo[key]
        if depth + height - 1 > MAX_DEPTH:
            raise _Refused(_too_deep(node.start_mark.line) + " (with aliases expanded)")
        return nodes, chars, height

    def _measure(self, node: Node, depth: int, path: tuple[str, ...]) -> tuple[int, int, int]:
        _check_tag(node, path)
        if isinstance(node, ScalarNode):
            return 1, len(node.value), 1
        if isinstance(node, SequenceNode):
            children = [(child, (*path, str(i))) for i, child in enumerate(node.value)]
        else:
            children = self._mapping_children(node, path)
        nodes, chars, height = 1, 0, 1
        for child, where in children:
            n, c, h = self.visit(child, depth + 1, where)
            nodes, chars, height = nodes + n, chars + c, max(height, h + 1)
            if nodes > MAX_NODES or chars > MAX_CHARS:
                raise _Refused(
                    f"{_at(path)}aliases expand to more than {MAX_NODES} values or "
                    f"{MAX_CHARS >> 20} MiB of text (a 'billion laughs'?); write the values out"
                )
        return nodes, chars, height

    def _mapping_children(self, node: MappingNode, path: tuple[str, ...]) -> list:
        seen: dict[Any, int] = {}
        children = []
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else "?"
            where = (*path, name if len(name) <= SHOWN else name[: SHOWN - 1] + "…")
            if isinstance(key_node, ScalarNode) and key_node.tag != MERGE_TAG:
                _check_tag(key_node, where)
                key = self.loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _Refused(
                        f"{_at(path)}duplicate key {shorten(key)} (lines {seen[key]} and {line}); "
                        "each key may appear once in a mapping"
                    )
                seen[key] = line
            children += [(key_node, where), (value_node, where)]
        return children


def _at(path: tuple[str, ...]) -> str:
    return f"{'.'.join(path)}: " if path else ""


def _check_tag(node: Node, path: tuple[str, ...]) -> None:
    if node.tag in _Loader.yaml_constructors or node.tag == MERGE_TAG:
        return
    line = node.start_mark.line + 1
    if "python/" in node.tag:
        raise _Refused(
            f"{_at(path)}line {line}: `!!python` tags are not allowed "
            "(scenarios are data, read with safe_load)"
        )
    raise _Refused(
        f"{_at(path)}line {line}: tag {shorten(node.tag)} is not allowed "
        "(only plain YAML: mappings, lists, strings, numbers, booleans, null)"
    )


def parse(text: str, source: str) -> Any:
    """The data of one YAML document, within every limit above; `source` names it in messages."""
    loader = None
    try:
        loader = _Loader(text)  # checks the characters
        root = loader.get_single_node()
        if root is None:
            return None
        _Walk(loader).visit(root, 1, ())
        return loader.construct_document(root)
    except _Refused as exc:
        raise ScenarioError([f"{source}: {exc}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = clip(exc.problem or str(exc))
        raise ScenarioError([f"{source}: malformed YAML{where}: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}: malformed YAML: {clip(str(exc))}"]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an int of 5000 digits
        problem = clip(str(exc)) or type(exc).__name__
        raise ScenarioError([f"{source}: a value cannot be read: {problem}"]) from None
    except RecursionError:
        raise ScenarioError([f"{source}: nested too deeply (at most {MAX_DEPTH} levels)"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: Path, limit: int = MAX_BYTES, what: str = "scenario file") -> str:
    """The text of a regular file of at most `limit` bytes, or a ScenarioError saying why not."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError([f"{path}: is a directory, not a {what}"])
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError([f"{path}: not a regular file"])
        if info.st_size > limit:
            raise ScenarioError([f"{path}: larger than {limit >> 20} MiB ({info.st_size} bytes)"])
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise ScenarioError([f"{path}: file not found"]) from None
    except PermissionError:
        raise ScenarioError([f"{path}: permission denied (cannot read the file)"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except ValueError:  # e.g. a NUL byte in the name
        raise ScenarioError([f"{shorten(str(path))}: not a valid file name"]) from None
    if len(raw) > limit:  # it grew since stat
        raise ScenarioError([f"{path}: larger than {limit >> 20} MiB"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([f"{path}: not a UTF-8 text file"]) from None


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (a scenario), read within every limit."""
    data = parse(read_text(path), str(path))
    if data is None:
        raise ScenarioError([f"{path}: empty file; a scenario needs at least `name:`"])
    if not isinstance(data, dict):
        raise ScenarioError(
            [f"{path}: top level must be a mapping of keys, got {type(data).__name__}"]
        )
    return data
