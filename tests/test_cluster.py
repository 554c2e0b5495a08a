"""A sweep on a real Dask cluster (a `dask scheduler` and two `dask worker` processes on
loopback) gives the same tables as the local process pool, and records each run's peak memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from simulation import sweep as sweeps
from simulation.cli import app
from simulation.memory import PROCESS_PEAK, SINCE_RUN_START
from tests.conftest import small_scenario

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's `dask` next to its python
WORKERS = 2
START_SECONDS = 60  # a generous bound on the cluster's start on a loaded machine
ORPHAN_SECONDS = 120  # how long a cluster left by a killed test process waits for work
SWEEP = {
    "factors": {"web.ai_share": [0.2, 0.8]},
    "arms": {"plain": {}, "reserve": {"filtering.human_reserve": 0.3}},
}
SIZES = ["--set", "steps=4", "--set", "replications=2"]  # 2 points × 2 arms × 2 = 8 runs


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """One cluster process in a session of its own (its group is killed at teardown)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # workers import `simulation` from here
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "dask"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a cluster process's whole group (with anything it started)."""
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[Path]:
    """A scheduler on a free loopback port (chosen by the OS, written to its scheduler file) and
    two single-threaded workers; yields the scheduler file. Always killed at teardown.

    The processes are only started here (`scheduler_address` waits for them), so that the test
    can run the local pool meanwhile. Should the test process itself be killed, the scheduler
    stops after `ORPHAN_SECONDS` without work and its workers with it.
    """
    file = tmp_path / "scheduler.json"
    common = ["--scheduler-file", str(file), "--no-dashboard", "--host", "127.0.0.1"]
    scheduler = ["scheduler", *common, "--port", "0", "--idle-timeout", f"{ORPHAN_SECONDS}s"]
    worker = ["worker", *common, "--nthreads", "1", "--nworkers", "1", "--no-nanny"]
    worker += ["--death-timeout", f"{ORPHAN_SECONDS}s", "--preload", "simulation.runner"]
    procs = []
    try:
        procs.append(_start(scheduler, tmp_path / "scheduler.log"))
        for n in range(WORKERS):
            procs.append(_start(worker, tmp_path / f"worker-{n}.log"))
        yield file
    finally:
        for proc in procs:
            _stop(proc)


def scheduler_address(file: Path) -> str:
    """The scheduler's address, once both workers are connected to it."""
    from dask.distributed import Client

    with Client(scheduler_file=str(file), timeout=START_SECONDS) as client:
        client.wait_for_workers(WORKERS, timeout=START_SECONDS)
        assert len(client.scheduler_info()["workers"]) == WORKERS
    return json.loads(file.read_text())["address"]


def tasks_per_worker(address: str) -> list[int]:
    """How many tasks (runs) each worker of the cluster has executed."""
    from dask.distributed import Client

    with Client(address, timeout=START_SECONDS) as client:
        counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return sorted(counts.values())


def _sweep(scenario: Path, out: Path, *how: str) -> Path:
    """Run `ouroboros sweep` (the CLI's own code) and return the one sweep folder it made."""
    args = ["sweep", str(scenario), "--out", str(out), *SIZES, *how, "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


def _metrics(folder: Path) -> pd.DataFrame:
    table = pd.read_parquet(folder / "metrics.parquet")
    return table.sort_values(["run_id", "step"]).reset_index(drop=True)


@pytest.mark.slow  # about 10 s of CPU: five fresh Pythons, four of them importing the simulator
def test_a_sweep_on_a_dask_cluster_matches_the_local_pool(tmp_path, dask_cluster):
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario(sweep=SWEEP).to_dict()))
    local = _sweep(scenario, tmp_path / "local", "--workers", "2")
    address = scheduler_address(dask_cluster)
    assert address.startswith("tcp://127.0.0.1:")
    remote = _sweep(scenario, tmp_path / "cluster", "--scheduler", address)
    runs = tasks_per_worker(address)
    assert len(runs) == WORKERS and min(runs) >= 1 and sum(runs) == 8  # both took part

    pd.testing.assert_frame_equal(_metrics(remote), _metrics(local), check_exact=True)
    assert len(_metrics(local)) == 8 * 5  # 8 runs of steps 0…4
    for name in ("metrics.parquet", "distributions.parquet", "summary.csv"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    manifest = json.loads((remote / "manifest.json").read_text())
    assert manifest["sessions"][0]["executor"] == "dask"
    assert manifest["sessions"][0]["scheduler"] == address

    status = pd.read_csv(remote / "status.csv")
    memory_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    assert (status["state"] == "done").all()
    assert status["peak_mib"].between(50, memory_mib).all()  # each measured in its worker
    assert set(status["peak_measure"]) <= {SINCE_RUN_START, PROCESS_PEAK}
    assert manifest["run_peak_mib_max"] == status["peak_mib"].max()


def test_a_resumed_sweep_keeps_the_peak_memory_recorded_before(tmp_path):
    """Runs done before a resume keep their recorded peak; the rerun one gets a new one."""
    scenario = small_scenario(steps=2, sweep=SWEEP)  # 4 runs
    folder, design = sweeps.create(scenario, tmp_path)
    with ThreadPoolExecutor(max_workers=1) as serial:
        sweeps.execute(folder, design, serial)
        before = pd.read_csv(folder / "status.csv").set_index("run_id")
        (folder / "parts" / "run-000002.metrics.parquet").unlink()  # lost: run 2 reruns
        sweeps.execute(folder, design, serial)
    sweeps.assemble(folder, scenario, design, {})
    after = pd.read_csv(folder / "status.csv").set_index("run_id")
    kept = [0, 1, 3]
    pd.testing.assert_frame_equal(after.loc[kept], before.loc[kept], check_exact=True)
    assert after["peak_mib"].notna().all() and after.at[2, "peak_mib"] > 50
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run_peak_mib_max"] == after["peak_mib"].max()
