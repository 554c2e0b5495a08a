"""Read a run folder or a sweep folder into one `Results` object (tables joined to the design)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from simulation.scenario import ScenarioError, validate
from simulation.yaml_input import read_mapping, read_text, shorten

DESIGN_COLUMNS = ("run_id", "arm", "design_point", "replication")
# What seeds a run with the root seed: runs (of any arm) sharing it share their random numbers.
SPAWN_KEY = ["design_point", "replication"]
DISTRIBUTION_COLUMNS = ("run_id", "replication", "step", "source", "topic", "share")
MAX_MANIFEST = 256 << 20  # a manifest lists every run's seeds
QUOTE = "'\""


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


def read_table(path: Path, columns: tuple[str, ...] = (), **csv: Any) -> pd.DataFrame:
    """A Parquet or CSV table with at least `columns` (integer `run_id` if listed), or a
    `ScenarioError` with one line naming the file and what is wrong with it."""
    kind = "Parquet" if path.suffix == ".parquet" else "CSV"
    try:
        frame = pd.read_parquet(path) if kind == "Parquet" else pd.read_csv(path, **csv)
    except FileNotFoundError:
        raise ScenarioError([f"{path}: missing"]) from None
    except (OSError, ValueError, TypeError, NotImplementedError, pa.ArrowException) as exc:
        reason = shorten(str(exc).strip().splitlines()[0] if str(exc).strip() else "", 100)
        raise ScenarioError(
            [f"{path}: not a readable {kind} table (damaged or truncated?): {reason.strip(QUOTE)}"]
        ) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScenarioError([f"{path}: not an Ouroboros table, no column {', '.join(missing)}"])
    if "run_id" in columns and not pd.api.types.is_integer_dtype(frame["run_id"]):
        raise ScenarioError([f"{path}: column run_id holds {frame['run_id'].dtype}, not integers"])
    return frame


def read_manifest(path: Path) -> dict[str, Any]:
    """`manifest.json` as a mapping (its `sessions` a list of mappings), or a ScenarioError."""
    try:
        info = json.loads(read_text(path, MAX_MANIFEST, "manifest"))
    except json.JSONDecodeError as exc:
        raise ScenarioError([f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})"]) from None
    except RecursionError:
        raise ScenarioError([f"{path}: not valid JSON (nested too deeply)"]) from None
    sessions = info.get("sessions", []) if isinstance(info, dict) else None
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise ScenarioError([f"{path}: not a manifest (a JSON object with a list of sessions)"])
    return info


def load_results(folder: str | Path) -> Results:
    """Load `folder`; raise `ScenarioError` with one clear line if it is not a finished folder.

    Every file is checked as it is read: a damaged, truncated or foreign table, a manifest that
    is not JSON, a `scenario.yaml` that is not a valid scenario are each one line naming the file.
    """
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
    scenario = read_mapping(folder / "scenario.yaml")
    validate(scenario, str(folder / "scenario.yaml"))
    info = read_manifest(folder / "manifest.json")
    metrics = read_table(folder / "metrics.parquet", ("run_id", "replication", "step"))
    summary = read_table(folder / "summary.csv", ("run_id", "replication"))
    dists_path = folder / "distributions.parquet"
    dists = read_table(dists_path, DISTRIBUTION_COLUMNS) if dists_path.is_file() else None
    if (folder / "design.csv").is_file():
        kind = "sweep"
        runs = read_table(folder / "design.csv", DESIGN_COLUMNS)
        runs = runs[runs["run_id"].isin(summary["run_id"])].reset_index(drop=True)
        status = read_table(
            folder / "status.csv", ("run_id", "state"), dtype={"state": str, "error": str}
        )
        summary = runs.merge(summary.drop(columns=list(runs.columns[1:]), errors="ignore"))
    else:
        kind, status = "run", None
        runs = summary[["run_id", "replication"]].assign(arm=scenario["name"], design_point=0)
        runs = runs[list(DESIGN_COLUMNS)]
        summary = runs.merge(summary.drop(columns="replication"), on="run_id")
    return Results(folder, kind, scenario, info, runs, metrics, summary, dists, status)
