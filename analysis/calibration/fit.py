"""The fit: free parameters estimated by the method of simulated moments.

A Latin hypercube of points over the free parameters' ranges (a log scale where a parameter
asks for one) is drawn from the scenario seed's sampler stream, and every point's scenario is
simulated on the same seeds (common random numbers, `simulate.evaluate`). A point's loss is
Σᵢ ((mᵢ − yᵢ) / σᵢ)², with mᵢ target i's simulated mean, yᵢ its measured value and σᵢ a quarter
of its band (the band read as ±2σ). The best point has the least loss; the points within
χ²(0.95, d) of it (d free parameters) form the parameters' 95% confidence set, as a likelihood-
ratio interval would, and its extent in each parameter is that parameter's uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, qmc

from analysis.calibration.simulate import Moments, evaluate
from analysis.calibration.targets import Targets
from simulation import dotted
from simulation.designs import DESIGN_STREAM
from simulation.scenario import MAX_PROBLEMS, Scenario, ScenarioError, validate

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Plan:
    """The points of a fit: `values` (points, free parameters) and each point's scenario."""

    values: np.ndarray
    configs: list[dict[str, Any]]


def plan(scenario: Scenario, targets: Targets, points: int) -> Plan:
    """A Latin hypercube of `points` over the free parameters, every point's scenario
    validated (`ScenarioError` naming the points that are not) before anything runs."""
    rng = np.random.default_rng(np.random.SeedSequence(scenario.seed, spawn_key=(DESIGN_STREAM,)))
    unit = qmc.LatinHypercube(d=len(targets.free), seed=rng).random(points)
    values = np.column_stack(
        [
            free.values(unit[:, j], integer)
            for j, (free, integer) in enumerate(zip(targets.free, targets.integer, strict=True))
        ]
    )
    base = scenario.to_dict()
    configs, problems = [], []
    for point, row in enumerate(values):
        settings = {
            free.key: int(value) if integer else float(value)
            for free, integer, value in zip(targets.free, targets.integer, row, strict=True)
        }
        config = dotted.updated(base, settings)
        try:
            validate(config, f"{targets.source}: fit point {point}")
        except ScenarioError as exc:
            problems.extend(exc.problems)
            if len(problems) >= MAX_PROBLEMS:
                break
        configs.append(config)
    if problems:
        raise ScenarioError(problems[:MAX_PROBLEMS])
    return Plan(values, configs)


@dataclass(frozen=True)
class Fit:
    """A finished fit: its points, their simulated moments and losses (NaN where a target is
    undefined in every replication)."""

    targets: Targets
    plan: Plan
    moments: Moments
    loss: np.ndarray

    @property
    def best(self) -> int:
        """The point of least loss (the first of equals)."""
        return int(np.nanargmin(self.loss))

    @property
    def confidence(self) -> float:
        """The confidence level of the confidence set."""
        return CONFIDENCE

    @property
    def threshold(self) -> float:
        """The largest loss in the confidence set: best + χ²(CONFIDENCE, free parameters)."""
        return float(self.loss[self.best] + chi2.ppf(CONFIDENCE, len(self.targets.free)))

    @property
    def accepted(self) -> np.ndarray:
        """(points,) whether each point is in the confidence set."""
        return np.nan_to_num(self.loss, nan=np.inf) <= self.threshold

    def extent(self, j: int) -> tuple[float, float]:
        """The least and greatest value of free parameter j in the confidence set."""
        values = self.plan.values[self.accepted, j]
        return float(values.min()), float(values.max())

    def table(self) -> pd.DataFrame:
        """Every point: its parameters, each target's simulated mean and SE, loss, accepted."""
        columns: dict[str, Any] = {"point": np.arange(len(self.loss))}
        columns |= {free.key: self.plan.values[:, j] for j, free in enumerate(self.targets.free)}
        for i, target in enumerate(self.targets.targets):
            columns[f"sim_{target.name}"] = self.moments.mean[:, i]
            columns[f"se_{target.name}"] = self.moments.se[:, i]
        return pd.DataFrame(columns | {"loss": self.loss, "accepted": self.accepted})


def losses(targets: Targets, moments: Moments) -> np.ndarray:
    """(points,) Σ over targets of ((simulated − value) / σ)²."""
    value = np.array([t.value for t in targets.targets])
    sigma = np.array([t.sigma for t in targets.targets])
    return np.sum(((moments.mean - value) / sigma) ** 2, axis=1)


def fit(
    targets: Targets,
    design: Plan,
    replications: int,
    workers: int = 1,
    on_run: Callable[[], None] | None = None,
) -> Fit:
    """Simulate every point of the design and weigh it against the targets.

    `ScenarioError` if no point defines every target (a metric NaN at its step in every
    replication of every point), as then there is nothing to fit.
    """
    moments = evaluate(design.configs, targets, replications, workers, on_run)
    loss = losses(targets, moments)
    if np.isnan(loss).all():
        undefined = [
            t.name for i, t in enumerate(targets.targets) if np.isnan(moments.mean[:, i]).all()
        ]
        raise ScenarioError(
            [
                f"{targets.source}: no fit point defines every target; undefined (NaN) at their "
                f"step in every run: {', '.join(undefined)}"
            ]
        )
    return Fit(targets, design, moments, loss)
