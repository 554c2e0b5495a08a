"""Dotted scenario keys (`filtering.detector.tpr`) on nested plain-data mappings.

The one place that walks a key through a scenario's mappings: `--set` overrides, sweep factors
and arms, error messages, the browser view's controls and the benchmarks' cost curve all go
through these helpers. A key is a dotted string or a sequence of its parts (pydantic error
locations are tuples).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Key = str | Sequence[Any]
_RAISE = object()  # get's default: a missing key is a KeyError
_ABSENT = object()


def parts(key: Key) -> tuple[Any, ...]:
    """The parts of a key: `"a.b.c"` → `("a", "b", "c")`; a sequence is taken as it is."""
    return tuple(key.split(".")) if isinstance(key, str) else tuple(key)


def get(tree: Any, key: Key, default: Any = _RAISE) -> Any:
    """The value at `key`; `default` where the path is missing (KeyError if none is given)."""
    node = tree
    for part in parts(key):
        if not isinstance(node, Mapping) or part not in node:
            if default is _RAISE:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def has(tree: Any, key: Key) -> bool:
    """Whether every part of `key` is present (the value there may be None)."""
    return get(tree, key, _ABSENT) is not _ABSENT


def updated(
    tree: Mapping[str, Any], values: Mapping[Key, Any] | Iterable[tuple[Key, Any]]
) -> dict[str, Any]:
    """A copy of `tree` with each key set to its value, in order; `tree` is left untouched.

    Mappings along each key's path are copied (a missing one, or a non-mapping in the way,
    becomes a new mapping); everything off the paths is shared with `tree`.
    """
    out = dict(tree)
    for key, value in values.items() if isinstance(values, Mapping) else values:
        *head, last = parts(key)
        node = out
        for part in head:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, Mapping) else {}
            node = node[part]
        node[last] = value
    return out


def unknown(tree: Any, key: Key) -> str | None:
    """Why `key` is not in `tree` (the first missing part, with a close match), or None if it is.

    `unknown({"web": {"n_sites": 1}}, "web.n_sitez")` → `"web has no key 'n_sitez'; did you
    mean 'web.n_sites'?"`.
    """
    node, done = tree, []
    for part in parts(key):
        if not isinstance(node, Mapping):
            return f"{'.'.join(done)} is a value, not a section"
        if part not in node:
            where = f"{'.'.join(done)} has" if done else "a scenario has"
            text = f"{where} no key {str(part)[:60]!r}"
            close = difflib.get_close_matches(str(part), [str(k) for k in node], n=1)
            return text + (f"; did you mean {'.'.join([*done, close[0]])!r}?" if close else "")
        node = node[part]
        done.append(str(part))
    return None
