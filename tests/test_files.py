"""Run files on disk: durable atomic files and folders, exclusive folder names, staging
leftovers, part checks, the git commit and its dirty flag, manifests."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from simulation import files
from simulation.files import (
    atomic_write_bytes,
    atomic_write_frame,
    atomic_write_text,
    git_commit,
    manifest,
    new_run_dir,
    staged_dir,
)
from tests.conftest import small_scenario


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_normal_mode(path, mode: int = 0o666) -> None:
    """`path` has the permissions a plain open() or mkdir() would give, not a temporary's."""
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == mode & ~umask


def test_atomic_writes_leave_only_the_file(tmp_path):
    target = tmp_path / "deep" / "out.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    atomic_write_bytes(target, b"again")  # replaces in place
    assert target.read_bytes() == b"again"
    assert listing(target.parent) == ["out.txt"]
    assert_normal_mode(target)  # not mkstemp's 0600


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_atomic_frames_round_trip(tmp_path, suffix):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, float("nan")]})
    path = tmp_path / f"frame{suffix}"
    atomic_write_frame(path, frame)
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    pd.testing.assert_frame_equal(back, frame)
    assert listing(tmp_path) == [path.name]
    assert_normal_mode(path)


def test_a_failed_write_leaves_no_temporary_and_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails inside the staging block
    with pytest.raises(RuntimeError), files._staged_file(tmp_path / "new.txt") as tmp:
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("interrupted")
    assert listing(tmp_path) == ["out.txt"]
    assert target.read_text() == "old"


def test_staged_dir_appears_complete_or_not_at_all(tmp_path):
    final = tmp_path / "runs" / "run-1"
    stage = staged_dir(final)
    with stage as staging:
        assert staging.parent == final.parent and staging.name.startswith(".run-1.")
        (staging / "a.txt").write_text("a")
        assert not final.exists()
    assert stage.final == final
    assert listing(final) == ["a.txt"]
    assert listing(final.parent) == ["run-1"]
    assert_normal_mode(final, 0o777)  # not mkdtemp's 0700

    failed = tmp_path / "runs" / "run-2"
    with pytest.raises(KeyboardInterrupt), staged_dir(failed) as staging:
        (staging / "half.txt").write_text("half")
        raise KeyboardInterrupt
    assert not failed.exists()
    assert listing(final.parent) == ["run-1"]


def git(repo, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository of its own in tmp_path, with one commit of a tracked file."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)  # never reach another repository
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")
    (path / "tracked.txt").write_text("one\n")
    git(path, "add", "tracked.txt")
    git(path, "commit", "-q", "-m", "first")
    return path


def test_git_commit_reports_a_clean_tree(repo):
    (repo / "untracked.txt").write_text("not part of the source\n")
    assert git_commit(repo) == {"commit": git(repo, "rev-parse", "HEAD"), "dirty": False}


def test_git_commit_reports_a_modified_tracked_file_as_dirty(repo):
    (repo / "tracked.txt").write_text("two\n")
    info = git_commit(repo)
    assert info == {"commit": git(repo, "rev-parse", "HEAD"), "dirty": True}
    git(repo, "commit", "-q", "-am", "second")
    assert git_commit(repo) == {"commit": git(repo, "rev-parse", "HEAD"), "dirty": False}
    assert git_commit(repo)["commit"] != info["commit"]


def test_git_commit_is_none_outside_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_commit(plain) is None


def test_manifest_records_seeds_hash_and_extras():
    scenario = small_scenario()
    info = manifest(scenario, [[0, 0], [0, 1]], kind="run", wall_seconds=1.5)
    assert info["scenario"] == "small" and info["root_seed"] == 7
    assert info["config_hash"] == scenario.config_hash()
    assert info["spawn_keys"] == [[0, 0], [0, 1]]
    assert info["kind"] == "run" and info["wall_seconds"] == 1.5
    assert set(files.PACKAGES) <= set(info["packages"]) and info["packages"]["numpy"]
    assert datetime.fromisoformat(info["created_utc"]).tzinfo is not None


def test_new_run_dir_is_the_name_and_utc_stamp(tmp_path, monkeypatch):
    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    monkeypatch.setattr(files, "datetime", FrozenClock)
    assert new_run_dir(tmp_path, "small") == tmp_path / "small-20260102T030405Z"


def publish(wanted, text: str):
    stage = staged_dir(wanted)
    with stage as staging:
        (staging / "who.txt").write_text(text)
    return stage.final


def test_a_taken_name_gets_the_next_free_suffix(tmp_path):
    wanted = tmp_path / "small-20260102T030405Z"
    finals = [publish(wanted, str(i)) for i in range(4)]
    assert [p.name for p in finals] == [wanted.name, *(f"{wanted.name}-{n}" for n in (2, 3, 4))]
    assert [(p / "who.txt").read_text() for p in finals] == ["0", "1", "2", "3"]
    (tmp_path / "file-only").write_text("a file, not a folder")
    assert publish(tmp_path / "file-only", "x").name == "file-only-2"
    assert (tmp_path / "file-only").read_text() == "a file, not a folder"
    assert not files.stale_staging(tmp_path) and not list(tmp_path.glob(".*"))


def test_publishing_never_replaces_a_folder_that_appears_meanwhile(tmp_path, monkeypatch):
    """The name is free when looked at, taken when renamed onto: the rename fails, not the run."""
    wanted = tmp_path / "run"
    wanted.mkdir()
    (wanted / "theirs.txt").write_text("theirs")
    monkeypatch.setattr(files.os.path, "lexists", lambda path: False)
    final = publish(wanted, "mine")
    assert final == tmp_path / "run-2" and (final / "who.txt").read_text() == "mine"
    assert (wanted / "theirs.txt").read_text() == "theirs"


def test_two_writers_finishing_together_both_land(tmp_path):
    """Two threads stage the same folder name and publish at the same moment."""
    wanted = tmp_path / "runs" / "small-20260102T030405Z"
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def writer(text: str) -> None:
        stage = staged_dir(wanted)
        with stage as staging:
            (staging / "who.txt").write_text(text)
            barrier.wait(timeout=10)
        results[text] = stage.final

    for _ in range(20):
        threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results["a"] != results["b"]
        assert (results["a"] / "who.txt").read_text() == "a"
        assert (results["b"] / "who.txt").read_text() == "b"
    assert len(list(wanted.parent.iterdir())) == 40


def test_staging_names_carry_the_pid_and_fit_any_name(tmp_path):
    long_name = "é" * 127  # 254 bytes: a legal name, too long with a staging prefix added
    with staged_dir(tmp_path / long_name) as staging:
        assert files.STAGING.match(staging.name)
        assert f".staging-{os.getpid()}-" in staging.name and len(staging.name.encode()) < 200
    with files._staged_file(tmp_path / "x.csv") as tmp:
        assert files.STAGING.match(Path(tmp).name) and str(os.getpid()) in Path(tmp).name


def test_every_file_and_folder_is_flushed_before_and_after_its_rename(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    def rename(src, dst):
        events.append(("rename", str(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    target = tmp_path / "out.txt"
    atomic_write_text(target, "x")
    (staged,) = [path for kind, path in events if kind == "fsync" and ".staging-" in path]
    assert events == [("fsync", staged), ("rename", str(target)), ("fsync", str(tmp_path))]

    events.clear()
    with staged_dir(tmp_path / "run") as staging:
        (staging / "sub").mkdir()
        (staging / "sub" / "a.txt").write_text("a")  # written without the atomic helpers
    flushed = [path for kind, path in events if kind == "fsync"]
    order = [str(staging / "sub" / "a.txt"), str(staging / "sub"), str(staging)]
    assert flushed[:3] == order
    assert events[3:] == [("rename", str(tmp_path / "run")), ("fsync", str(tmp_path))]


def fake_staging(root, name: str, pid: int, folder: bool = True):
    path = root / f".{name}.staging-{pid}-abc123_x"
    if folder:
        path.mkdir()
        (path / "metrics.parquet").write_bytes(b"half")
    else:
        path.write_bytes(b"half")
    return path


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_staging_reports_and_cleans_only_dead_processes_leftovers(tmp_path):
    dead = dead_pid()
    stale_dir = fake_staging(tmp_path, "small-20260102T030405Z", dead)
    stale_file = fake_staging(tmp_path, "status.csv", dead, folder=False)
    live = fake_staging(tmp_path, "small-20260102T030406Z", os.getpid())
    (tmp_path / ".hidden-but-mine").write_text("not staging")
    (tmp_path / "small-20260102T030405Z").mkdir()  # a published folder
    assert files.stale_staging(tmp_path) == sorted([stale_dir, stale_file])
    assert files.clean_stale_staging(tmp_path) == sorted([stale_dir, stale_file])
    assert listing(tmp_path) == sorted([".hidden-but-mine", live.name, "small-20260102T030405Z"])
    assert files.stale_staging(tmp_path) == [] and files.clean_stale_staging(tmp_path) == []
    assert files.stale_staging(tmp_path / "absent") == []
    assert files.stale_staging(tmp_path / ".hidden-but-mine") == []  # a file, not a folder


def test_a_zombie_is_no_live_owner(tmp_path):
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while files.process_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)  # exited, not yet reaped: a zombie
    assert not files.process_alive(proc.pid)
    proc.wait()
    assert (
        files.process_alive(os.getpid()) and files.process_alive(1) and not files.process_alive(0)
    )


def test_parquet_problem_and_set_aside(tmp_path):
    path = tmp_path / "part.parquet"
    atomic_write_frame(path, pd.DataFrame({"a": [1, 2, 3], "b": [0.1, 0.2, 0.3]}))
    assert files.parquet_problem(path, frozenset({"a", "b"}), 3) is None
    assert files.parquet_problem(path, frozenset({"a", "b"})) is None
    assert files.parquet_problem(path, frozenset({"a", "b"}), 4) == "3 rows, expected 4"
    assert files.parquet_problem(path, frozenset({"a"}), 3) == "unexpected columns"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "not a readable Parquet file" in files.parquet_problem(path, frozenset({"a", "b"}))
    moved = files.set_aside(path, tmp_path / "damaged")
    assert moved == tmp_path / "damaged" / "part.parquet" and not path.exists()
    path.write_bytes(b"again")
    again = files.set_aside(path, tmp_path / "damaged")
    assert again.name == "part.parquet.2" and moved.read_bytes() == data[: len(data) // 2]
