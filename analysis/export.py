"""Export a run or sweep folder for other tools: EMA Workbench's results archive, or plain CSV.

- `ema`: the `(experiments, outcomes)` pair EMA Workbench's own `perform_experiments` returns,
  written with `ema_workbench.save_results` (a .tar.gz that `ema_workbench.load_results` reads):
  one experiment per run, with its factors (named as `simulation.ema` names them:
  `web.ai_share` → `web__ai_share`), `run_id`, `replication`, and EMA's `scenario` (the design
  point), `policy` (the arm) and `model` (the scenario name) columns; one outcome per registry
  metric, an array of shape (runs, steps) in experiment order.
- `csv`: a folder with `metrics.csv` (long: one row per run, step and metric, with the run's
  arm, design point, replication and factors), `summary.csv` (one row per run) and
  `metrics_dictionary.csv` (each metric's label, unit and definition, from the registry).

Only the runs as simulated are exported (counterfactual twins' rows are left out). Output is
written beside its destination and renamed into place: a failed export leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from analysis.load import DESIGN_COLUMNS, Results, load_results
from simulation import registry, runner
from simulation.files import atomic_write_bytes, atomic_write_frame, staged_dir
from simulation.preflight import check_output_root
from simulation.scenario import ScenarioError

FORMATS = ("ema", "csv")


def export(folder: str | Path, fmt: str, out: str | Path) -> Path:
    """Export the run or sweep `folder` as `fmt` ('ema' or 'csv') to the new path `out`.

    Bad input (unknown format, `out` already there or not writable, `folder` not a finished
    run or sweep folder) raises `ScenarioError` with one line, before anything is written.
    """
    out = Path(out)
    if fmt not in FORMATS:
        raise ScenarioError([f"--format {fmt}: unknown format; use one of {', '.join(FORMATS)}"])
    if os.path.lexists(out):
        raise ScenarioError([f"--out {out}: already exists; give a new path"])
    check_output_root(out.parent, out.name, "--out")
    res = load_results(folder)
    if fmt == "ema":
        write_ema(res, out)
    else:
        write_csv(res, out)
    return out


def full_metrics(res: Results) -> pd.DataFrame:
    """The metric rows of the runs as simulated (without counterfactual twins), by run and step."""
    metrics = res.metrics
    if runner.TWIN in metrics.columns:
        metrics = metrics[metrics[runner.TWIN] == runner.FULL].drop(columns=runner.TWIN)
    return metrics.sort_values(["run_id", "step"], kind="stable")


def ema_results(res: Results) -> tuple[pd.DataFrame, dict[str, object]]:
    """The folder as EMA Workbench's `(experiments, outcomes)`: one experiment per run."""
    from simulation.ema import parameter_name

    runs = res.runs.sort_values("run_id", kind="stable").reset_index(drop=True)
    experiments = runs[res.factors].rename(columns=parameter_name)
    experiments["run_id"] = runs["run_id"].to_numpy()
    experiments["replication"] = runs["replication"].to_numpy()
    experiments["scenario"] = runs["design_point"].to_numpy()
    experiments["policy"] = runs["arm"].astype(str).to_numpy()
    experiments["model"] = str(res.scenario["name"])
    metrics = full_metrics(res)
    columns = [c for c in registry.COLUMNS if c in metrics.columns]
    wide = metrics.pivot(index="run_id", columns="step", values=columns)
    outcomes = {name: wide[name].reindex(runs["run_id"]).to_numpy() for name in columns}
    return experiments, outcomes


def write_ema(res: Results, out: Path) -> None:
    """Write EMA Workbench's results archive (tar.gz) of `res` to `out`, atomically."""
    from simulation.ema import ema  # ema_workbench, imported without its start-up warnings

    experiments, outcomes = ema_results(res)
    for name in outcomes:
        ema.ArrayOutcome(name)  # registers how save_results stores each outcome
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as scratch:
        archive = Path(scratch) / "results.tar.gz"
        ema.save_results((experiments, outcomes), str(archive))
        atomic_write_bytes(out, archive.read_bytes())


def write_csv(res: Results, out: Path) -> None:
    """Write metrics.csv (long), summary.csv and metrics_dictionary.csv into the new folder
    `out`, staged and renamed into place."""
    metrics = full_metrics(res)
    columns = [c for c in registry.COLUMNS if c in metrics.columns]
    design = res.runs[[*DESIGN_COLUMNS, *res.factors]]
    long = metrics.melt(
        id_vars=["run_id", "replication", "step"], value_vars=columns, var_name="metric"
    ).merge(design, on=["run_id", "replication"])
    long = long[[*DESIGN_COLUMNS, *res.factors, "step", "metric", "value"]]
    dictionary = pd.DataFrame(
        [
            {"metric": m.name, "label": m.label, "unit": m.unit, "definition": m.definition}
            for m in registry.METRICS
            if m.name in columns
        ]
    )
    stage = staged_dir(out)
    with stage as staging:
        atomic_write_frame(staging / "metrics.csv", long)
        atomic_write_frame(staging / "summary.csv", res.summary)
        atomic_write_frame(staging / "metrics_dictionary.csv", dictionary)
    if stage.final != out:  # another process took the name meanwhile
        raise ScenarioError([f"--out {out}: was created meanwhile; written to {stage.final}"])
