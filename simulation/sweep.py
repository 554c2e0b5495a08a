"""Sweeps: run a design on a `concurrent.futures.Executor`, keep finished runs, resume, assemble.

Each finished run is written at once, atomically and durably, as
`parts/run-NNNNNN.{metrics,distributions}.parquet` by the coordinating process (so remote Dask
workers need no shared disk), and `status.csv` is rewritten atomically after it. A run is done
exactly when both its parts are readable tables of the expected shape, so a killed sweep loses
at most the runs in flight; a damaged part is moved to `parts/damaged/` (never deleted) and its
run rerun, and a damaged `status.csv` is rebuilt from the parts. The folder-level tables are
assembled from the parts in `run_id` order, which makes them bit-identical whatever the
completion order, worker count or executor, and replace the previous ones only once complete.
Pool workers die with the process that started them.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from simulation import files
from simulation.designs import Design, build
from simulation.files import atomic_write_frame, atomic_write_text, manifest, new_run_dir
from simulation.memory import init_worker, peak_measures
from simulation.runner import RunOutput, run_one, summarize
from simulation.scenario import Scenario, ScenarioError, dump_yaml, load
from simulation.sweep_status import (
    DONE,
    FAILED,
    PENDING,
    RECORDED,
    part_path,
    read_status,
    save_status,
)

ExecutorKind = Literal["process", "dask"]
OnFinished = Callable[[int, str], None]


def create(
    scenario: Scenario,
    out_root: Path,
    source: str = "<scenario>",
    design: Design | None = None,
    command: dict[str, Any] | None = None,
) -> tuple[Path, Design]:
    """Validate the whole design (unless `design` is the one `build` made), then create the
    sweep folder (staged, renamed into place); its manifest records `command`
    (`files.command_line`; this process's if None)."""
    design = design if design is not None else build(scenario, source)
    stage = files.staged_dir(new_run_dir(Path(out_root), scenario.name))
    with stage as staging:
        table = design.table
        atomic_write_text(staging / "scenario.yaml", dump_yaml(scenario))
        atomic_write_frame(staging / "design.csv", table)
        status = pd.DataFrame({"run_id": table["run_id"], "state": PENDING, **RECORDED})
        atomic_write_frame(staging / "status.csv", status)
        _write_manifest(staging, scenario, design, "running", [], status, command)
    assert stage.final is not None
    return stage.final, design


def reopen(sweep_dir: Path, scenario: Scenario | None = None) -> tuple[Scenario, Design]:
    """Reload a sweep folder for `--resume`; `scenario`, if given, must be the one it ran.

    Anything that is no sweep folder, or a damaged or missing `manifest.json` or
    `scenario.yaml`, raises a `ScenarioError` naming the file and the way out.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        what = "is not a folder" if os.path.lexists(sweep_dir) else "does not exist"
        raise ScenarioError(
            [f"--resume {sweep_dir}: {what}; give a folder made by ouroboros sweep"]
        )
    marks = ("scenario.yaml", "manifest.json", "status.csv", "design.csv", "parts")
    if not any(os.path.lexists(sweep_dir / name) for name in marks):
        raise ScenarioError([f"{sweep_dir}: not a sweep folder (no {', '.join(marks[:3])})"])
    start_anew = "start a new sweep: ouroboros sweep SCENARIO"
    path = sweep_dir / "scenario.yaml"
    try:
        stored = load(path)
    except (ScenarioError, OSError) as exc:
        why = exc.problems[0] if isinstance(exc, ScenarioError) else exc.strerror
        raise ScenarioError(
            [f"{path}: damaged or missing ({why}); restore it, or {start_anew}"]
        ) from None
    start_anew = f"start a new sweep: ouroboros sweep {path}"
    info = _read_manifest(sweep_dir, start_anew)
    if info.get("kind") != "sweep":
        kind = info.get("kind")
        raise ScenarioError(
            [
                f"{sweep_dir}: not a sweep folder (its manifest.json says kind: {kind}); --resume "
                "takes a folder made by ouroboros sweep"
            ]
        )
    recorded = info["config_hash"]
    if stored.config_hash() != recorded:
        raise ScenarioError(
            [
                f"{path}: changed since the sweep started (config hash "
                f"{stored.config_hash()}, manifest records {recorded}); restore it, or {start_anew}"
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
    return stored, build(stored, str(path))


def _read_manifest(sweep_dir: Path, way_out: str = "start a new sweep") -> dict[str, Any]:
    """A sweep folder's manifest.json; damaged or missing: a `ScenarioError` with `way_out`."""
    path = sweep_dir / "manifest.json"
    try:
        info = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ScenarioError([f"{path}: missing; restore it, or {way_out}"]) from None
    except (OSError, ValueError, RecursionError) as exc:
        why = " ".join(str(exc).split())[:120]
        raise ScenarioError([f"{path}: damaged ({why}); restore it, or {way_out}"]) from None
    if not isinstance(info, dict) or not isinstance(info.get("config_hash"), str):
        raise ScenarioError([f"{path}: damaged (no config_hash); restore it, or {way_out}"])
    return info


@contextmanager
def open_executor(
    kind: ExecutorKind = "process", workers: int = 1, scheduler: str | None = None
) -> Iterator[Executor]:
    """A process pool, a Dask `LocalCluster`, or a client of an existing Dask scheduler."""
    if scheduler is None and kind == "process":
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=init_worker,
            initargs=(os.getpid(),),
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
        futures[executor.submit(run_one, config, run_id, point, rep, threads=1)] = run_id
    try:
        for future in as_completed(futures):
            run_id = futures[future]
            _record(sweep_dir, status, run_id, future)
            save_status(sweep_dir, status)
            if on_finished is not None:
                on_finished(run_id, status.at[run_id, "state"])
    except BaseException:
        for future in futures:
            future.cancel()
        save_status(sweep_dir, status)
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
    record = [DONE, "", round(output.seconds, 3), output.peak_mib, output.peak_measure]
    status.loc[run_id, ["state", *RECORDED]] = record


def assemble(
    sweep_dir: Path, scenario: Scenario, design: Design, session: dict[str, Any]
) -> pd.DataFrame:
    """Write metrics.parquet, distributions.parquet, summary.csv and manifest.json from parts.

    The previous tables stay until complete new ones replace them (each by an atomic rename).
    A part that cannot be read is set aside and its run marked pending, and a `ScenarioError`
    names it: nothing assembled before is lost, and `--resume` reruns the run.
    """
    status = read_status(sweep_dir, design)
    done = status.loc[status["state"] == DONE, "run_id"].tolist()
    if done:
        metrics = _gather(sweep_dir, status, done, "metrics")
        dists = _gather(sweep_dir, status, done, "distributions")
        atomic_write_frame(sweep_dir / "distributions.parquet", dists)
        atomic_write_frame(sweep_dir / "metrics.parquet", metrics)
        summary = summarize(metrics).drop(columns="replication")
        atomic_write_frame(sweep_dir / "summary.csv", design.table.merge(summary, on="run_id"))
    stored = _read_manifest(sweep_dir)
    previous = stored.get("sessions", [])
    previous = previous if isinstance(previous, list) else []
    state = "complete" if len(done) == len(status) else "incomplete"
    command = stored.get("command") or {}  # the command that created the sweep ({}: unknown)
    _write_manifest(sweep_dir, scenario, design, state, [*previous, session], status, command)
    return status


def _gather(sweep_dir: Path, status: pd.DataFrame, run_ids: list[int], table: str) -> pd.DataFrame:
    frames = []
    for run_id in sorted(run_ids):
        path = part_path(sweep_dir, run_id, table)
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:  # whatever stops a part from being read: it is damaged
            moved = files.set_aside(path, path.parent / "damaged")
            status.loc[status["run_id"] == run_id, "state"] = PENDING
            save_status(sweep_dir, status.set_index("run_id"))
            raise ScenarioError(
                [
                    f"{path}: damaged ({type(exc).__name__}); moved to {moved}, the assembled "
                    f"results are unchanged; rerun it: ouroboros sweep --resume {sweep_dir}"
                ]
            ) from exc
    return pd.concat(frames, ignore_index=True)


def _write_manifest(
    folder: Path,
    scenario: Scenario,
    design: Design,
    state: str,
    sessions: list[dict[str, Any]],
    status: pd.DataFrame,
    command: dict[str, Any] | None,
) -> None:
    """The sweep's manifest.json, with the largest peak memory of the runs done in `status`
    and the `command` that created the sweep (each session records its own)."""
    table = design.table
    keys = table[["design_point", "replication"]].to_numpy().tolist()
    info = manifest(
        scenario,
        keys,
        command=command,
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
        **_peak_record(status),
    )
    atomic_write_text(folder / "manifest.json", json.dumps(info, indent=2, default=str) + "\n")


def _peak_record(status: pd.DataFrame) -> dict[str, Any]:
    """The manifest's peak memory: the maximum over the done runs' peaks (MiB) and how they
    were measured (None before any run is done)."""
    peaks = status.loc[status["state"] == DONE, ["peak_mib", "peak_measure"]].dropna()
    if peaks.empty:
        return {"run_peak_mib_max": None, "run_peak_measure": None}
    return {
        "run_peak_mib_max": float(peaks["peak_mib"].max()),
        "run_peak_measure": peak_measures(peaks["peak_measure"]),
    }


def session_record(
    kind: ExecutorKind,
    workers: int,
    scheduler: str | None,
    started: float,
    status: pd.DataFrame,
    command: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What one `ouroboros sweep` invocation did, for the manifest's `sessions` list, with its
    `command` (`files.command_line`; this process's if None): a resumed sweep's own."""
    return {
        "command": files.command_line() if command is None else command,
        "executor": "dask" if scheduler else kind,
        "scheduler": scheduler,
        "workers": workers,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "done": int((status["state"] == DONE).sum()),
        "failed": int((status["state"] == FAILED).sum()),
    }
