"""Running simulations: seeds, the one run loop, run outputs and run folders.

A run is identified by (design_point, replication); its seed is
`SeedSequence(scenario.seed, spawn_key=(design_point, replication))`, so results do not depend
on which worker or executor ran it. `simulate` is the only loop that steps a model: runs,
sweeps, validation and benchmarks all use it. `run_one` is a top-level function of plain data so
that process pools and Dask can ship it. Writing to disk is `simulation.files`' job.

With `counterfactuals: true` every run also simulates its two twins on the same seed (docs/ODD.md,
"Counterfactuals"): `no_ai` (no model writes a word on the web) and `no_feedback` (models frozen
after their first fit). Their rows carry a `twin` column; `decomposition` splits each outcome's
change caused by AI into dilution and feedback, with intervals over paired replications.
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

from simulation import dotted, registry
from simulation.files import (
    atomic_write_frame,
    atomic_write_text,
    manifest,
    new_run_dir,
    staged_dir,
)
from simulation.memory import peak_measures, peak_memory_mib, reset_peak_memory
from simulation.model import WebEcosystem
from simulation.observation import topic_distributions
from simulation.scenario import Scenario, ScenarioError, dump_yaml
from simulation.threads import using_threads
from simulation.twins import EFFECTS, FULL, TWIN, TWIN_OVERRIDES

OnStep = Callable[[WebEcosystem], None]
RESCUE_NAME_BYTES = 100  # a name too long for --out still fits a rescue folder

CONFIDENCE = 0.95  # of the paired-difference intervals


@dataclass
class RunOutput:
    """What one simulation returns: its metric rows, topic distributions, timing and the peak
    resident memory of its process in MiB, with how that was measured (`simulation.memory`)."""

    run_id: int
    replication: int
    metrics: pd.DataFrame
    distributions: pd.DataFrame
    seconds: float
    peak_mib: float
    peak_measure: str


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


def twin_scenarios(scenario: Scenario) -> dict[str, Scenario]:
    """The scenarios a run simulates: itself (`full`) and, with `counterfactuals` on, its twins.

    Twins are the same scenario with `TWIN_OVERRIDES` set, so they keep its seed and share its
    world, network, population and archive (all drawn before the first step).
    """
    if not scenario.counterfactuals:
        return {FULL: scenario}
    base = scenario.to_dict()
    twins = {
        name: Scenario.model_validate(dotted.updated(base, overrides))
        for name, overrides in TWIN_OVERRIDES.items()
    }
    return {FULL: scenario, **twins}


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
    dists = topic_distributions(model)
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


def _simulate_tables(
    scenario: Scenario,
    run_id: int,
    design_point: int,
    replication: int,
    on_step: Callable[[], None] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One simulation's metric rows and its topic distributions at the first and last step."""
    dists: list[pd.DataFrame] = []

    def record(model: WebEcosystem) -> None:
        if model.steps == 0:
            dists.append(_distribution_rows(model, run_id, replication))
        elif on_step is not None:
            on_step()

    model = simulate(scenario, design_point, replication, on_step=record)
    dists.append(_distribution_rows(model, run_id, replication))
    return metric_frame(model, run_id, replication), pd.concat(dists, ignore_index=True)


def run_one(
    scenario: dict[str, Any] | Scenario,
    run_id: int = 0,
    design_point: int = 0,
    replication: int = 0,
    on_step: Callable[[], None] | None = None,
    threads: int | None = None,
) -> RunOutput:
    """Simulate one run to the end and return its metrics (one row per step, step 0 included).

    With `counterfactuals` on, the run's twins are simulated after it on the same seed, one at
    a time (the peak memory is one model's), and every row gets a `twin` column. `threads`:
    this run's model threads (`simulation.threads`; a sweep's workers, busy already, pass 1).
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.model_validate(scenario)
    reset = reset_peak_memory()
    started = time.perf_counter()
    twins = twin_scenarios(scenario)
    metrics, dists = [], []
    for name, config in twins.items():
        with using_threads(threads):
            frame, dist = _simulate_tables(config, run_id, design_point, replication, on_step)
        if len(twins) > 1:
            frame.insert(2, TWIN, name)
            dist.insert(2, TWIN, name)
        metrics.append(frame)
        dists.append(dist)
    seconds = time.perf_counter() - started
    peak_mib, peak_measure = peak_memory_mib(reset)
    return RunOutput(
        run_id=run_id,
        replication=replication,
        metrics=pd.concat(metrics, ignore_index=True),
        distributions=pd.concat(dists, ignore_index=True),
        seconds=seconds,
        peak_mib=peak_mib,
        peak_measure=peak_measure,
    )


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run: the final value and the time average (steps ≥ 1) of each summarised metric.

    The final value is the last step's, NaN included (not the last defined value). With a
    `twin` column, the row is the full run's, plus its twins' columns prefixed `no_ai_` and
    `no_feedback_`, plus each component of `EFFECTS` of every final value (`ai_effect_final_*`,
    `dilution_final_*`, `feedback_final_*`): paired differences within the run.
    """
    if TWIN not in metrics.columns:
        return _summarize(metrics)
    per_twin = {
        name: _summarize(rows.drop(columns=TWIN)).set_index("run_id")
        for name, rows in metrics.groupby(TWIN, sort=False)
    }
    values = [c for m in registry.SUMMARISED for c in (m.final, m.mean)]
    finals = [m.final for m in registry.SUMMARISED]
    parts = [per_twin[FULL]]
    parts += [per_twin[name][values].add_prefix(f"{name}_") for name in TWIN_OVERRIDES]
    parts += [
        (per_twin[plus][finals] - per_twin[minus][finals]).add_prefix(f"{effect}_")
        for effect, (plus, minus) in EFFECTS.items()
    ]
    return pd.concat(parts, axis=1).copy().reset_index()  # copy: one block, not many


def _twin_column(twin: str, column: str) -> str:
    """The summary column of `column` (e.g. `final_tail_mass`) for one twin."""
    return column if twin == FULL else f"{twin}_{column}"


def has_twins(summary: pd.DataFrame) -> bool:
    """Whether a summary table carries counterfactual twins (folders from before do not)."""
    return all(f"{effect}_{registry.TOPIC_HILL1.final}" in summary for effect in EFFECTS)


def paired_interval(differences: np.ndarray) -> tuple[float, float, float, int]:
    """Mean, low and high of paired differences: mean ± t(0.975, n − 1) · SE, SE = sd / √n.

    NaN differences (a metric undefined in one twin) are left out; with fewer than two the
    bounds are NaN.
    """
    values = np.asarray(differences, dtype=np.float64)
    values = values[~np.isnan(values)]
    n = values.size
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(values.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    from scipy import stats  # here: scipy.stats takes half a second to import

    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


def decomposition(
    summary: pd.DataFrame, by: list[str], metrics: tuple[registry.Metric, ...]
) -> pd.DataFrame:
    """Each metric's final value in every twin and the change caused by AI, split into
    dilution and feedback, per group of runs `by` (none: one group of all runs).

    Long form: the `by` columns, `outcome` (metric name), `full` and `no_ai` (means over the
    group's runs), then per component of `EFFECTS` its mean and `paired_interval` bounds
    (`<effect>`, `<effect>_low`, `<effect>_high`) and `n`, the runs paired.
    """
    rows = []
    groups = summary.groupby(by, sort=False) if by else [((), summary)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            row: dict[str, Any] = dict(zip(by, key, strict=True))
            row["outcome"] = metric.name
            for twin in (FULL, "no_ai"):
                row[twin] = float(group[_twin_column(twin, metric.final)].mean())
            for effect in EFFECTS:
                mean, low, high, n = paired_interval(group[f"{effect}_{metric.final}"].to_numpy())
                row |= {effect: mean, f"{effect}_low": low, f"{effect}_high": high, "n": n}
            rows.append(row)
    return pd.DataFrame(rows)


def _summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """`summarize` of one twin's rows (or of rows without twins)."""
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
            run_peak_mib={str(o.run_id): o.peak_mib for o in outputs},
            run_peak_measure=peak_measures(o.peak_measure for o in outputs),
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
    command: dict[str, Any] | None = None,
) -> Path:
    """Run every replication of a scenario (one process) and write its run folder.

    `progress(total_steps)` may return a callback invoked after every simulated step; `command`
    is the manifest's record of the command line (`files.command_line`; this process's if
    None). Returns the run folder written; raises `ResultsNotSaved` (a `ScenarioError`) if it
    had to be written elsewhere (see `save_run`).
    """
    n_rep = scenario.replications
    twins = list(twin_scenarios(scenario))
    tick = progress(n_rep * scenario.steps * len(twins)) if progress is not None else None
    started = time.perf_counter()
    outputs = [
        run_one(scenario, run_id=rep, design_point=0, replication=rep, on_step=tick)
        for rep in range(n_rep)
    ]
    elapsed = time.perf_counter() - started
    extra = {
        "kind": "run",
        "replications": n_rep,
        "twins": twins,
        "executor": "serial",
        "wall_seconds": elapsed,
        "command": command,
    }
    return save_run(Path(out_root), scenario, outputs, extra)
