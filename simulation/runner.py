"""Runs: seeding, executing one simulation, and writing run folders atomically.

A run is identified by (design_point, replication); its seed is
`SeedSequence(scenario.seed, spawn_key=(design_point, replication))`, so results do not depend
on which worker or executor ran it. `run_one` is a top-level function of plain data so that
process pools and Dask can ship it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.model import METRIC_COLUMNS, WebEcosystem
from simulation.scenario import Scenario, dump_yaml

PACKAGES = ("ouroboros", "mesa", "numpy", "scipy", "networkx", "pandas", "pyarrow", "pydantic")
SUMMARY_METRICS = (
    "topic_richness",
    "topic_hill1",
    "topic_hill2",
    "word_hill1",
    "tail_mass",
    "tail_survival",
    "js_divergence",
    "hellinger",
    "model_cross_entropy",
    "synthetic_share",
    "train_synthetic_share",
    "human_ai_assist",
    "human_homogenization",
)


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


def _distribution_rows(model: WebEcosystem, run_id: int, replication: int) -> pd.DataFrame:
    dists = model.topic_distributions()
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
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, design_point, replication))
    dists = [_distribution_rows(model, run_id, replication)]
    while model.running and model.steps < scenario.steps:
        model.step()
        if on_step is not None:
            on_step()
    dists.append(_distribution_rows(model, run_id, replication))
    frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    frame.insert(0, "step", np.arange(len(frame), dtype=np.int64))
    frame.insert(0, "replication", replication)
    frame.insert(0, "run_id", run_id)
    frame["generation"] = frame["generation"].astype(np.int64)
    frame[list(METRIC_COLUMNS)] = frame[list(METRIC_COLUMNS)].astype(np.float64)
    return RunOutput(
        run_id=run_id,
        replication=replication,
        metrics=frame,
        distributions=pd.concat(dists, ignore_index=True),
        seconds=time.perf_counter() - started,
    )


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run: the final value and the time average (steps ≥ 1) of each key metric."""
    ordered = metrics.sort_values(["run_id", "step"])
    groups = ordered.groupby("run_id", sort=True)
    final = groups[list(SUMMARY_METRICS)].last().add_prefix("final_")
    later = ordered[ordered["step"] >= 1].groupby("run_id", sort=True)
    mean = later[list(SUMMARY_METRICS)].mean().add_prefix("mean_")
    head = groups[["replication"]].first()
    head["steps"] = groups["step"].max()
    return head.join(final).join(mean).reset_index()


# --- files -------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str | Path, path: Path, mode: int = 0o666) -> None:
    """Give a staged temporary the permissions a normal file would have, and rename it."""
    os.chmod(tmp, mode & ~_umask())
    os.replace(tmp, path)


@contextmanager
def _staged_file(path: Path) -> Iterator[str]:
    """A temporary beside `path`, renamed onto it if the block succeeds, removed if not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staged_dir(final_dir: Path) -> Iterator[Path]:
    """A hidden sibling folder, renamed to `final_dir` if the block succeeds, removed if not:
    a folder appears complete or not at all."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}."))
    try:
        yield staging
        _publish(staging, final_dir, 0o777)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename: never half a file."""
    with _staged_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_frame(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet or CSV (by suffix), atomically."""
    with _staged_file(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def git_commit() -> str | None:
    """The source tree's git commit, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def manifest(scenario: Scenario, spawn_keys: list[list[int]], **extra: Any) -> dict[str, Any]:
    """Provenance of a run folder: versions, commit, seeds, config hash, plus `extra`."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "scenario": scenario.name,
        "config_hash": scenario.config_hash(),
        "root_seed": scenario.seed,
        "spawn_keys": spawn_keys,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def new_run_dir(out_root: Path, name: str) -> Path:
    """A fresh `<out_root>/<name>-<UTC timestamp>` path that does not exist yet."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = out_root / f"{name}-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = out_root / f"{name}-{stamp}-{n}"
    return candidate


def write_run_folder(
    final_dir: Path,
    scenario: Scenario,
    outputs: list[RunOutput],
    extra_manifest: dict[str, Any],
) -> Path:
    """Write a complete run folder into a hidden temporary sibling, then rename it into place."""
    with staged_dir(final_dir) as staging:
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
    return final_dir


def run_scenario(
    scenario: Scenario,
    out_root: Path = Path("runs"),
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> Path:
    """Run every replication of a scenario (one process) and write its run folder.

    `progress(total_steps)` may return a callback invoked after every simulated step.
    """
    n_rep = scenario.replications
    tick = progress(n_rep * scenario.steps) if progress is not None else None
    started = time.perf_counter()
    outputs = [
        run_one(scenario, run_id=rep, design_point=0, replication=rep, on_step=tick)
        for rep in range(n_rep)
    ]
    elapsed = time.perf_counter() - started
    return write_run_folder(
        new_run_dir(Path(out_root), scenario.name),
        scenario,
        outputs,
        {"kind": "run", "replications": n_rep, "executor": "serial", "wall_seconds": elapsed},
    )
