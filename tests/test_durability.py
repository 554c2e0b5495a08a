"""Faults: SIGKILL at several points, workers outliving their sweep, full and read-only disks.

Whatever happens, an output folder holds complete run folders and nothing else but staging
leftovers that `stale_staging` reports; finished results are never discarded; a killed sweep
leaves no worker behind and resumes to bit-identical tables.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from simulation import files, runner, sweep_status
from simulation.cli import app
from simulation.runner import ResultsNotSaved, run_scenario
from tests.conftest import small_scenario
from tests.test_sweep import _reference, _same_results, _sweep_scenario

ROOT = Path(__file__).resolve().parent.parent
RUN_FILES = ["distributions.parquet", "manifest.json", "metrics.parquet", "scenario.yaml"]
RUN_FILES = sorted([*RUN_FILES, "summary.csv"])

# The CLI in child processes forked from a "zygote": one Python process per test module that
# imports the CLI and what a run or a sweep imports once, then forks a child per command (a fresh
# interpreter spends seconds on those imports; a sweep's pool workers are still started fresh, by
# the child, as the product starts them). A child runs in its own session, with test hooks read
# from its environment: `OURO_MARKS` is a folder where the child appends the path of every file
# it flushes to `flushes`; `OURO_HOLD` stops it at one point for good (until the test kills it),
# after writing what it was doing to `held`: `simulating` after the first step of the first
# simulation, `<glob>#<n>` at the n-th flush (fsync) of a file whose name matches <glob>;
# `OURO_FROZEN_CLOCK` stops the clock of folder names.
ZYGOTE = """
import fnmatch, json, os, signal, sys, time, traceback
from datetime import datetime, UTC
from pathlib import Path
from simulation import cli, files, runner, sweep, sweep_status  # what a run or a sweep imports
from simulation.cli import app


def reap(signum, frame):
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def serve():
    signal.signal(signal.SIGCHLD, reap)
    while line := sys.stdin.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            return request
        print(pid, flush=True)
    sys.exit(0)


request = serve()  # from here on: a child
os.setsid()
os.chdir(request["cwd"])
os.environ.clear()
os.environ.update(request["env"])
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)
os.dup2(os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
sys.argv = ["ouroboros", *request["args"]]
marks = Path(os.environ["OURO_MARKS"])
hold = os.environ.get("OURO_HOLD", "")
pattern, _, nth = hold.partition("#")
real_fsync, real_simulate = files.fsync_file, runner.simulate
matched = []


def held(what):
    (marks / ".held").write_text(what)
    (marks / ".held").rename(marks / "held")  # whole, or not yet there
    while True:
        time.sleep(60)


def fsync_file(path):
    with open(marks / "flushes", "a") as log:
        log.write(f"{path}\\n")
    if nth and fnmatch.fnmatch(Path(path).name, pattern):
        matched.append(path)
        if len(matched) == int(nth):
            held(str(path))
    real_fsync(path)


def simulate(scenario, design_point=0, replication=0, on_step=None):
    def step(model):
        if on_step is not None:
            on_step(model)
        if model.steps == 1:
            held(f"simulating: step 1 of {scenario.steps}")

    return real_simulate(scenario, design_point, replication, step)


files.fsync_file = fsync_file
if hold == "simulating":
    runner.simulate = simulate
if os.environ.get("OURO_FROZEN_CLOCK"):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    files.datetime = Frozen
try:
    app(args=request["args"], prog_name="ouroboros")
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
except BaseException:
    traceback.print_exc()
    code = 1
Path(request["status"]).write_text(str(code))
sys.exit(code)
"""


def scenario_file(tmp: Path, scenario) -> Path:
    path = tmp / f"{scenario.name}-{scenario.config_hash()[:8]}.yaml"
    path.write_text(yaml.safe_dump(scenario.to_dict()))
    return path


def gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Child:
    """A CLI child of the zygote, with the part of `subprocess.Popen` the tests use."""

    def __init__(self, pid: int, status: Path, stderr: Path):
        self.pid, self.status, self.stderr = pid, status, stderr

    def poll(self) -> int | None:
        """None while it runs, then its exit status (-9: killed before it could exit)."""
        if not gone(self.pid):
            return None
        return int(self.status.read_text()) if self.status.exists() else -signal.SIGKILL

    def wait(self, timeout: float = 120.0) -> int:
        wait_for(lambda: gone(self.pid), timeout)
        return self.poll()

    def errors(self) -> str:
        return self.stderr.read_text() if self.stderr.exists() else ""


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zygote")
    with open(folder / "stderr", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    proc.log = folder / "stderr"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


_children = itertools.count()


def start(zygote, tmp: Path, args: list[str], **env: str) -> Child:
    """The CLI with `args` in a new child of the zygote, in its own session (so that a test can
    clean up every process it started); `env` adds to this process's environment."""
    marks = tmp / "marks"
    marks.mkdir(exist_ok=True)
    n = next(_children)
    status, stderr = tmp / f"child-{n}.status", tmp / f"child-{n}.stderr"
    request = {
        "args": [*args, "-q"],
        "env": {**os.environ, "OURO_MARKS": str(marks), **env},
        "cwd": str(ROOT),
        "status": str(status),
        "stderr": str(stderr),
    }
    zygote.stdin.write(json.dumps(request) + "\n")
    zygote.stdin.flush()
    pid = zygote.stdout.readline()
    assert pid, f"the zygote died: {zygote.log.read_text()}"
    return Child(int(pid), status, stderr)


def kill_session(proc: Child) -> None:
    """SIGKILL whatever is left of a process's session (the test's own clean-up)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_when_held(proc: Child, marks: Path) -> str:
    """Wait until `proc` holds (see `ZYGOTE`), SIGKILL it there; returns what it was doing."""
    held = marks / "held"
    wait_for(lambda: held.exists() or proc.poll() is not None, 120)
    assert proc.poll() is None, f"finished before the kill: {proc.errors()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    what = held.read_text()
    held.unlink()
    return what


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


@pytest.mark.parametrize(
    "hold",
    [
        pytest.param("simulating", id="simulating"),  # in the middle of the simulation
        pytest.param("*#1", id="flush1"),  # flushing the first staged file
        pytest.param("*#4", id="flush4"),  # among the staged files
        pytest.param("*#7", id="flush7"),  # flushing the staged folder before its rename
        pytest.param("*#10", id="flush10"),  # the last flush before the rename
        pytest.param("", id="exit"),  # not killed: one complete folder
    ],
)
def test_a_killed_run_leaves_complete_folders_or_stale_leftovers(zygote, tmp_path, hold):
    path = scenario_file(tmp_path, small_scenario(steps=2, replications=2))
    out = tmp_path / "out"
    flushes = tmp_path / "marks" / "flushes"
    proc = start(zygote, tmp_path, ["run", str(path), "--out", str(out)], OURO_HOLD=hold)
    try:
        if not hold:
            assert proc.wait() == 0, proc.errors()
            # The flushes the kills aim at: the run folder's 5 files staged one by one, then
            # each again in the staged folder, the last just before its rename.
            flushed = [Path(line) for line in flushes.read_text().splitlines()]
            staged = [bool(files.STAGING.match(p.name)) for p in flushed]
            assert staged == [True] * 5 + [False] * 5, flushed
            assert sorted(p.name for p in flushed[5:]) == RUN_FILES
        else:
            held = kill_when_held(proc, tmp_path / "marks")
            leftovers = files.stale_staging(out)
            if hold == "simulating":
                assert held.startswith("simulating: step 1 of 2"), held
                assert not leftovers and not flushes.exists()
            else:  # the kill hit the writer at the flush aimed at
                held = Path(held)
                assert leftovers == [held.parent], (leftovers, held)  # the staged run folder
                assert bool(files.STAGING.match(held.name)) == (int(hold[2:]) <= 5), held
                assert len(flushes.read_text().splitlines()) == int(hold[2:])
    finally:
        kill_session(proc)
    complete = assert_nothing_half_written(out)
    assert len(complete) == (0 if hold else 1)


def test_two_runs_finishing_in_the_same_second_both_land(zygote, tmp_path):
    path = scenario_file(tmp_path, small_scenario(steps=2))
    out = tmp_path / "out"
    args = ["run", str(path), "--out", str(out)]
    procs = [start(zygote, tmp_path, args, OURO_FROZEN_CLOCK="1") for _ in range(2)]
    for proc in procs:
        assert proc.wait() == 0, proc.errors()
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


def kill_sweep_and_watch_workers(zygote, tmp_path: Path, executor: str) -> Path:
    """SIGKILL a sweep's own process mid-run (not its workers); its workers must exit soon.

    The sweep is held at the flush of the second run's first part: one run recorded, the
    others computed or under way in the workers."""
    path = scenario_file(tmp_path, _sweep_scenario())
    out = tmp_path / "killed"
    args = ["sweep", str(path), "--out", str(out), "-w", "2", "--executor", executor]
    proc = start(zygote, tmp_path, args, OURO_HOLD=".run-*.staging-*#3")
    try:
        wait_for(lambda: (tmp_path / "marks" / "held").exists() or proc.poll() is not None, 120)
        assert proc.poll() is None, f"finished before the kill: {proc.errors()}"
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
    assert Path((tmp_path / "marks" / "held").read_text()).parent == folder / "parts"
    return folder


def test_process_pool_workers_die_with_a_killed_sweep_which_then_resumes(
    zygote, tmp_path, tmp_path_factory
):
    folder = kill_sweep_and_watch_workers(zygote, tmp_path, "process")
    assert len(list(folder.glob("parts/*.metrics.parquet"))) == 1
    assert not (folder / "metrics.parquet").exists()
    result = CliRunner().invoke(app, ["sweep", "--resume", str(folder), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    _same_results(folder, _reference(tmp_path_factory))


@pytest.mark.slow
def test_dask_workers_die_with_a_killed_sweep(zygote, tmp_path):
    """distributed's own nanny-less watch: a worker exits when its parent's pipe closes."""
    kill_sweep_and_watch_workers(zygote, tmp_path, "dask")


def test_a_sweep_killed_while_writing_resumes_to_identical_tables(
    zygote, tmp_path, tmp_path_factory
):
    """Killed at the first flush of a part, then during the assembly, then resumed."""
    path = scenario_file(tmp_path, _sweep_scenario())
    out = tmp_path / "out"
    args = ["sweep", str(path), "--out", str(out), "-w", "1"]
    proc = start(zygote, tmp_path, args, OURO_HOLD=".run-*.staging-*#1")
    try:
        held = Path(kill_when_held(proc, tmp_path / "marks"))
    finally:
        kill_session(proc)
    (folder,) = out.iterdir()
    assert held.parent == folder / "parts"  # a part was being written
    assert not list((folder / "parts").glob("*.parquet"))  # no part published yet
    assert files.stale_staging(folder / "parts") == [held]
    assert sweep_status.clean_leftovers(folder) and not files.stale_staging(folder / "parts")

    args = ["sweep", "--resume", str(folder), "-w", "1"]
    proc = start(zygote, tmp_path, args, OURO_HOLD=".metrics.parquet.staging-*#1")
    try:
        held = Path(kill_when_held(proc, tmp_path / "marks"))
    finally:
        kill_session(proc)
    assert held.parent == folder  # assembling: distributions.parquet done, metrics.parquet not
    assert len(list(folder.glob("parts/*.metrics.parquet"))) == 8
    assert (folder / "distributions.parquet").exists()
    assert not (folder / "metrics.parquet").exists() and files.stale_staging(folder) == [held]

    result = CliRunner().invoke(app, ["sweep", "--resume", str(folder), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    _same_results(folder, _reference(tmp_path_factory))


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
