"""A sweep folder's bookkeeping: where parts live, which runs are done, status.csv.

A run is done exactly when both its parts are readable tables of the expected shape; a
damaged part is moved to `parts/damaged/` (never deleted) and its run is pending again, and a
damaged or missing `status.csv` is rebuilt from the parts. `simulation.sweep` runs and
assembles; this module only reads and repairs the record of what has run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from simulation import dotted, files, registry
from simulation.designs import Design
from simulation.files import atomic_write_frame
from simulation.twins import TWIN, simulations_per_run

PENDING, DONE, FAILED = "pending", "done", "failed"
TABLES = ("distributions", "metrics")  # the order in which a finished run's parts are written
# status.csv's columns after `state`, and their value before a run is done: its error, and
# its seconds and peak memory (MiB, and how it was measured: simulation.memory).
RECORDED = {"error": "", "seconds": float("nan"), "peak_mib": float("nan"), "peak_measure": ""}
COLUMNS = {
    "metrics": frozenset({"run_id", "replication", "step", "generation", *registry.COLUMNS}),
    "distributions": frozenset({"run_id", "replication", "step", "source", "topic", "share"}),
}


def part_path(sweep_dir: Path, run_id: int, table: str) -> Path:
    """Where one run's `metrics` or `distributions` part lives."""
    return sweep_dir / "parts" / f"run-{run_id:06d}.{table}.parquet"


def read_status(sweep_dir: Path, design: Design, notes: list[str] | None = None) -> pd.DataFrame:
    """Status of every run, reconciled with the parts on disk (valid parts are the proof of done).

    A part that is not a readable table of the expected columns (and, for metrics, steps + 1
    rows) is moved to `parts/damaged/` and its run is pending again; a damaged or missing
    `status.csv` is rebuilt from the parts and rewritten. Each repair appends one line to `notes`.
    """
    notes = notes if notes is not None else []
    sweep_dir = Path(sweep_dir)
    status, problem = _stored_status(sweep_dir, design)
    before = len(notes)
    valid = _valid_parts(sweep_dir, design, notes)
    stored = status["state"].to_numpy()
    lost = status.index[(stored == DONE) & ~valid]
    if problem is None and len(lost) and len(notes) == before:
        notes.append(
            f"{sweep_dir / 'parts'}: {len(lost)} run(s) marked done have no valid part "
            f"(run {lost[0]}{', …' if len(lost) > 1 else ''}); they will be rerun"
        )
    status["state"] = np.where(valid, DONE, np.where(stored == FAILED, FAILED, PENDING))
    if problem is not None:
        save_status(sweep_dir, status)
        notes.append(
            f"{sweep_dir / 'status.csv'}: {problem}; rebuilt from the parts on disk "
            f"({int(valid.sum())} of {len(status)} runs done)"
        )
    return status.reset_index()


def _stored_status(sweep_dir: Path, design: Design) -> tuple[pd.DataFrame, str | None]:
    """status.csv indexed by run_id, or a fresh all-pending one and why status.csv is unusable."""
    ids = design.table["run_id"]
    try:
        frame = pd.read_csv(
            sweep_dir / "status.csv", dtype={"state": str, "error": str, "peak_measure": str}
        )
        problem = _status_problem(frame, ids)
    except FileNotFoundError:
        problem = "missing"
    except (OSError, ValueError) as exc:
        problem = f"damaged ({type(exc).__name__})"
    if problem is None:
        frame = frame.set_index("run_id").reindex(ids)
        for column, empty in RECORDED.items():  # folders from older versions lack some
            frame[column] = frame[column].fillna(empty) if column in frame else empty
        return frame[["state", *RECORDED]], None
    fresh = pd.DataFrame({"run_id": ids, "state": PENDING, **RECORDED})
    return fresh.set_index("run_id"), problem


def _status_problem(frame: pd.DataFrame, ids: pd.Series) -> str | None:
    if not {"run_id", "state"} <= set(frame.columns):
        return f"damaged (columns {', '.join(map(str, frame.columns[:6]))})"
    if frame["run_id"].dtype.kind not in "iu" or set(frame["run_id"]) != set(ids):
        return "damaged (its run ids are not those of design.csv)"
    if frame["run_id"].duplicated().any() or not frame["state"].isin([PENDING, DONE, FAILED]).all():
        return "damaged (duplicate runs or unknown states)"
    return None


def _per_run(design: Design, key: str) -> np.ndarray:
    """A top-level scenario key's value in every run (in run_id order): a factor or its arm's."""
    table = design.table
    if key in design.points.columns:
        return table[key].to_numpy()
    per_arm = {a: dotted.updated(design.base, o)[key] for a, o in design.arms.items()}
    return table["arm"].map(per_arm).to_numpy()


def _valid_parts(sweep_dir: Path, design: Design, notes: list[str]) -> np.ndarray:
    """Per run (in run_id order): whether both parts are complete; damaged ones are set aside.

    A run with counterfactual twins has a `twin` column and one set of rows per twin.
    """
    table = design.table
    steps = _per_run(design, "steps")
    twins = _per_run(design, "counterfactuals")
    try:
        present = {entry.name for entry in os.scandir(sweep_dir / "parts")}
    except (FileNotFoundError, NotADirectoryError):
        present = set()
    valid = np.zeros(len(table), dtype=bool)
    for i, run_id in enumerate(table["run_id"]):
        paths = {t: part_path(sweep_dir, run_id, t) for t in TABLES}
        if not all(p.name in present for p in paths.values()):
            continue
        ok = True
        for t, path in paths.items():
            copies = simulations_per_run(bool(twins[i]))
            rows = (int(steps[i]) + 1) * copies if t == "metrics" else None
            columns = COLUMNS[t] | {TWIN} if twins[i] else COLUMNS[t]
            why = files.parquet_problem(path, columns, rows)
            if why is not None:
                moved = files.set_aside(path, path.parent / "damaged")
                notes.append(f"{path}: {why}; moved to {moved}, run {run_id} will be rerun")
                ok = False
        valid[i] = ok
    return valid


def clean_leftovers(sweep_dir: Path) -> list[Path]:
    """Remove the staging files a killed sweep left in its folder; returns what was removed."""
    return [p for d in (sweep_dir, sweep_dir / "parts") for p in files.clean_stale_staging(d)]


def save_status(sweep_dir: Path, status: pd.DataFrame) -> None:
    """Rewrite status.csv atomically from a status indexed by run_id."""
    atomic_write_frame(sweep_dir / "status.csv", status.reset_index())
