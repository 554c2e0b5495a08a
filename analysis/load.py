"""Read a run folder or a sweep folder into one `Results` object (tables joined to the design)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from simulation.scenario import ScenarioError

DESIGN_COLUMNS = ("run_id", "arm", "design_point", "replication")


@dataclass(frozen=True)
class Results:
    """Everything the analysis needs from one folder; `runs` has one row per finished run."""

    folder: Path
    kind: str  # "run" or "sweep"
    scenario: dict[str, Any]
    manifest: dict[str, Any]
    runs: pd.DataFrame  # run_id, arm, design_point, replication, <factor columns>
    metrics: pd.DataFrame  # run_id, replication, step, generation, <metric columns>
    summary: pd.DataFrame  # runs joined with the per-run summary
    distributions: pd.DataFrame | None  # run_id, replication, step, source, topic, share
    status: pd.DataFrame | None  # sweeps only: run_id, state, error, seconds

    @property
    def factors(self) -> list[str]:
        """The swept scenario keys (empty for a single run)."""
        return [c for c in self.runs.columns if c not in DESIGN_COLUMNS]

    @property
    def arms(self) -> list[str]:
        """Policy arms in design order."""
        return list(dict.fromkeys(self.runs["arm"]))


def load_results(folder: str | Path) -> Results:
    """Load `folder`; raise `ScenarioError` with one clear line if it is not a finished folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError([f"{folder}: no such folder"])
    for name in ("scenario.yaml", "manifest.json"):
        if not (folder / name).is_file():
            raise ScenarioError([f"{folder}: not a run or sweep folder (no {name})"])
    if not (folder / "metrics.parquet").is_file():
        raise ScenarioError(
            [f"{folder}: no metrics.parquet yet (an unfinished sweep? finish it with --resume)"]
        )
    scenario = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    metrics = pd.read_parquet(folder / "metrics.parquet")
    summary = pd.read_csv(folder / "summary.csv")
    dists_path = folder / "distributions.parquet"
    dists = pd.read_parquet(dists_path) if dists_path.is_file() else None
    if (folder / "design.csv").is_file():
        kind = "sweep"
        runs = pd.read_csv(folder / "design.csv")
        runs = runs[runs["run_id"].isin(summary["run_id"])].reset_index(drop=True)
        status = pd.read_csv(folder / "status.csv", dtype={"state": str, "error": str})
        summary = runs.merge(summary.drop(columns=list(runs.columns[1:]), errors="ignore"))
    else:
        kind, status = "run", None
        runs = summary[["run_id", "replication"]].assign(arm=scenario["name"], design_point=0)
        runs = runs[list(DESIGN_COLUMNS)]
        summary = runs.merge(summary.drop(columns="replication"), on="run_id")
    return Results(folder, kind, scenario, info, runs, metrics, summary, dists, status)
