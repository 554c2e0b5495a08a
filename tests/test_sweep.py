"""Sweeps: seeds independent of workers and executor, CRN, failure isolation, resume, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from simulation import sweep as sweeps
from simulation.cli import app
from tests.conftest import small_scenario

ROOT = Path(__file__).resolve().parent.parent
SWEEP = {
    "factors": {"web.ai_share": [0.2, 0.8]},
    "arms": {"plain": {}, "reserve": {"filtering.human_reserve": 0.3}},
}


def _sweep_scenario(**sections):
    return small_scenario(**{"steps": 4, "replications": 2, "sweep": SWEEP, **sections})


_REFERENCES: dict[str, Path] = {}


def _reference(tmp_path_factory, scenario=None) -> Path:
    """The folder of `scenario`'s sweep (default `_sweep_scenario()`) run serially in this
    process: what any other way of running it must reproduce byte for byte. Made once per test
    process and scenario, then only read (tests must not write into it)."""
    scenario = scenario or _sweep_scenario()
    key = scenario.config_hash()
    if key not in _REFERENCES:
        with ThreadPoolExecutor(max_workers=1) as serial:
            _REFERENCES[key] = _run(tmp_path_factory.mktemp("reference"), serial, scenario)
    return _REFERENCES[key]


def _run(tmp: Path, executor, scenario=None) -> Path:
    scenario = scenario or _sweep_scenario()
    folder, design = sweeps.create(scenario, tmp)
    status = sweeps.execute(folder, design, executor)
    sweeps.assemble(folder, scenario, design, {"executor": "test"})
    assert (status["state"] == "done").all()
    return folder


def _same_results(a: Path, b: Path) -> None:
    for name in ("metrics.parquet", "distributions.parquet", "summary.csv", "design.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_results_do_not_depend_on_workers_or_executor(tmp_path, tmp_path_factory):
    from dask.distributed import Client, LocalCluster

    one = _reference(tmp_path_factory)  # one thread
    with ThreadPoolExecutor(max_workers=3) as threads:
        three = _run(tmp_path / "threads", threads)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        Client(cluster) as client,
    ):
        dask = _run(tmp_path / "dask", client.get_executor(pure=False))
    _same_results(one, three)
    _same_results(one, dask)
    metrics = pd.read_parquet(one / "metrics.parquet")
    assert metrics["run_id"].is_monotonic_increasing and metrics["run_id"].nunique() == 8
    summary = pd.read_csv(one / "summary.csv")
    head = ["run_id", "arm", "design_point", "replication", "web.ai_share"]
    assert list(summary.columns[:5]) == head


def test_a_process_pool_gives_the_same_results(tmp_path, tmp_path_factory):
    with sweeps.open_executor("process", workers=2) as pool:
        two = _run(tmp_path / "pool", pool)
    _same_results(_reference(tmp_path_factory), two)


def test_arms_share_random_numbers(tmp_path):
    """Two arms with identical settings give identical runs: the arm is not in the seed."""
    scenario = _sweep_scenario(
        replications=2, sweep={"arms": {"a": {}, "b": {"filtering.human_reserve": 0.0}}}
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        folder = _run(tmp_path, pool, scenario)
    metrics = pd.read_parquet(folder / "metrics.parquet").set_index(["run_id", "step"])
    arm_a, arm_b = metrics.loc[[0, 1]], metrics.loc[[2, 3]]
    np.testing.assert_array_equal(arm_a.to_numpy(), arm_b.to_numpy())
    assert not arm_a.loc[0].equals(arm_a.loc[1])  # replications differ


def test_a_failing_run_is_recorded_and_the_rest_finish(tmp_path, tmp_path_factory, monkeypatch):
    real = sweeps.run_one

    def flaky(config, run_id, *args, **kwargs):
        assert kwargs == {"threads": 1}  # a sweep's worker is busy with one run: one thread
        if run_id == 5:
            raise ValueError("boom\nsecond line")
        return real(config, run_id, *args, **kwargs)

    scenario = _sweep_scenario()
    folder, design = sweeps.create(scenario, tmp_path / "a")
    monkeypatch.setattr(sweeps, "run_one", flaky)
    with ThreadPoolExecutor(max_workers=2) as pool:
        status = sweeps.execute(folder, design, pool)
    sweeps.assemble(folder, scenario, design, {})
    assert status.loc[status["state"] == "failed", "run_id"].tolist() == [5]
    on_disk = pd.read_csv(folder / "status.csv").set_index("run_id")
    assert on_disk.at[5, "error"] == "ValueError: boom second line"
    assert (on_disk.drop(5)["state"] == "done").all()
    assert 5 not in set(pd.read_csv(folder / "summary.csv")["run_id"])

    monkeypatch.setattr(sweeps, "run_one", real)
    done = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        sweeps.execute(folder, design, pool, on_finished=lambda rid, state: done.append(rid))
    sweeps.assemble(folder, scenario, design, {})
    assert done == [5]  # resume reruns only the failed run
    _same_results(folder, _reference(tmp_path_factory))


def test_resume_after_kill_matches_an_uninterrupted_sweep(tmp_path, tmp_path_factory):
    """The real entry point (`python -m simulation.cli`) in a fresh process, killed with its
    workers once two runs are recorded, then resumed."""
    scenario = _sweep_scenario()
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(scenario.to_dict()))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "simulation.cli", "sweep", str(path), "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--workers", "1", "-q"], cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("*/parts/*.metrics.parquet"))) < 2:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (folder,) = out.iterdir()
    status = pd.read_csv(folder / "status.csv")
    finished = set(status.loc[status["state"] == "done", "run_id"])
    assert 1 <= len(finished) < 8 and not (folder / "metrics.parquet").exists()

    result = CliRunner().invoke(app, ["sweep", "--resume", str(folder), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    parts = {int(p.name[4:10]) for p in (folder / "parts").glob("*.metrics.parquet")}
    assert parts == set(range(8))
    _same_results(folder, _reference(tmp_path_factory, scenario))


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    runner = CliRunner()
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(small_scenario().to_dict()))
    result = runner.invoke(app, ["sweep", str(plain), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no `sweep:` section" in result.output
    assert not (tmp_path / "o").exists()
    result = runner.invoke(app, ["sweep", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "not a sweep folder" in result.output
    result = runner.invoke(app, ["sweep"])
    assert result.exit_code == 2 and "--resume DIR" in result.output

    good = tmp_path / "sweep.yaml"
    good.write_text(yaml.safe_dump(_sweep_scenario().to_dict()))
    folder, _ = sweeps.create(_sweep_scenario(), tmp_path / "s")
    args = ["sweep", str(good), "--resume", str(folder), "--set", "steps=5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "differs from the one this sweep ran" in result.output


def test_cli_sweep_with_a_dask_local_cluster(tmp_path, tmp_path_factory):
    """The CLI's own `LocalCluster` (worker processes); one worker: each costs a fresh Python
    start, and results not depending on the number of Dask workers is tested above."""
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(_sweep_scenario().to_dict()))
    args = ["sweep", str(path), "--out", str(tmp_path), "--executor", "dask", "-w", "1", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("small-")]
    _same_results(folder, _reference(tmp_path_factory))
