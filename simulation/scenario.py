"""Scenario files: YAML loading, `extends`, `--set` overrides, validation and error messages.

A scenario file is read with `yaml.safe_load`, merged onto the file it `extends`, overridden
by `--set KEY=VALUE` and validated into the frozen models of `simulation.schema` (re-exported
here, so `from simulation.scenario import Scenario, Web` keeps working). Problems are reported
as `ScenarioError` with one line per problem naming the file, the key path, the value and what
is allowed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulation import dotted
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
    Schedule,
    Strict,
    Sweep,
    Web,
)

__all__ = [
    "Content",
    "Crawlers",
    "Detector",
    "Filtering",
    "Humans",
    "Metrics",
    "Models",
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
    "parse_override",
    "validate",
]


class ScenarioError(Exception):
    """Invalid scenario input; `problems` holds one human-readable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ScenarioError([f"{path}: file not found"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "python/" in problem:
            problem = "`!!python` tags are not allowed (scenarios are data, read with safe_load)"
        raise ScenarioError([f"{path}: malformed YAML{where}: {problem}"]) from None
    except UnicodeDecodeError:
        raise ScenarioError([f"{path}: not a UTF-8 text file"]) from None
    if data is None:
        raise ScenarioError([f"{path}: empty file; a scenario needs at least `name:`"])
    if not isinstance(data, dict):
        raise ScenarioError(
            [f"{path}: top level must be a mapping of keys, got {type(data).__name__}"]
        )
    return data


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and resolve its `extends:` chain into one plain mapping."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ScenarioError([f"{path}: extends: circular chain {chain}"])
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError([f"{path}: extends: must be a file name, got {parent!r}"])
    base_path = path.parent / parent
    if not base_path.is_file():
        raise ScenarioError([f"{path}: extends: base file {base_path} not found"])
    return deep_merge(load_raw(base_path, (*_seen, resolved)), data)


def parse_override(text: str) -> tuple[str, Any]:
    """Split `a.b.c=value` into its dotted key and its YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError([f"--set {text!r}: expected KEY=VALUE, e.g. web.ai_share=0.5"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ScenarioError([f"--set {text!r}: value is not valid YAML"]) from None
    return key.strip(), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of `data` with each `KEY=VALUE` override set in turn (nested keys created)."""
    return dotted.updated(data, [parse_override(text) for text in overrides])


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
                path.append(str(part))
                continue
            given = dotted.get(data, [p for p in loc[:i] if _union_tag(p) is None], None)
            if (tag == "mapping") != isinstance(given, dict):
                skip = True
                break
        if skip:
            continue
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, dict) or err["type"] == "missing" else f" (got {value!r})"
        where = f"{source}: {'.'.join(path)}" if path else source
        lines.append(f"{where}: {msg}{shown}")
    if not lines:  # every branch filtered: show them all rather than nothing
        return _format_errors(source, {}, [{**e, "loc": ()} for e in errors])
    return list(dict.fromkeys(lines))


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
