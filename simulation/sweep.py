"""Sweeps: run a design on a `concurrent.futures.Executor`, keep finished runs, resume, assemble.

Each finished run is written at once, atomically, as
`parts/run-NNNNNN.{metrics,distributions}.parquet` by the coordinating process (so remote Dask
workers need no shared disk), and `status.csv` is rewritten atomically after it. A run is done
exactly when its metrics part exists, so a killed sweep loses at most the runs in flight. The
folder-level tables are assembled from the parts in `run_id` order, which makes them
bit-identical whatever the completion order, worker count or executor.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from simulation.designs import Design, build
from simulation.files import (
    atomic_write_frame,
    atomic_write_text,
    manifest,
    new_run_dir,
    staged_dir,
)
from simulation.memory import keep_freed_memory
from simulation.runner import RunOutput, run_one, summarize
from simulation.scenario import Scenario, ScenarioError, dump_yaml, load

ExecutorKind = Literal["process", "dask"]
PENDING, DONE, FAILED = "pending", "done", "failed"
OnFinished = Callable[[int, str], None]


def part_path(sweep_dir: Path, run_id: int, table: str) -> Path:
    """Where one run's `metrics` or `distributions` part lives."""
    return sweep_dir / "parts" / f"run-{run_id:06d}.{table}.parquet"


def create(scenario: Scenario, out_root: Path, source: str = "<scenario>") -> tuple[Path, Design]:
    """Validate the whole design, then create the sweep folder (staged, renamed into place)."""
    design = build(scenario, source)
    final_dir = new_run_dir(Path(out_root), scenario.name)
    with staged_dir(final_dir) as staging:
        table = design.table
        atomic_write_text(staging / "scenario.yaml", dump_yaml(scenario))
        atomic_write_frame(staging / "design.csv", table)
        status = pd.DataFrame({"run_id": table["run_id"], "state": PENDING, "error": ""})
        atomic_write_frame(staging / "status.csv", status.assign(seconds=float("nan")))
        _write_manifest(staging, scenario, design, state="running", sessions=[])
    return final_dir, design


def reopen(sweep_dir: Path, scenario: Scenario | None = None) -> tuple[Scenario, Design]:
    """Reload a sweep folder for `--resume`; `scenario`, if given, must be the one it ran."""
    sweep_dir = Path(sweep_dir)
    for name in ("scenario.yaml", "manifest.json", "status.csv"):
        if not (sweep_dir / name).is_file():
            raise ScenarioError([f"{sweep_dir}: not a sweep folder (no {name})"])
    stored = load(sweep_dir / "scenario.yaml")
    recorded = json.loads((sweep_dir / "manifest.json").read_text())["config_hash"]
    if stored.config_hash() != recorded:
        raise ScenarioError(
            [
                f"{sweep_dir}/scenario.yaml: changed since the sweep started (config hash "
                f"{stored.config_hash()}, manifest records {recorded})"
            ]
        )
    if scenario is not None and scenario.config_hash() != recorded:
        raise ScenarioError(
            [
                f"--resume {sweep_dir}: the given scenario differs from the one this sweep ran "
                f"(config hash {scenario.config_hash()} vs {recorded}); pass the same file and "
                "--set options, or only --resume DIR"
            ]
        )
    return stored, build(stored, str(sweep_dir / "scenario.yaml"))


def read_status(sweep_dir: Path, design: Design) -> pd.DataFrame:
    """Status of every run, reconciled with the parts on disk (a part is the proof of done)."""
    status = pd.read_csv(sweep_dir / "status.csv", dtype={"state": str, "error": str})
    status = status.set_index("run_id").reindex(design.table["run_id"])
    has_part = np.array([part_path(sweep_dir, rid, "metrics").is_file() for rid in status.index])
    failed = (status["state"] == FAILED).to_numpy()
    status["state"] = np.where(has_part, DONE, np.where(failed, FAILED, PENDING))
    status["error"] = status["error"].fillna("")
    return status.reset_index()


@contextmanager
def open_executor(
    kind: ExecutorKind = "process", workers: int = 1, scheduler: str | None = None
) -> Iterator[Executor]:
    """A process pool, a Dask `LocalCluster`, or a client of an existing Dask scheduler."""
    if scheduler is None and kind == "process":
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=keep_freed_memory
        ) as pool:
            yield pool
        return
    from dask.distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client.get_executor(pure=False)
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client.get_executor(pure=False)


def execute(
    sweep_dir: Path,
    design: Design,
    executor: Executor,
    on_finished: OnFinished | None = None,
) -> pd.DataFrame:
    """Run every run that is not done; persist each as it finishes; return the final status.

    A run that raises is recorded as failed with its error and the others go on. On an
    interrupt (Ctrl-C) the queued runs are cancelled, the status is saved and the interrupt
    propagates: everything finished so far stays on disk for `--resume`.
    """
    status = read_status(sweep_dir, design).set_index("run_id")
    todo = design.table[design.table["run_id"].isin(status.index[status["state"] != DONE])]
    status.loc[todo["run_id"], ["state", "error"]] = [PENDING, ""]
    configs: dict[tuple[str, int], dict[str, Any]] = {}
    futures: dict[Future[RunOutput], int] = {}
    for row in todo.itertuples(index=False):
        key = (row.arm, int(row.design_point))
        config = configs.setdefault(key, design.config(*key))
        run_id, point, rep = int(row.run_id), int(row.design_point), int(row.replication)
        futures[executor.submit(run_one, config, run_id, point, rep)] = run_id
    try:
        for future in as_completed(futures):
            run_id = futures[future]
            _record(sweep_dir, status, run_id, future)
            _save_status(sweep_dir, status)
            if on_finished is not None:
                on_finished(run_id, status.at[run_id, "state"])
    except BaseException:
        for future in futures:
            future.cancel()
        _save_status(sweep_dir, status)
        raise
    return status.reset_index()


def _record(sweep_dir: Path, status: pd.DataFrame, run_id: int, future: Future[RunOutput]) -> None:
    """Persist one finished run (parts first, metrics last) or record why it failed."""
    error = future.exception()
    if isinstance(error, KeyboardInterrupt):
        raise error
    if error is not None:
        message = " ".join(f"{type(error).__name__}: {error}".split())
        status.loc[run_id, ["state", "error"]] = [FAILED, message]
        return
    output = future.result()
    atomic_write_frame(part_path(sweep_dir, run_id, "distributions"), output.distributions)
    atomic_write_frame(part_path(sweep_dir, run_id, "metrics"), output.metrics)
    status.loc[run_id, ["state", "error", "seconds"]] = [DONE, "", round(output.seconds, 3)]


def _save_status(sweep_dir: Path, status: pd.DataFrame) -> None:
    atomic_write_frame(sweep_dir / "status.csv", status.reset_index())


def assemble(
    sweep_dir: Path, scenario: Scenario, design: Design, session: dict[str, Any]
) -> pd.DataFrame:
    """Write metrics.parquet, distributions.parquet, summary.csv and manifest.json from parts."""
    status = read_status(sweep_dir, design)
    done = status.loc[status["state"] == DONE, "run_id"].tolist()
    for name in ("metrics.parquet", "distributions.parquet", "summary.csv"):
        (sweep_dir / name).unlink(missing_ok=True)
    if done:
        metrics = _gather(sweep_dir, done, "metrics")
        atomic_write_frame(
            sweep_dir / "distributions.parquet", _gather(sweep_dir, done, "distributions")
        )
        atomic_write_frame(sweep_dir / "metrics.parquet", metrics)
        summary = summarize(metrics).drop(columns="replication")
        atomic_write_frame(sweep_dir / "summary.csv", design.table.merge(summary, on="run_id"))
    previous = json.loads((sweep_dir / "manifest.json").read_text()).get("sessions", [])
    state = "complete" if len(done) == len(status) else "incomplete"
    _write_manifest(sweep_dir, scenario, design, state=state, sessions=[*previous, session])
    return status


def _gather(sweep_dir: Path, run_ids: list[int], table: str) -> pd.DataFrame:
    frames = [pd.read_parquet(part_path(sweep_dir, rid, table)) for rid in sorted(run_ids)]
    return pd.concat(frames, ignore_index=True)


def _write_manifest(
    folder: Path, scenario: Scenario, design: Design, state: str, sessions: list[dict[str, Any]]
) -> None:
    table = design.table
    keys = table[["design_point", "replication"]].to_numpy().tolist()
    info = manifest(
        scenario,
        keys,
        kind="sweep",
        state=state,
        spawn_key_scheme="(design_point, replication); arms share keys (common random numbers)",
        design=scenario.sweep.design if scenario.sweep else None,
        arms=list(design.arms),
        factors=list(design.points.columns),
        design_points=len(design.points),
        replications=design.replications,
        runs=len(table),
        sessions=sessions,
    )
    atomic_write_text(folder / "manifest.json", json.dumps(info, indent=2, default=str) + "\n")


def session_record(
    kind: ExecutorKind, workers: int, scheduler: str | None, started: float, status: pd.DataFrame
) -> dict[str, Any]:
    """What one `ouroboros sweep` invocation did, for the manifest's `sessions` list."""
    return {
        "executor": "dask" if scheduler else kind,
        "scheduler": scheduler,
        "workers": workers,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "done": int((status["state"] == DONE).sum()),
        "failed": int((status["state"] == FAILED).sum()),
    }
