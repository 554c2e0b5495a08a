"""Run and sweep folders on disk: atomic files and folders, manifests, fresh folder names.

Everything a run writes goes through here, so each file appears complete or not at all: files
are staged beside their destination and renamed into place, folders are staged as hidden
siblings. Manifests record where results came from (versions, git commit, seeds).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.scenario import Scenario

PACKAGES = ("ouroboros", "mesa", "numpy", "scipy", "networkx", "pandas", "pyarrow", "pydantic")
SOURCE_TREE = Path(__file__).resolve().parent.parent


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str | Path, path: Path, mode: int = 0o666) -> None:
    """Give a staged temporary the permissions a normal file would have, and rename it."""
    os.chmod(tmp, mode & ~_umask())
    os.replace(tmp, path)


@contextmanager
def _staged_file(path: Path) -> Iterator[str]:
    """A temporary beside `path`, renamed onto it if the block succeeds, removed if not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staged_dir(final_dir: Path) -> Iterator[Path]:
    """A hidden sibling folder, renamed to `final_dir` if the block succeeds, removed if not:
    a folder appears complete or not at all."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}."))
    try:
        yield staging
        _publish(staging, final_dir, 0o777)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename: never half a file."""
    with _staged_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_frame(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet or CSV (by suffix), atomically."""
    with _staged_file(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def git_commit(tree: Path = SOURCE_TREE) -> dict[str, Any] | None:
    """The git commit of a source tree and whether it has uncommitted changes (None outside git).

    A dirty tree means the results may not be reproducible from the commit alone.
    """

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=tree, capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def manifest(scenario: Scenario, spawn_keys: list[list[int]], **extra: Any) -> dict[str, Any]:
    """Provenance of a run folder: versions, commit, seeds, config hash, plus `extra`."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    git = git_commit()
    return {
        "scenario": scenario.name,
        "config_hash": scenario.config_hash(),
        "root_seed": scenario.seed,
        "spawn_keys": spawn_keys,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": (git or {}).get("commit"),
        "git_dirty": (git or {}).get("dirty"),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def new_run_dir(out_root: Path, name: str) -> Path:
    """A fresh `<out_root>/<name>-<UTC timestamp>` path that does not exist yet."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = out_root / f"{name}-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = out_root / f"{name}-{stamp}-{n}"
    return candidate
