"""`ouroboros runs`: the catalogue of run and sweep folders (simulation/catalog.py), on a folder
holding a complete run, a partial and a failed sweep (one nested a level down), a damaged
folder and the staging leftover of a killed process."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulation import catalog, console
from simulation import sweep as sweeps
from simulation.cli import app
from simulation.runner import run_scenario
from tests.conftest import small_scenario

DEAD_PID = 99_999_999  # above Linux's largest pid (2**22): no process has it


def _set_states(sweep_dir: Path, states: list[str]) -> None:
    """Write a status.csv recording `states` for the sweep's runs, as a sweep would."""
    status = pd.read_csv(sweep_dir / "status.csv")
    status["state"] = states
    status.to_csv(sweep_dir / "status.csv", index=False)


def _killed(sweep_dir: Path) -> None:
    """Make the sweep's manifest say a process that is gone created it (as after a kill)."""
    info = json.loads((sweep_dir / "manifest.json").read_text())
    info["command"]["pid"] = DEAD_PID
    (sweep_dir / "manifest.json").write_text(json.dumps(info))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """runs/: a complete run (2 replications), demo/ with a sweep of 4 runs 3 of them done,
    a sweep whose runs all ended (1 failed), a damaged folder, a staging leftover."""
    root = tmp_path_factory.mktemp("runs")
    run_scenario(small_scenario(steps=2, replications=2), out_root=root)
    grid = {"factors": {"web.ai_share": [0.0, 0.5]}}
    partial, _ = sweeps.create(
        small_scenario(name="grid", replications=2, sweep=grid), root / "demo"
    )
    _set_states(partial, ["done", "done", "pending", "done"])
    failed, _ = sweeps.create(small_scenario(name="failing", replications=2, sweep=grid), root)
    _set_states(failed, ["done", "failed", "done", "done"])
    _killed(partial)
    _killed(failed)
    damaged = root / "broken-20260101T000000Z"
    damaged.mkdir()
    (damaged / "scenario.yaml").write_text("name: broken\n")
    (damaged / "manifest.json").write_text('{"scenario": "broken", ')
    leftover = root / f".small-20260101T000000Z.staging-{DEAD_PID}-abc123"
    leftover.mkdir()
    (leftover / "metrics.parquet").write_bytes(b"x" * 5000)
    return root


def _by_name(entries: list[catalog.Entry]) -> dict[str, catalog.Entry]:
    """The folders (not the leftovers) by the name before their timestamp."""
    return {e.path.name.split("-2")[0]: e for e in entries if e.kind != "leftover"}


def test_scan_lists_each_folder_with_its_state(root):
    entries = _by_name(catalog.scan(root))
    assert set(entries) == {"small", "grid", "failing", "broken"}
    run = entries["small"]
    assert (run.kind, run.state, run.scenario, run.runs) == ("run", "complete", "small", 2)
    assert run.path.parent == root and run.clean is None and run.size > 0
    grid = entries["grid"]
    assert grid.path.parent == root / "demo"  # nested one level down
    assert (grid.kind, grid.state, grid.runs) == ("sweep", "partial (3 of 4 runs done)", 4)
    assert grid.clean == f"ouroboros sweep --resume {grid.path}"
    failing = entries["failing"]
    assert failing.state == "failed (1 of 4 runs failed)"
    assert failing.clean == f"ouroboros sweep --resume {failing.path}"
    broken = entries["broken"]
    assert broken.kind == "damaged"
    assert broken.state == "damaged: manifest.json is not valid JSON (line 1)"
    (leftover,) = [e for e in catalog.scan(root) if e.kind == "leftover"]
    assert leftover.state == f"left by killed process {DEAD_PID}"
    assert leftover.clean == f"ouroboros runs {root} --clean"
    assert leftover.size >= 5000


def test_manifest_dates_order_the_list(root):
    entries = [e for e in catalog.scan(root) if e.kind in ("run", "sweep")]
    created = [e.created for e in entries]
    assert created == sorted(created)
    (run,) = [e for e in entries if e.kind == "run"]
    stamp = run.path.name.removeprefix("small-")  # when it was made, as its name says
    assert run.created.strftime("%Y%m%dT%H%M%SZ") == stamp
    manifest = json.loads((run.path / "manifest.json").read_text())
    written = datetime.fromisoformat(manifest["created_utc"])
    assert timedelta(0) <= written - run.created <= timedelta(seconds=2)


def test_disk_usage_counts_allocated_blocks(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 3)
    expected = sum(os.lstat(p).st_blocks * 512 for p in (tmp_path / "a", tmp_path / "sub" / "b"))
    assert catalog.disk_usage(tmp_path) == expected >= 10_000


def test_runs_command_prints_the_table_and_the_commands(root, monkeypatch):
    monkeypatch.setattr(console.out, "width", 200)  # one table row per line
    result = CliRunner().invoke(app, ["runs", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("complete" in line and "run" in line and "small" in line for line in lines)
    assert any("partial (3 of 4 runs done)" in line for line in lines)
    assert any("damaged: manifest.json is not valid JSON" in line for line in lines)
    assert any(f"left by killed process {DEAD_PID}" in line for line in lines)
    assert f"clean up: ouroboros runs {root} --clean" in lines
    assert sum(line.startswith("finish: ouroboros sweep --resume") for line in lines) == 2


def test_runs_clean_removes_only_the_leftover(tmp_path):
    (tmp_path / f".x.staging-{DEAD_PID}-q").mkdir()
    live = tmp_path / f".y.staging-{os.getpid()}-q"  # this process is alive: never removed
    live.mkdir()
    result = CliRunner().invoke(app, ["runs", str(tmp_path), "--clean"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    assert "No run or sweep folders in" in result.output


@pytest.mark.parametrize("where", ["nowhere", "a_file"])
def test_runs_of_no_folder_is_one_line_and_exit_2(tmp_path, where):
    (tmp_path / "a_file").write_text("x")
    result = CliRunner().invoke(app, ["runs", str(tmp_path / where)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error:") and where in line


def test_a_sweep_whose_process_is_alive_is_running(tmp_path):
    """A sweep that no session has finished is running while the process that created it
    lives (this one here), and partial, with the command that finishes it, once it is gone."""
    grid = {"factors": {"web.ai_share": [0.0, 0.5]}}
    folder, _ = sweeps.create(small_scenario(name="live", sweep=grid), tmp_path)
    _set_states(folder, ["done", "pending"])
    (entry,) = catalog.scan(tmp_path)
    assert (entry.state, entry.clean) == ("running (1 of 2 runs done)", None)
    _killed(folder)
    (entry,) = catalog.scan(tmp_path)
    assert entry.state == "partial (1 of 2 runs done)" and entry.clean.endswith(str(folder))
