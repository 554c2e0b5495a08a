"""Ouroboros as an EMA Workbench model: `ema_model(scenario_path)` for `perform_experiments`.

EMA Workbench (exploratory modelling and analysis) samples uncertainties and levers and calls a
model's function once per experiment. Here that function is the runner's single run
(`simulation.runner.run_one`) of a scenario file with the sampled values applied as dotted
overrides (`web.ai_share`, `filtering.detector.tpr`, …), returning one time series per registry
metric (step 0 included). A scenario with a `sweep:` section gives its factors as uncertainties
(ranges as real or integer parameters, grid values as categories) and its policy arms as one
categorical lever `arm`; both can be given explicitly instead.

EMA needs Python identifiers for names, so a key's parameter is named `parameter_name(key)`
(`web.ai_share` → `web__ai_share`) and keeps the dotted key as its variable name. Every
experiment runs on the scenario's seed at design point 0 (replication r for a
`ReplicatorModel`'s r-th replication): experiments share their random numbers, as a sweep's
arms do, so differences between them come from the sampled values alone. Counterfactual twins
are not run (`counterfactuals` is off): the outcomes are the runs as simulated.

This module imports ema_workbench (seconds); nothing that the command line imports at start-up
imports it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulation import dotted, registry
from simulation.runner import run_one
from simulation.scenario import Range, ScenarioError, load, validate

with warnings.catch_warnings():  # EMA warns at import about optional cluster back-ends
    warnings.filterwarnings("ignore", message=".*not installed", category=UserWarning)
    import ema_workbench as ema

ARM = "arm"  # the lever naming a sweep's policy arm
REPLICATION = "replication"  # what a ReplicatorModel's replications pass to the function
KEY_SEPARATOR = "__"  # `a.b` → `a__b`: dotted keys as Python identifiers

# What an uncertainty or lever can be given as: (low, high), a Range or {low, high} (a real
# parameter, or an integer one where the scenario's value is an integer), or a list of values
# (categorical).
ParameterSpec = tuple[float, float] | Range | Mapping[str, float] | list[Any]


def parameter_name(key: str) -> str:
    """The EMA name of a dotted scenario key (a Python identifier)."""
    return KEY_SEPARATOR.join(dotted.parts(key))


def scenario_key(name: str) -> str:
    """The dotted scenario key of an EMA parameter name (inverse of `parameter_name`)."""
    return ".".join(name.split(KEY_SEPARATOR))


@dataclass(frozen=True)
class ScenarioFunction:
    """The model function: one run of `base` with an arm's and the sampled overrides applied.

    A module-level class, so that the model pickles for EMA's multiprocessing evaluator.
    """

    base: dict[str, Any]
    arms: dict[str, dict[str, Any]]
    outcomes: tuple[str, ...]

    def config(self, sampled: Mapping[str, Any]) -> dict[str, Any]:
        """The plain scenario of one experiment: `arm` overrides first, then the sampled keys
        (as a sweep applies an arm, then its design point)."""
        values = {k: _plain(v) for k, v in sampled.items() if k not in (ARM, REPLICATION)}
        arm = self.arms[sampled[ARM]] if ARM in sampled else {}
        return dotted.updated(dotted.updated(self.base, arm), values)

    def __call__(self, **sampled: Any) -> dict[str, np.ndarray]:
        config = validate(self.config(sampled), "ema experiment")
        replication = int(sampled.get(REPLICATION, 0))
        frame = run_one(config, replication=replication).metrics
        return {name: frame[name].to_numpy() for name in self.outcomes}


def ema_model(
    scenario_path: str | Path,
    uncertainties: Mapping[str, ParameterSpec] | None = None,
    levers: Mapping[str, ParameterSpec] | None = None,
    outcomes: Sequence[str] | None = None,
    replications: int = 1,
) -> ema.Model | ema.ReplicatorModel:
    """An EMA Workbench model of the scenario file at `scenario_path`.

    `uncertainties` and `levers` map dotted scenario keys to ranges, category lists or EMA
    parameters; `None` takes them from the scenario's sweep (factors → uncertainties, arms →
    the categorical lever `arm`). `outcomes` are registry metric names (default: every
    metric), each an `ArrayOutcome` holding the run's time series. With `replications` > 1 a
    `ReplicatorModel` runs replications 0 … n−1 of every experiment (outcome arrays gain a
    replication axis). Every key and bound is checked against the scenario before anything
    runs: a problem raises `ScenarioError` naming the key.
    """
    source = str(scenario_path)
    scenario = load(Path(scenario_path))
    sweep = scenario.sweep
    base = {**scenario.to_dict(), "sweep": None, "counterfactuals": False}
    arms = dict(sweep.arms) if sweep is not None else {}
    if uncertainties is None:
        uncertainties = dict(sweep.factors) if sweep is not None else {}
    names = tuple(outcomes) if outcomes is not None else registry.COLUMNS
    unknown = [n for n in names if n not in registry.BY_NAME]
    if unknown:
        raise ScenarioError(
            [f"outcomes: {unknown[0]!r} is no registry metric; use one of {registry.COLUMNS}"]
        )
    if replications < 1:
        raise ScenarioError([f"replications: {replications}; give at least 1"])
    function = ScenarioFunction(base, arms, names)
    if replications == 1:
        model: ema.Model | ema.ReplicatorModel = ema.Model(_identifier(scenario.name), function)
    else:
        model = ema.ReplicatorModel(_identifier(scenario.name), function)
        model.replications = [{REPLICATION: r} for r in range(replications)]
    model.uncertainties = [_parameter(base, k, v, source) for k, v in uncertainties.items()]
    lever_list = [_parameter(base, k, v, source) for k, v in (levers or {}).items()]
    if levers is None and arms:
        lever_list = [ema.CategoricalParameter(ARM, list(arms))]
    model.levers = lever_list
    model.outcomes = [ema.ArrayOutcome(name) for name in names]
    return model


def _parameter(base: dict[str, Any], key: str, spec: ParameterSpec, source: str) -> Any:
    """An EMA parameter for the dotted `key`, after checking that the scenario takes its bounds
    (or every category)."""
    why = dotted.unknown(base, key)
    if why:
        raise ScenarioError([f"{source}: unknown scenario key {key!r} ({why})"])
    name = parameter_name(key)
    if isinstance(spec, list):
        values = spec
        parameter = ema.CategoricalParameter(name, values, variable_name=key)
    else:
        if isinstance(spec, Range):
            values = [spec.low, spec.high]
        elif isinstance(spec, Mapping):
            values = [spec["low"], spec["high"]]
        else:
            values = list(spec)
        kind = ema.IntegerParameter if _is_integer(dotted.get(base, key)) else ema.RealParameter
        cast = int if kind is ema.IntegerParameter else float
        values = [cast(v) for v in values]
        parameter = kind(name, values[0], values[1], variable_name=key)
    for value in values:
        validate(dotted.updated(base, {key: _plain(value)}), f"{source}: {key} = {value!r}")
    return parameter


def _identifier(name: str) -> str:
    """A scenario name as the Python identifier EMA needs for a model name."""
    text = re.sub(r"\W", "_", name)
    return text if text.isidentifier() else f"m_{text}"


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """A numpy scalar (as EMA samples them) as the plain Python value a scenario holds."""
    return value.item() if isinstance(value, np.generic) else value
