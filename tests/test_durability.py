"""Faults: SIGKILL at several points, workers outliving their sweep, full and read-only disks.

Whatever happens, an output folder holds complete run folders and nothing else but staging
leftovers that `stale_staging` reports; finished results are never discarded; a killed sweep
leaves no worker behind and resumes to bit-identical tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from simulation import files, runner, sweep_status
from simulation.cli import app
from simulation.runner import ResultsNotSaved, run_scenario
from tests.conftest import small_scenario
from tests.test_sweep import _run, _same_results, _sweep_scenario

ROOT = Path(__file__).resolve().parent.parent
RUN_FILES = ["distributions.parquet", "manifest.json", "metrics.parquet", "scenario.yaml"]
RUN_FILES = sorted([*RUN_FILES, "summary.csv"])

# The CLI in a child process, with test hooks: `OURO_MARKS` gets a file `simulating` when a
# simulation starts and `writing` at every flush; each flush sleeps `OURO_FLUSH_DELAY` seconds;
# `OURO_FROZEN_CLOCK` stops the clock of folder names.
DRIVER = """
import os, sys, time
from datetime import datetime, UTC
from pathlib import Path
from simulation import files, runner
marks = Path(os.environ["OURO_MARKS"])
delay = float(os.environ.get("OURO_FLUSH_DELAY", "0"))
real_fsync, real_simulate = files.fsync_file, runner.simulate
def fsync_file(path):
    (marks / "writing").touch()
    time.sleep(delay)
    real_fsync(path)
def simulate(*args, **kwargs):
    (marks / "simulating").touch()
    return real_simulate(*args, **kwargs)
files.fsync_file, runner.simulate = fsync_file, simulate
if os.environ.get("OURO_FROZEN_CLOCK"):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    files.datetime = Frozen
from simulation.cli import app
app(args=sys.argv[1:], prog_name="ouroboros")
"""


def scenario_file(tmp: Path, scenario) -> Path:
    path = tmp / f"{scenario.name}-{scenario.config_hash()[:8]}.yaml"
    path.write_text(yaml.safe_dump(scenario.to_dict()))
    return path


def start(tmp: Path, args: list[str], delay: float = 0.0, **env: str) -> subprocess.Popen:
    """The CLI in its own session (so that a test can clean up every process it started)."""
    marks = tmp / "marks"
    marks.mkdir(exist_ok=True)
    environ = {**os.environ, "OURO_MARKS": str(marks), "OURO_FLUSH_DELAY": str(delay), **env}
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args, "-q"],
        cwd=ROOT,
        env=environ,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL whatever is left of a process's session (the test's own clean-up)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def assert_complete_run_folder(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == RUN_FILES, folder
    metrics = pd.read_parquet(folder / "metrics.parquet")
    assert len(metrics) and len(pd.read_parquet(folder / "distributions.parquet"))
    assert len(pd.read_csv(folder / "summary.csv")) == metrics["run_id"].nunique()
    assert json.loads((folder / "manifest.json").read_text())["kind"] == "run"
    assert yaml.safe_load((folder / "scenario.yaml").read_text())["name"]


def assert_nothing_half_written(out: Path) -> list[Path]:
    """`out` holds complete run folders and stale staging leftovers only; returns the former."""
    if not out.exists():
        return []
    stale = set(files.stale_staging(out))
    complete = []
    for entry in out.iterdir():
        if files.STAGING.match(entry.name):
            assert entry in stale, f"{entry} is staging but not reported as stale"
        else:
            assert_complete_run_folder(entry)
            complete.append(entry)
    assert files.clean_stale_staging(out) == sorted(stale)
    assert sorted(out.iterdir()) == sorted(complete)
    return complete


FLUSH = 0.15  # seconds per flush: a run folder has 5 files, each flushed twice (~1.5 s)


@pytest.mark.parametrize(
    "mark, after",
    [
        ("simulating", 0.02),  # in the middle of the simulation
        ("writing", 0.05),  # flushing the first staged file
        ("writing", 3.5 * FLUSH),  # among the staged files
        ("writing", 6.5 * FLUSH),  # flushing the staged folder before its rename
        ("writing", 9.5 * FLUSH),  # the last flush before the rename
        ("exit", 0.0),  # not killed: one complete folder
    ],
)
def test_a_killed_run_leaves_complete_folders_or_stale_leftovers(tmp_path, mark, after):
    path = scenario_file(tmp_path, small_scenario(steps=2, replications=2))
    out = tmp_path / "out"
    proc = start(tmp_path, ["run", str(path), "--out", str(out)], delay=FLUSH)
    try:
        if mark == "exit":
            assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
        else:
            wait_for(lambda: (tmp_path / "marks" / mark).exists() or proc.poll() is not None)
            assert proc.poll() is None, "finished before the kill"
            time.sleep(after)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            leftovers = files.stale_staging(out)
            assert leftovers if mark == "writing" else not leftovers  # the kill hit the writer
    finally:
        kill_session(proc)
    complete = assert_nothing_half_written(out)
    assert len(complete) == (1 if mark == "exit" else 0)


def test_two_runs_finishing_in_the_same_second_both_land(tmp_path):
    path = scenario_file(tmp_path, small_scenario(steps=2))
    out = tmp_path / "out"
    args = ["run", str(path), "--out", str(out)]
    procs = [start(tmp_path, args, OURO_FROZEN_CLOCK="1") for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    folders = assert_nothing_half_written(out)
    assert sorted(p.name for p in folders) == ["small-20260102T030405Z", "small-20260102T030405Z-2"]
    first, second = (pd.read_parquet(p / "metrics.parquet") for p in folders)
    pd.testing.assert_frame_equal(first, second)


def children(pid: int) -> dict[int, str]:
    """Processes whose parent is `pid` (from /proc), with their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry)] = cmdline.decode(errors="replace")
    return found


def gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def kill_sweep_and_watch_workers(tmp_path: Path, executor: str) -> Path:
    """SIGKILL a sweep's own process mid-run (not its workers); its workers must exit soon."""
    path = scenario_file(tmp_path, _sweep_scenario(steps=6))
    out = tmp_path / "killed"
    args = ["sweep", str(path), "--out", str(out), "-w", "2", "--executor", executor]
    proc = start(tmp_path, args)
    try:
        wait_for(lambda: len(list(out.glob("*/parts/*.metrics.parquet"))) >= 1, 120)
        workers = children(proc.pid)
        assert sum("spawn_main" in cmd for cmd in workers.values()) >= 2, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = {pid: cmd[:80] for pid, cmd in workers.items() if not gone(pid)}
        assert not alive, f"outlived the killed sweep: {alive}"
    finally:
        kill_session(proc)
        for pid in children(proc.pid):  # pragma: no cover - only if the assertion failed
            os.kill(pid, signal.SIGKILL)
    (folder,) = out.iterdir()
    return folder


def test_process_pool_workers_die_with_a_killed_sweep_which_then_resumes(tmp_path):
    folder = kill_sweep_and_watch_workers(tmp_path, "process")
    assert 1 <= len(list(folder.glob("parts/*.metrics.parquet"))) < 8
    assert not (folder / "metrics.parquet").exists()
    result = CliRunner().invoke(app, ["sweep", "--resume", str(folder), "-w", "2", "-q"])
    assert result.exit_code == 0, result.output
    with ThreadPoolExecutor(max_workers=2) as pool:
        clean = _run(tmp_path / "clean", pool, _sweep_scenario(steps=6))
    _same_results(folder, clean)


@pytest.mark.slow
def test_dask_workers_die_with_a_killed_sweep(tmp_path):
    """distributed's own nanny-less watch: a worker exits when its parent's pipe closes."""
    kill_sweep_and_watch_workers(tmp_path, "dask")


def test_a_sweep_killed_while_writing_resumes_to_identical_tables(tmp_path):
    """Killed at the first flush of a part, then during the assembly, then resumed."""
    scenario = _sweep_scenario(steps=3)
    path = scenario_file(tmp_path, scenario)
    out = tmp_path / "out"
    proc = start(tmp_path, ["sweep", str(path), "--out", str(out), "-w", "1"], delay=0.2)
    try:
        wait_for(lambda: (tmp_path / "marks" / "writing").exists())
        wait_for(lambda: any(out.glob("*/parts/.*.staging-*")))  # a part is being written
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        kill_session(proc)
    (folder,) = out.iterdir()
    assert not list((folder / "parts").glob("*.parquet"))  # no part published yet
    assert files.stale_staging(folder / "parts")
    assert sweep_status.clean_leftovers(folder) and not files.stale_staging(folder / "parts")

    (tmp_path / "marks" / "writing").unlink()
    proc = start(tmp_path, ["sweep", "--resume", str(folder), "-w", "2"], delay=0.05)
    try:
        wait_for(lambda: len(list(folder.glob("parts/*.metrics.parquet"))) == 8, 120)
        wait_for(lambda: any(folder.glob(".metrics.parquet.staging-*")), 60)  # assembling
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        kill_session(proc)
    assert not (folder / "metrics.parquet").exists() and files.stale_staging(folder)

    result = CliRunner().invoke(app, ["sweep", "--resume", str(folder), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    with ThreadPoolExecutor(max_workers=2) as pool:
        clean = _run(tmp_path / "clean", pool, scenario)
    _same_results(folder, clean)


def test_a_run_that_cannot_be_written_is_rescued(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.tempfile, "tempdir", str(tmp_path / "tmp"))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where --out should be a folder")
    scenario = small_scenario(steps=2)
    with pytest.raises(ResultsNotSaved) as caught:
        run_scenario(scenario, not_a_folder)
    (line,) = caught.value.problems
    rescued = caught.value.rescued
    assert rescued.parent == tmp_path / "tmp" / "ouroboros-rescue"
    assert line.startswith(f"--out {not_a_folder}: cannot write the run folder")
    assert line.endswith(f"the results were saved to {rescued} instead")
    assert_complete_run_folder(rescued)
    assert not_a_folder.read_text().startswith("a file")

    monkeypatch.setattr(runner.tempfile, "tempdir", str(not_a_folder))  # the rescue fails too
    with pytest.raises(ResultsNotSaved) as caught:
        run_scenario(scenario, not_a_folder)
    (line,) = caught.value.problems
    assert caught.value.rescued is None and "failed too" in line and "nothing was kept" in line


@pytest.fixture
def small_mount(tmp_path):
    """A 2 MiB tmpfs (root only); skipped where mounting is not allowed."""
    point = tmp_path / "mnt"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(point)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(folder: Path, leave: int = 16 * 1024) -> None:
    """Fill the file system of `folder` but for `leave` bytes."""
    stat = os.statvfs(folder)
    with open(folder / "filler", "ab") as fh:  # a second call keeps the first filling
        fh.write(b"\0" * max(stat.f_bavail * stat.f_frsize - leave, 0))


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_disk_is_refused_before_the_run(small_mount, tmp_path, fault):
    if fault == "full":
        fill(small_mount, leave=0)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    path = scenario_file(tmp_path, small_scenario(steps=2, replications=2))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(small_mount / "runs"), "-q"])
    assert result.exit_code == 2, result.output
    why = "no space left" if fault == "full" else "read-only file system"
    assert why in result.output and "Final metrics" not in result.output  # nothing ran
    assert not (small_mount / "runs").exists()


def test_a_disk_filling_up_during_the_run_gives_one_line_and_a_rescue(
    small_mount, tmp_path, monkeypatch
):
    path = scenario_file(tmp_path, small_scenario(steps=2, replications=2))
    out = small_mount / "runs"
    monkeypatch.setattr(runner.tempfile, "tempdir", str(tmp_path / "tmp"))
    simulate = runner.run_one

    def run_then_fill(*args, **kwargs):  # another process takes the space while this one runs
        done = simulate(*args, **kwargs)
        fill(small_mount, leave=0)
        return done

    monkeypatch.setattr(runner, "run_one", run_then_fill)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "cannot write the run folder" in result.output
    (rescued,) = (tmp_path / "tmp" / "ouroboros-rescue").iterdir()
    assert str(rescued) in result.output.replace("\n", "")
    assert_complete_run_folder(rescued)
    assert not list(out.glob(".*")) if out.exists() else True  # no staging left behind
