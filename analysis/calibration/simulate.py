"""Simulated moments: what every target reads in a scenario's runs, as means over replications.

Runs go through the one run loop (`simulation.runner.simulate`) and stop at the last step a
target reads. Every scenario evaluated (the checked one, or each point of a fit) is simulated
on the same seeds: replication r is run `(design point 0, r)`, so points differ only by their
parameters (common random numbers). Runs may be spread over worker processes; each run's values
are stored by (point, replication), so the result does not depend on the number of workers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.calibration.targets import Targets
from simulation import dotted
from simulation.model import WebEcosystem
from simulation.runner import metric_frame, simulate
from simulation.scenario import Scenario

Reads = tuple[tuple[str, int], ...]  # (metric column, step) of every metric target


@dataclass(frozen=True)
class Moments:
    """Each target's simulated value at each scenario evaluated: `mean` and its standard error
    `se` over replications, shape (scenarios, targets). A scenario-value target's mean is the
    scenario's own value (SE NaN); so is an SE from fewer than two defined replications."""

    mean: np.ndarray
    se: np.ndarray
    replications: int


def run_reads(config: dict[str, Any], replication: int, last_step: int, reads: Reads) -> np.ndarray:
    """One replication of a scenario (plain data) stepped to `last_step`: the value of every
    (metric column, step) in `reads`. Top-level, so process pools can ship it."""
    scenario = Scenario.model_validate(config)

    def stop(model: WebEcosystem) -> None:
        if model.steps >= last_step:
            model.running = False

    frame = metric_frame(simulate(scenario, 0, replication, on_step=stop))
    return np.array([frame[metric].to_numpy()[step] for metric, step in reads], dtype=np.float64)


def evaluate(
    configs: Sequence[dict[str, Any]],
    targets: Targets,
    replications: int,
    workers: int = 1,
    on_run: Callable[[], None] | None = None,
) -> Moments:
    """The `Moments` of every scenario in `configs` (plain data), `replications` runs each, on
    `workers` processes (1: in this process); `on_run()` after every finished run."""
    reads: Reads = tuple(
        (t.metric, step)
        for t, step in zip(targets.targets, targets.steps, strict=True)
        if t.metric is not None
    )
    values = np.empty((len(configs), replications, len(reads)))
    runs = [(point, rep) for point in range(len(configs)) for rep in range(replications)]
    last = targets.last_step
    if workers == 1 or len(runs) == 1:
        for point, rep in runs:
            values[point, rep] = run_reads(configs[point], rep, last, reads)
            if on_run is not None:
                on_run()
    else:
        from simulation.sweep import open_executor  # a process pool whose workers die with us

        with open_executor("process", min(workers, len(runs))) as pool:
            futures = {
                pool.submit(run_reads, configs[point], rep, last, reads): (point, rep)
                for point, rep in runs
            }
            try:
                for future in as_completed(futures):
                    values[futures[future]] = future.result()
                    if on_run is not None:
                        on_run()
            except BaseException:  # Ctrl+C or a failed run: start no more runs
                for future in futures:
                    future.cancel()
                raise
    return moments(configs, targets, values)


def moments(configs: Sequence[dict[str, Any]], targets: Targets, values: np.ndarray) -> Moments:
    """Means and standard errors over the replications that define a metric (NaN if none),
    with the scenario values of the scenario-value targets."""
    n_points, replications, _ = values.shape
    defined = np.sum(~np.isnan(values), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN metric stays NaN
        means = np.nanmean(values, axis=1)
        sd = np.nanstd(values, axis=1, ddof=1)
    se = np.where(defined > 1, sd / np.sqrt(np.maximum(defined, 1)), np.nan)
    mean = np.full((n_points, len(targets.targets)), np.nan)
    error = np.full_like(mean, np.nan)
    column = 0
    for i, target in enumerate(targets.targets):
        if target.metric is not None:
            mean[:, i], error[:, i] = means[:, column], se[:, column]
            column += 1
        else:
            mean[:, i] = [float(dotted.get(config, target.key)) for config in configs]
    return Moments(mean, error, replications)
