"""Scenario files: YAML loading, `extends`, `--set` overrides, validation and error messages.

A scenario file is read by `simulation.yaml_input` (plain YAML within limits of size, nesting
and alias expansion; duplicate keys and tags refused), merged onto the files it `extends` (at
most `MAX_EXTENDS` deep), overridden by `--set KEY=VALUE` and validated into the frozen models
of `simulation.schema` and `simulation.schedules` (re-exported here, so `from
simulation.scenario import Scenario, Web` keeps working). Problems are reported as
`ScenarioError` with one line per problem naming the file, the key path, the value (shortened)
and what is allowed.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulation import dotted
from simulation.schedules import PointSchedule, Schedule
from simulation.schema import (
    Content,
    Crawlers,
    Detector,
    Filtering,
    Humans,
    Metrics,
    Models,
    Provenance,
    Range,
    Scenario,
    Strict,
    Sweep,
    Web,
)
from simulation.yaml_input import (
    MAX_DEPTH,
    SHOWN,
    ScenarioError,
    clip,
    parse,
    read_mapping,
    shorten,
)

__all__ = [
    "Content",
    "Crawlers",
    "Detector",
    "Filtering",
    "Humans",
    "Metrics",
    "Models",
    "PointSchedule",
    "Provenance",
    "Range",
    "Scenario",
    "ScenarioError",
    "Schedule",
    "Strict",
    "Sweep",
    "Web",
    "apply_overrides",
    "deep_merge",
    "dump_yaml",
    "load",
    "load_raw",
    "override_parts",
    "parse_override",
    "validate",
]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


MAX_EXTENDS = 16  # files in an `extends:` chain after the first
MAX_KEY_PARTS = MAX_DEPTH  # parts of a dotted `--set` key
MAX_PROBLEMS = 50  # lines of one error message


def load_raw(path: Path) -> dict[str, Any]:
    """Read a scenario file and resolve its `extends:` chain into one plain mapping."""
    path = Path(path)
    chain: list[dict[str, Any]] = []
    seen: list[str] = []
    while True:
        resolved = os.path.realpath(path)
        if resolved in seen:
            cycle = " -> ".join([*seen, resolved])
            raise ScenarioError([f"{path}: extends: circular chain {shorten(cycle, 400)}"])
        if len(seen) > MAX_EXTENDS:
            raise ScenarioError(
                [f"{seen[0]}: extends: a chain of more than {MAX_EXTENDS} files (at {path})"]
            )
        seen.append(resolved)
        data = read_mapping(path)
        parent = data.pop("extends", None)
        chain.append(data)
        if parent is None:
            break
        if not isinstance(parent, str):
            raise ScenarioError([f"{path}: extends: must be a file name, got {shorten(parent)}"])
        base_path = path.parent / parent
        if not os.path.lexists(base_path):
            raise ScenarioError([f"{path}: extends: base file {shorten(str(base_path))} not found"])
        path = base_path
    merged = chain.pop()
    while chain:
        merged = deep_merge(merged, chain.pop())
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b.c=value` into its dotted key and its YAML-parsed value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError([f"--set {shorten(text)}: expected KEY=VALUE, e.g. web.ai_share=0.5"])
    n_parts = len(dotted.parts(key))
    if "" in dotted.parts(key) or n_parts > MAX_KEY_PARTS:
        raise ScenarioError(
            [
                f"--set {clip(key, SHOWN)}: a key is names joined by dots, e.g. web.ai_share "
                f"(at most {MAX_KEY_PARTS} parts)"
            ]
        )
    return key, parse(raw, f"--set {clip(key, SHOWN)}") if raw.strip() else ""


def override_parts(key: str) -> tuple[str, ...]:
    """The parts of an override key; a sweep factor's or arm's scenario key stays one part.

    `sweep.factors.web.ai_share` → `("sweep", "factors", "web.ai_share")` and
    `sweep.arms.A.web.ai_share` → `("sweep", "arms", "A", "web.ai_share")`.
    """
    parts = dotted.parts(key)
    head = 3 if parts[:2] == ("sweep", "arms") else 2 if parts[:2] == ("sweep", "factors") else 0
    if head and len(parts) > head + 1:
        return (*parts[:head], ".".join(parts[head:]))
    return parts


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of `data` with each `KEY=VALUE` override set in turn (nested keys created)."""
    pairs = [parse_override(text) for text in overrides]
    return dotted.updated(data, [(override_parts(key), value) for key, value in pairs])


_SCALAR_TAGS = {"float", "int", "bool", "str", "none", "list[any]"}


def _union_tag(part: object) -> str | None:
    """The name of a union branch in a pydantic error location, if `part` is one."""
    if not isinstance(part, str):
        return None
    if part.startswith("function-"):  # e.g. "function-after[_ordered(), Range]"
        part = part.rsplit(",", 1)[-1].strip(" ]")
    if part in _SCALAR_TAGS or part.startswith("constrained-"):
        return "scalar"
    if part[:1].isupper():
        return "mapping"
    return None


def _number_hint(error_type: str, value: Any) -> str:
    """Why a number written in YAML was read as a string, when it plainly was."""
    if error_type not in ("int_type", "float_type") or not isinstance(value, str):
        return ""
    if not re.fullmatch(r"[-+]?[0-9_]*\.?[0-9_]*([eE][-+]?[0-9]+)?", value.strip()):
        return ""
    if "e" in value.lower():
        return ", a string: YAML reads an exponent only with a dot and a sign, e.g. 1.0e+6"
    return ", a string: write numbers without quotes"


def _format_errors(source: str, data: dict[str, Any], errors: list[dict[str, Any]]) -> list[str]:
    """One line per problem; for unions, only the branch matching what the user wrote."""
    lines = []
    for err in errors:
        loc = tuple(err["loc"])
        path: list[str] = []
        skip = False
        for i, part in enumerate(loc):
            tag = _union_tag(part)
            if tag is None:
                path.append(str(part) if len(str(part)) <= SHOWN else f"{str(part)[:SHOWN]}…")
                continue
            given = dotted.get(data, [p for p in loc[:i] if _union_tag(p) is None], None)
            if (tag == "mapping") != isinstance(given, dict):
                skip = True
                break
        if skip:
            continue
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        value = err.get("input")
        hidden = isinstance(value, dict) or err["type"] == "missing"
        shown = "" if hidden else f" (got {shorten(value)}{_number_hint(err['type'], value)})"
        where = f"{source}: {'.'.join(path)}" if path else source
        for line in msg.removeprefix("Value error, ").splitlines():  # a validator's problems
            lines.append(f"{where}: {line}{shown}")
    if not lines:  # every branch filtered: show them all rather than nothing
        return _format_errors(source, {}, [{**e, "loc": ()} for e in errors])
    lines = list(dict.fromkeys(lines))
    if len(lines) > MAX_PROBLEMS:
        more = len(lines) - MAX_PROBLEMS + 1
        lines = [*lines[: MAX_PROBLEMS - 1], f"{source}: … and {more} more problems"]
    return lines


def validate(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a plain mapping into a `Scenario`, or raise `ScenarioError` with every problem."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(source, data, exc.errors())) from None


def load(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Load, merge, override and validate a scenario file."""
    path = Path(path)
    data = apply_overrides(load_raw(path), overrides or [])
    return validate(data, f"{path} (with --set)" if overrides else str(path))


def dump_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario as YAML."""
    return yaml.safe_dump(scenario.to_dict(), sort_keys=False)
