"""Targets files: published measurements of today's web, and the parameters a fit may move.

A targets file (TOML, e.g. `scenarios/calibration/today.toml`) holds `[[target]]` tables, each
a measured value with the band a simulation must fall in, and `[[free]]` tables, the scenario
keys `ouroboros calibrate --fit` estimates with their ranges. A target names either a registry
metric column (`metric`, read at a `date = "YYYY-MM"` or `step = N`) or a scenario value
(`key`, e.g. a detector's measured error rate). Files are validated as scenarios are: strict
types, unknown keys refused, and every problem one line naming the file, the key and what is
allowed (`ScenarioError`), before anything runs; `resolve` then checks the file against the
scenario it calibrates (metric names, scenario keys, dates, the free parameters' ranges).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationError, model_validator

from simulation import dotted, registry
from simulation.scenario import Scenario, ScenarioError, Strict, validate
from simulation.schedules import Month
from simulation.yaml_input import SHOWN, clip, read_text, shorten

MAX_BYTES = 1 << 20  # a targets file (1 MiB)
MAX_TARGETS = 500
MAX_FREE = 20
RUN_SETTINGS = ("seed", "steps", "replications")  # scenario numbers that are no model parameter

Name = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
Key = Annotated[str, Field(min_length=1, max_length=200)]
Pair = Annotated[list[float], Field(min_length=2, max_length=2)]
Text = Annotated[str, Field(max_length=2000)]


class Target(Strict):
    """One measurement: `value` with the `band` a simulated mean must fall in.

    The band is read as ±2σ of the measurement and of the model's structural error together:
    a fit weighs a target by σ = (high − low) / 4.
    """

    name: Name
    metric: Key | None = None
    key: Key | None = None
    date: Month | None = None
    step: Annotated[int, Field(ge=0)] | None = None
    value: float
    band: Pair
    source: Annotated[str, Field(min_length=1, max_length=2000)]
    note: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        problems = []
        if (self.metric is None) == (self.key is None):
            problems.append("give either metric (a metric column) or key (a scenario value)")
        elif self.metric is not None and (self.date is None) == (self.step is None):
            problems.append('a metric target needs either date = "YYYY-MM" or step = N')
        elif self.key is not None and (self.date is not None or self.step is not None):
            problems.append("a scenario value (key) is compared as it is: no date or step")
        low, high = self.band
        if not low < high:
            problems.append(f"band: low ({low}) must be below high ({high})")
        elif not low <= self.value <= high:
            problems.append(f"band [{low}, {high}] must contain value ({self.value})")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def sigma(self) -> float:
        """The target's standard deviation in a fit: the band read as ±2σ."""
        return (self.band[1] - self.band[0]) / 4

    def within(self, simulated: float) -> bool:
        """Whether a simulated value lies in the band (NaN never does)."""
        return bool(self.band[0] <= simulated <= self.band[1])


class Free(Strict):
    """A scenario key a fit estimates, sampled over `range` (on a log scale if `log`)."""

    key: Key
    range: Pair
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Free:
        low, high = self.range
        if not low < high:
            raise ValueError(f"range: low ({low}) must be below high ({high})")
        if self.log and low <= 0:
            raise ValueError(f"range: a log scale needs low above 0 (got {low})")
        return self

    def values(self, unit: np.ndarray, integer: bool) -> np.ndarray:
        """The parameter's values at points of the unit interval (rounded for an integer key)."""
        low, high = self.range
        if self.log:
            values = np.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
        else:
            values = low + unit * (high - low)
        return np.rint(values) if integer else values


class TargetsFile(Strict):
    """A whole targets file."""

    description: Text = ""
    target: Annotated[list[Target], Field(min_length=1, max_length=MAX_TARGETS)]
    free: Annotated[list[Free], Field(max_length=MAX_FREE)] = []

    @model_validator(mode="after")
    def _unique(self) -> TargetsFile:
        problems = [
            f"target: the name {name!r} is used twice" for name in _twice(self.target, "name")
        ]
        problems += [f"free: the key {key!r} is listed twice" for key in _twice(self.free, "key")]
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _few(names: list[str], shown: int = 3) -> str:
    """The first few names, for a message about many."""
    return ", ".join(names[:shown]) + (", …" if len(names) > shown else "")


def _twice(items: list[Any], field: str) -> list[str]:
    seen: list[str] = [getattr(item, field) for item in items]
    return sorted({value for value in seen if seen.count(value) > 1})


@dataclass(frozen=True)
class Targets:
    """A targets file checked against the scenario it calibrates.

    `steps[i]` is the step at which target i's metric is read (None for a scenario value);
    `integer[j]` says whether free parameter j is an integer key of the scenario.
    """

    source: str
    spec: TargetsFile
    steps: tuple[int | None, ...]
    integer: tuple[bool, ...]

    @property
    def targets(self) -> list[Target]:
        return self.spec.target

    @property
    def free(self) -> list[Free]:
        return self.spec.free

    @property
    def last_step(self) -> int:
        """The last step any target reads: simulations stop there."""
        return max((s for s in self.steps if s is not None), default=0)


def load(path: Path, scenario: Scenario) -> Targets:
    """Read, validate and `resolve` a targets file; `ScenarioError` with every problem."""
    source = str(path)
    try:
        data = tomllib.loads(read_text(Path(path), MAX_BYTES, what="targets file"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{source}: not valid TOML ({exc})"]) from None
    try:
        spec = TargetsFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problems(source, data, exc)) from None
    return resolve(source, spec, scenario)


def _problems(source: str, data: dict[str, Any], exc: ValidationError) -> list[str]:
    """One line per pydantic error: where (a target by its name), what, and the value given."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc)
        if len(loc) >= 2 and loc[0] in ("target", "free") and isinstance(loc[1], int):
            entry = data[loc[0]][loc[1]]  # the error is in the list's item `loc[1]`
            label = (
                entry.get("name" if loc[0] == "target" else "key")
                if isinstance(entry, dict)
                else None
            )
            named = f" {clip(label, SHOWN)}" if isinstance(label, str) else ""
            where = ".".join([f"{loc[0]} #{loc[1] + 1}{named}", *map(str, loc[2:])])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        hidden = error["type"] in ("missing", "value_error") or isinstance(error["input"], dict)
        got = "" if hidden else f" (got {shorten(error['input'])})"
        at = f"{source}: {where}" if where else source
        for line in message.removeprefix("Value error, ").splitlines():
            lines.append(f"{at}: {line}{got}")
    return list(dict.fromkeys(lines))


def resolve(source: str, spec: TargetsFile, scenario: Scenario) -> Targets:
    """Check `spec` against `scenario`: metric names, scenario keys, dates (through the
    scenario's `start_date`), and that the scenario stays valid at each end of every range."""
    base = scenario.to_dict()
    problems: list[str] = []
    dated = [t.name for t in spec.target if t.date is not None]
    if dated and scenario.start_date is None:
        problems.append(
            f"{source}: {len(dated)} target(s) given by date ({_few(dated)}) need "
            f"a start_date in {scenario.name} (the month of step 0, e.g. --set "
            "start_date=2022-11); or give them step = N"
        )
    steps: list[int | None] = []
    for i, target in enumerate(spec.target):
        where = f"{source}: target #{i + 1} {target.name}"
        step = None
        if target.metric is not None:
            if target.metric not in registry.BY_NAME:
                offered = ", ".join(m.name for m in registry.shown_in("calibration"))
                problems.append(
                    f"{where}: metric: {shorten(target.metric)} is no metric column; "
                    f"measurements of today's web are compared with: {offered} "
                    f"(or any column of docs/ODD.md §9)"
                )
            step = _step(where, target, scenario, problems)
        else:
            assert target.key is not None
            _number_at(where, target.key, base, problems)
        steps.append(step)
    integer = []
    for j, free in enumerate(spec.free):
        where = f"{source}: free #{j + 1} {shorten(free.key)}"
        known = len(problems)
        value = _number_at(where, free.key, base, problems, unset=True)
        integer.append(isinstance(value, int))
        if len(problems) > known:
            continue
        for end in free.range:
            try:
                validate(dotted.updated(base, {free.key: int(end) if integer[-1] else end}))
            except ScenarioError as exc:
                reason = exc.problems[0].removeprefix("<scenario>: ")
                problems.append(f"{where}: range end {end} is not allowed: {reason}")
    if problems:
        raise ScenarioError(problems)
    return Targets(source, spec, tuple(steps), tuple(integer))


def _step(where: str, target: Target, scenario: Scenario, problems: list[str]) -> int | None:
    """The step a metric target is read at: `step`, or `date` through `scenario.step_of`."""
    step = target.step
    if target.date is not None:
        if scenario.start_date is None:
            return None  # `resolve` says so once for every dated target
        step = scenario.step_of(target.date)
    assert step is not None
    if not 0 <= step <= scenario.steps:
        what = f"date {target.date} is step {step}" if target.date else f"step {step} is"
        problems.append(
            f"{where}: {what} outside the scenario's steps 0–{scenario.steps}; "
            "give a step the scenario simulates, or raise `steps`"
        )
        return None
    return step


def _number_at(
    where: str, key: str, base: dict[str, Any], problems: list[str], *, unset: bool = False
) -> int | float | None:
    """The scenario's number at `key`, or None with the problem recorded; with `unset`, a key
    left unset (null, e.g. an optional mechanism switched off) is no problem and gives None."""
    why = dotted.unknown(base, key)
    if why is not None:
        problems.append(f"{where}: key: unknown scenario key {shorten(key)} ({why})")
        return None
    value = dotted.get(base, key)
    if dotted.parts(key)[0] in RUN_SETTINGS:
        problems.append(f"{where}: key: {key} is a run setting, not a model parameter")
    elif value is None and unset:
        return None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(
            f"{where}: key: {key} holds {shorten(value)}, not a number "
            "(a schedule or a section cannot be a target or a free parameter)"
        )
    else:
        return value
    return None
