"""Sweep designs: which runs a sweep makes (arm × design point × replication) and their scenarios.

A design point is one setting of the sweep's factors (a grid cell, or a row of an LHS, Sobol or
Morris sample). Named policy arms are applied on top of every design point. The seed of a run is
`SeedSequence(seed, spawn_key=(design_point, replication))`; the arm is deliberately *not* part
of the key, so the arms of one design point and replication share their random numbers (common
random numbers): policy differences are then not blurred by different random draws.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulation import dotted
from simulation.scenario import MAX_PROBLEMS, Range, Scenario, ScenarioError, Sweep, validate

MORRIS_LEVELS = 4
DESIGN_STREAM = 2**32 - 1  # spawn key of the sampler's own stream, apart from every run's key


@dataclass(frozen=True)
class Design:
    """The runs of a sweep: `table` has one row per run, ordered by `run_id`."""

    base: dict[str, Any]  # the scenario without its `sweep:` section
    arms: dict[str, dict[str, Any]]
    points: pd.DataFrame  # one row per design point, one column per factor key
    replications: int

    @property
    def table(self) -> pd.DataFrame:
        """run_id, arm, design_point, replication and the factor values of every run."""
        n_arms, n_points, n_rep = len(self.arms), len(self.points), self.replications
        point = np.tile(np.repeat(np.arange(n_points), n_rep), n_arms)
        frame = pd.DataFrame(
            {
                "run_id": np.arange(n_arms * n_points * n_rep),
                "arm": np.repeat(list(self.arms), n_points * n_rep),
                "design_point": point,
                "replication": np.tile(np.arange(n_rep), n_arms * n_points),
            }
        )
        factors = self.points.iloc[point].reset_index(drop=True)
        return pd.concat([frame, factors], axis=1)

    def config(self, arm: str, design_point: int) -> dict[str, Any]:
        """The plain-data scenario of one arm at one design point (any replication)."""
        point = {k: _plain(col.iloc[design_point]) for k, col in self.points.items()}
        return dotted.updated(dotted.updated(self.base, self.arms[arm]), point)

    def configs(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(arm, design point, `config(arm, design_point)`) of every arm and design point."""
        rows = self.points.to_dict("records")  # far faster than `config`'s row lookups
        for arm, overrides in self.arms.items():
            arm_base = dotted.updated(self.base, overrides)
            for i, row in enumerate(rows):
                yield arm, i, dotted.updated(arm_base, {k: _plain(v) for k, v in row.items()})


def build(scenario: Scenario, source: str = "<scenario>") -> Design:
    """The design of a sweep scenario; every run's scenario is validated before anything runs.

    The schema has checked the factors' kinds and the design's size; that size (at most
    `schema.MAX_RUNS` runs) is checked again here before any table is made.
    """
    if scenario.sweep is None:
        raise ScenarioError([f"{source}: no `sweep:` section; use `ouroboros run` for one run"])
    problems = scenario.sweep.problems(scenario.model_dump(), scenario.replications)
    if problems:  # only for a Scenario made without validation (model_construct)
        raise ScenarioError([f"{source}: {line}" for line in problems])
    base = {**scenario.to_dict(), "sweep": None}
    arms = dict(scenario.sweep.arms) or {scenario.name: {}}
    design = Design(
        base=base,
        arms=arms,
        points=factor_points(scenario.sweep, base, scenario.seed),
        replications=scenario.replications,
    )
    invalid: list[str] = []
    for arm, point, config in design.configs():
        try:
            validate(config, f"{source}: sweep arm {arm!r}, design point {point}")
        except ScenarioError as exc:
            invalid.extend(exc.problems)
        if len(invalid) >= MAX_PROBLEMS:
            invalid.append(f"{source}: … (stopped after {len(invalid)} problems)")
            break
    if invalid:
        raise ScenarioError(list(dict.fromkeys(invalid)))
    return design


def factor_points(sweep: Sweep, base: dict[str, Any], seed: int) -> pd.DataFrame:
    """One row per design point with the value of every factor (no factors: one empty point)."""
    keys = list(sweep.factors)
    if not keys:
        return pd.DataFrame(index=range(1))
    if sweep.design == "grid":
        return pd.DataFrame(list(itertools.product(*sweep.factors.values())), columns=keys)
    unit = _unit_sample(sweep, len(keys), seed)
    ranges = [value for value in sweep.factors.values() if isinstance(value, Range)]
    columns = {}
    for j, (key, rng) in enumerate(zip(keys, ranges, strict=True)):
        values = rng.low + unit[:, j] * (rng.high - rng.low)
        if _is_integer_key(base, key):
            values = np.rint(values).astype(np.int64)
        columns[key] = values
    return pd.DataFrame(columns)


def salib_problem(sweep: Sweep) -> dict[str, Any]:
    """The SALib problem dictionary of a sampled design (factor names and bounds)."""
    names = list(sweep.factors)
    bounds = [[r.low, r.high] for r in sweep.factors.values() if isinstance(r, Range)]
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def _unit_sample(sweep: Sweep, dim: int, seed: int) -> np.ndarray:
    """The design's points in the unit cube, reproducible from the scenario seed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DESIGN_STREAM,)))
    unit_problem = {"num_vars": dim, "names": list(sweep.factors), "bounds": [[0.0, 1.0]] * dim}
    if sweep.design == "lhs":  # scipy.stats takes ~1 s to import: only LHS designs pay for it
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=dim, seed=rng).random(sweep.samples)
    if sweep.design == "sobol":  # the schema has checked that `samples` is a power of two
        from SALib.sample import sobol

        return sobol.sample(unit_problem, sweep.samples, calc_second_order=False, seed=rng)
    from SALib.sample import morris

    return morris.sample(unit_problem, sweep.samples, num_levels=MORRIS_LEVELS, seed=rng)


def _is_integer_key(base: dict[str, Any], key: str) -> bool:
    value = dotted.get(base, key)
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """A numpy scalar (from a design table) as the plain Python value a scenario holds."""
    return value.item() if isinstance(value, np.generic) else value
