"""Running simulations: seeds, the one run loop, run outputs and run folders.

A run is identified by (design_point, replication); its seed is
`SeedSequence(scenario.seed, spawn_key=(design_point, replication))`, so results do not depend
on which worker or executor ran it. `simulate` is the only loop that steps a model: runs,
sweeps, validation and benchmarks all use it. `run_one` is a top-level function of plain data so
that process pools and Dask can ship it. Writing to disk is `simulation.files`' job.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation import registry
from simulation.files import (
    atomic_write_frame,
    atomic_write_text,
    manifest,
    new_run_dir,
    staged_dir,
)
from simulation.model import WebEcosystem
from simulation.scenario import Scenario, ScenarioError, dump_yaml

OnStep = Callable[[WebEcosystem], None]
RESCUE_NAME_BYTES = 100  # a name too long for --out still fits a rescue folder


@dataclass
class RunOutput:
    """What one simulation returns: its metric rows, topic distributions and timing."""

    run_id: int
    replication: int
    metrics: pd.DataFrame
    distributions: pd.DataFrame
    seconds: float


def run_seed(seed: int, design_point: int, replication: int) -> np.random.SeedSequence:
    """The seed of one run: common random numbers across design points for a replication."""
    return np.random.SeedSequence(seed, spawn_key=(design_point, replication))


def simulate(
    scenario: Scenario,
    design_point: int = 0,
    replication: int = 0,
    on_step: OnStep | None = None,
) -> WebEcosystem:
    """Build the model of one run and step it to the end.

    `on_step(model)` is called after construction (step 0) and after every step.
    """
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, design_point, replication))
    if on_step is not None:
        on_step(model)
    while model.running and model.steps < scenario.steps:
        model.step()
        if on_step is not None:
            on_step(model)
    return model


def metric_frame(model: WebEcosystem, run_id: int = 0, replication: int = 0) -> pd.DataFrame:
    """The DataCollector's table: run_id, replication, step, generation, one column per metric."""
    frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    frame.insert(0, "step", np.arange(len(frame), dtype=np.int64))
    frame.insert(0, "replication", replication)
    frame.insert(0, "run_id", run_id)
    frame["generation"] = frame["generation"].astype(np.int64)
    columns = list(registry.COLUMNS)
    frame[columns] = frame[columns].astype(np.float64)
    return frame


def _distribution_rows(model: WebEcosystem, run_id: int, replication: int) -> pd.DataFrame:
    dists = registry.topic_distributions(model)
    n = model.content.n_topics
    return pd.DataFrame(
        {
            "run_id": run_id,
            "replication": replication,
            "step": model.steps,
            "source": np.repeat(list(dists), n),
            "topic": np.tile(np.arange(n), len(dists)),
            "share": np.concatenate(list(dists.values())),
        }
    )


def run_one(
    scenario: dict[str, Any] | Scenario,
    run_id: int = 0,
    design_point: int = 0,
    replication: int = 0,
    on_step: Callable[[], None] | None = None,
) -> RunOutput:
    """Simulate one run to the end and return its metrics (one row per step, step 0 included)."""
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    started = time.perf_counter()
    dists: list[pd.DataFrame] = []

    def record(model: WebEcosystem) -> None:
        if model.steps == 0:
            dists.append(_distribution_rows(model, run_id, replication))
        elif on_step is not None:
            on_step()

    model = simulate(scenario, design_point, replication, on_step=record)
    dists.append(_distribution_rows(model, run_id, replication))
    return RunOutput(
        run_id=run_id,
        replication=replication,
        metrics=metric_frame(model, run_id, replication),
        distributions=pd.concat(dists, ignore_index=True),
        seconds=time.perf_counter() - started,
    )


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run: the final value and the time average (steps ≥ 1) of each summarised metric.

    The final value is the last step's, NaN included (not the last defined value).
    """
    metrics_ = registry.SUMMARISED
    columns = [m.name for m in metrics_]
    ordered = metrics.sort_values(["run_id", "step"])
    groups = ordered.groupby("run_id", sort=True)
    final = groups[columns].nth(-1).set_index(groups["run_id"].nth(-1))
    final.columns = [m.final for m in metrics_]
    later = ordered[ordered["step"] >= 1].groupby("run_id", sort=True)
    mean = later[columns].mean()
    mean.columns = [m.mean for m in metrics_]
    head = groups[["replication"]].first()
    head["steps"] = groups["step"].max()
    return head.join(final).join(mean).reset_index()


def write_run_folder(
    final_dir: Path,
    scenario: Scenario,
    outputs: list[RunOutput],
    extra_manifest: dict[str, Any],
) -> Path:
    """Write a complete run folder into a hidden staging sibling and publish it as `final_dir`
    (or the next free `-2`, `-3`… name if that is taken); returns the folder published."""
    stage = staged_dir(final_dir)
    with stage as staging:
        metrics = pd.concat([o.metrics for o in outputs], ignore_index=True)
        dists = pd.concat([o.distributions for o in outputs], ignore_index=True)
        atomic_write_text(staging / "scenario.yaml", dump_yaml(scenario))
        atomic_write_frame(staging / "metrics.parquet", metrics)
        atomic_write_frame(staging / "distributions.parquet", dists)
        atomic_write_frame(staging / "summary.csv", summarize(metrics))
        keys = [[0, o.replication] for o in outputs]
        info = manifest(
            scenario,
            keys,
            run_seconds={str(o.run_id): round(o.seconds, 3) for o in outputs},
            **extra_manifest,
        )
        atomic_write_text(staging / "manifest.json", json.dumps(info, indent=2) + "\n")
    assert stage.final is not None
    return stage.final


class ResultsNotSaved(ScenarioError):
    """A simulation finished but its run folder could not be written where asked.

    `rescued` is the complete run folder written instead (None if that failed too); the one
    line in `problems` says what failed and where the results are.
    """

    def __init__(self, problems: list[str], rescued: Path | None):
        super().__init__(problems)
        self.rescued = rescued


def rescue_root() -> Path:
    """Where results go when their run folder cannot be written: a folder of the temp dir."""
    return Path(tempfile.gettempdir()) / "ouroboros-rescue"


def _reason(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def save_run(
    out_root: Path, scenario: Scenario, outputs: list[RunOutput], extra: dict[str, Any]
) -> Path:
    """Write the run folder under `out_root`; if that fails (full disk, read-only filesystem,
    a name too long, `out_root` a file…), write the same folder under `rescue_root()` and raise
    `ResultsNotSaved` saying where: finished results are never discarded."""
    try:
        return write_run_folder(
            new_run_dir(Path(out_root), scenario.name), scenario, outputs, extra
        )
    except OSError as exc:
        failed = f"--out {out_root}: cannot write the run folder ({_reason(exc)})"
        short = scenario.name.encode()[:RESCUE_NAME_BYTES].decode(errors="ignore")
        try:
            rescued = write_run_folder(new_run_dir(rescue_root(), short), scenario, outputs, extra)
        except OSError as again:
            raise ResultsNotSaved(
                [
                    f"{failed}; saving the results to {rescue_root()} failed too "
                    f"({_reason(again)}); nothing was kept: free space or fix --out and rerun"
                ],
                None,
            ) from exc
        raise ResultsNotSaved(
            [f"{failed}; the results were saved to {rescued} instead"], rescued
        ) from exc


def run_scenario(
    scenario: Scenario,
    out_root: Path = Path("runs"),
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> Path:
    """Run every replication of a scenario (one process) and write its run folder.

    `progress(total_steps)` may return a callback invoked after every simulated step. Returns
    the run folder written; raises `ResultsNotSaved` (a `ScenarioError`) if it had to be
    written elsewhere (see `save_run`).
    """
    n_rep = scenario.replications
    tick = progress(n_rep * scenario.steps) if progress is not None else None
    started = time.perf_counter()
    outputs = [
        run_one(scenario, run_id=rep, design_point=0, replication=rep, on_step=tick)
        for rep in range(n_rep)
    ]
    elapsed = time.perf_counter() - started
    extra = {"kind": "run", "replications": n_rep, "executor": "serial", "wall_seconds": elapsed}
    return save_run(Path(out_root), scenario, outputs, extra)
