"""End-to-end: `ouroboros run` writes a complete run folder, reproducibly."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.metadata import version

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from simulation import sweep as sweeps
from simulation.cli import app
from tests.conftest import small_scenario

runner = CliRunner()


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario(steps=6).to_dict()))
    return path


def _run(scenario_file, out, *args):
    result = runner.invoke(app, ["run", str(scenario_file), "--out", str(out), "-q", *args])
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return run_dir


def test_run_writes_complete_folder(scenario_file, tmp_path):
    run_dir = _run(scenario_file, tmp_path / "runs", "-r", "2")
    names = {p.name for p in run_dir.iterdir()}
    assert {"scenario.yaml", "manifest.json", "metrics.parquet", "summary.csv"} <= names
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert sorted(metrics["replication"].unique()) == [0, 1]
    assert len(metrics) == 2 * 7  # step 0 plus 6 steps, per replication
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["spawn_keys"] == [[0, 0], [0, 1]]
    assert yaml.safe_load((run_dir / "scenario.yaml").read_text())["replications"] == 2
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == 2
    final = metrics[metrics["step"] == 6].set_index("run_id")["topic_hill1"]
    assert summary.set_index("run_id")["final_topic_hill1"].to_dict() == final.to_dict()


def test_same_seed_gives_bit_identical_metrics(scenario_file, tmp_path):
    a = _run(scenario_file, tmp_path / "a")
    b = _run(scenario_file, tmp_path / "b")
    assert (a / "metrics.parquet").read_bytes() == (b / "metrics.parquet").read_bytes()
    c = _run(scenario_file, tmp_path / "c", "--set", "seed=8")
    ma, mc = (pd.read_parquet(d / "metrics.parquet") for d in (a, c))
    assert not ma["topic_hill1"].equals(mc["topic_hill1"])


def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"ouroboros {version('ouroboros')}\n"


def test_manifest_records_the_command_line_and_the_next_command(
    scenario_file, tmp_path, monkeypatch
):
    out = tmp_path / "runs"
    args = ["run", str(scenario_file), "--out", str(out), "-r", "2", "--set", "steps=2"]
    monkeypatch.setattr(sys, "argv", ["ouroboros", *args])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    command = json.loads((run_dir / "manifest.json").read_text())["command"]
    assert command["argv"] == ["ouroboros", *args]
    assert command["cwd"] == os.getcwd()
    assert command["scenario"] == str(scenario_file)
    assert command["set"] == ["steps=2"]
    assert command["overrides"] == ["steps=2", "replications=2"]
    assert command["options"] == {
        "out": str(out),
        "replications": 2,
        "twins": False,
        "force": False,
    }
    assert result.output.splitlines()[-1] == f"next: ouroboros report {run_dir}"
    quiet = runner.invoke(app, [*args, "-q"])
    assert quiet.exit_code == 0 and "next:" not in quiet.output


@contextmanager
def _threads(kind: str = "process", workers: int = 1, scheduler: str | None = None):
    """Sweeps on threads here: worker processes take seconds to start (test_sweep.py has them)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield pool


def test_a_resumed_sweep_records_its_own_command(tmp_path, monkeypatch):
    path = tmp_path / "grid.yaml"
    grid = {"factors": {"web.ai_share": [0.0, 0.5]}}
    path.write_text(yaml.safe_dump(small_scenario(steps=2, sweep=grid).to_dict()))
    monkeypatch.setattr(sweeps, "open_executor", _threads)
    first = ["sweep", str(path), "--out", str(tmp_path / "runs"), "-w", "1", "--set", "seed=9"]
    monkeypatch.setattr(sys, "argv", ["ouroboros", *first])
    result = runner.invoke(app, first)
    assert result.exit_code == 0, result.output
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    assert result.output.splitlines()[-1] == f"next: ouroboros report {sweep_dir}"
    again = ["sweep", "--resume", str(sweep_dir), "-q"]
    monkeypatch.setattr(sys, "argv", ["ouroboros", *again])
    assert runner.invoke(app, again).exit_code == 0
    info = json.loads((sweep_dir / "manifest.json").read_text())
    assert info["command"]["argv"] == ["ouroboros", *first]  # the command that made it
    assert info["command"]["set"] == ["seed=9"] and info["command"]["options"]["workers"] == 1
    assert [s["command"]["argv"][1:3] for s in info["sessions"]] == [
        ["sweep", str(path)],
        ["sweep", "--resume"],
    ]
    assert info["sessions"][1]["command"]["options"]["resume"] == str(sweep_dir)
