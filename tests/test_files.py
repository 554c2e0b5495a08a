"""Run files on disk: atomic files and folders, the git commit and its dirty flag, manifests,
fresh run folder names."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

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
    with staged_dir(final) as staging:
        assert staging.parent == final.parent and staging.name.startswith(".run-1.")
        (staging / "a.txt").write_text("a")
        assert not final.exists()
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


def test_new_run_dir_never_returns_an_existing_path(tmp_path, monkeypatch):
    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    monkeypatch.setattr(files, "datetime", FrozenClock)
    first = new_run_dir(tmp_path, "small")
    assert first == tmp_path / "small-20260102T030405Z" and not first.exists()
    assert new_run_dir(tmp_path, "small") == first  # nothing created yet: the same name
    seen = set()
    for _ in range(4):
        path = new_run_dir(tmp_path, "small")
        assert not path.exists() and path not in seen
        seen.add(path)
        path.mkdir()
    assert sorted(p.name for p in seen) == sorted(
        ["small-20260102T030405Z", *(f"small-20260102T030405Z-{n}" for n in (2, 3, 4))]
    )
