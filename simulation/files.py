"""Run and sweep folders on disk: durable atomic files and folders, manifests, folder names.

Everything a run writes goes through here, so each file appears complete or not at all, and
stays so after a crash of the machine: files are staged beside their destination, flushed to
disk (fsync), renamed into place, and the folder holding them is flushed after the rename.
Folders are staged as hidden siblings, flushed file by file, and renamed into place without
ever replacing an existing folder: a taken name gets the next free `-2`, `-3`… suffix, and the
caller uses the name actually published (`StagedDir.final`). Staging entries are named
`.<name>.staging-<pid>-<random>`, so the leftovers of a killed process can be told apart from
the work of a live one (`stale_staging`, `clean_stale_staging`). Manifests record where results
came from (versions, git commit, seeds).
"""

from __future__ import annotations

import errno
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from simulation.scenario import Scenario

PACKAGES = ("ouroboros", "mesa", "numpy", "scipy", "networkx", "pandas", "pyarrow", "pydantic")
SOURCE_TREE = Path(__file__).resolve().parent.parent
STAGING = re.compile(r"^\..*\.staging-(?P<pid>\d+)-[a-z0-9_]+$")
STAGING_NAME_BYTES = 120  # at most this much of a destination's name goes into a staging name
MAX_SUFFIX = 10_000  # `-2` … `-9999`; more taken names than that is no race but a mistake
TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR)  # os.rename onto an existing entry


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _staging_prefix(name: str) -> str:
    """`.<name>.staging-<pid>-`: hidden, tied to this process, short enough for any name."""
    short = name.encode()[:STAGING_NAME_BYTES].decode(errors="ignore")
    return f".{short}.staging-{os.getpid()}-"


def fsync_file(path: str | Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename, a new file) to disk, where the platform can."""
    if os.name == "nt":  # pragma: no cover - folders cannot be opened there
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems cannot sync a folder; nothing more to do there
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _make_dirs(folder: Path) -> None:
    """`mkdir -p`, flushing the entry of every folder it creates."""
    missing = []
    while not os.path.lexists(folder) and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        fsync_dir(created.parent)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder below `root`, deepest first, `root` last."""
    for folder, _, names in os.walk(root, topdown=False):
        for name in names:
            if not os.path.islink(os.path.join(folder, name)):
                fsync_file(os.path.join(folder, name))
        fsync_dir(folder)


@contextmanager
def _staged_file(path: Path) -> Iterator[str]:
    """A temporary beside `path`, flushed and renamed onto it if the block succeeds, removed if
    not; the folder is flushed after the rename."""
    _make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_staging_prefix(path.name))
    os.close(fd)
    try:
        yield tmp
        fsync_file(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # the permissions a plain open() would give
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def publish_dir(staging: Path, wanted: Path) -> Path:
    """Rename the folder `staging` to `wanted`, or to the first free `wanted-2`, `wanted-3`…:
    never onto an existing entry, even one another process publishes at the same moment
    (`os.rename` fails on a non-empty folder). Returns the path used."""
    for n in range(1, MAX_SUFFIX):
        candidate = wanted if n == 1 else wanted.with_name(f"{wanted.name}-{n}")
        if os.path.lexists(candidate):
            continue
        try:
            os.rename(staging, candidate)
        except OSError as exc:
            if exc.errno in TAKEN:
                continue
            raise
        return candidate
    raise FileExistsError(errno.EEXIST, f"no free name up to suffix -{MAX_SUFFIX - 1}", wanted)


class StagedDir:
    """A hidden sibling folder, published under `final_dir` (or the next free suffix) if the
    block succeeds, removed if not: a folder appears complete or not at all.

        stage = staged_dir(final_dir)
        with stage as staging:
            ...write into staging...
        stage.final  # the folder actually published: use it, not final_dir
    """

    def __init__(self, final_dir: Path):
        self.wanted = Path(final_dir)
        self.staging: Path | None = None
        self.final: Path | None = None

    def __enter__(self) -> Path:
        _make_dirs(self.wanted.parent)
        prefix = _staging_prefix(self.wanted.name)
        self.staging = Path(tempfile.mkdtemp(dir=self.wanted.parent, prefix=prefix))
        return self.staging

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.staging is not None
        if kind is None:
            try:
                _fsync_tree(self.staging)
                os.chmod(self.staging, 0o777 & ~_umask())  # what a plain mkdir() would give
                self.final = publish_dir(self.staging, self.wanted)
            except BaseException:
                shutil.rmtree(self.staging, ignore_errors=True)
                raise
            fsync_dir(self.final.parent)
        else:
            shutil.rmtree(self.staging, ignore_errors=True)


def staged_dir(final_dir: Path) -> StagedDir:
    """A context manager staging a folder for `final_dir`; see `StagedDir`."""
    return StagedDir(final_dir)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a flushed temporary file and a rename: never half a file."""
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


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and is no zombie (killed, not yet reaped)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, OSError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def stale_staging(root: Path) -> list[Path]:
    """Staging files and folders in `root` whose creating process is no longer alive: the
    leftovers of a killed run or sweep (never the work in progress of a live one)."""
    try:
        entries = sorted(Path(root).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for path in entries:
        match = STAGING.match(path.name)
        if match and not process_alive(int(match["pid"])):
            found.append(path)
    return found


def clean_stale_staging(root: Path) -> list[Path]:
    """Remove `stale_staging(root)`; returns what was removed (what cannot be, stays)."""
    removed = []
    for path in stale_staging(root):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with suppress(OSError):
                path.unlink()
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def parquet_problem(path: Path, columns: frozenset[str], rows: int | None = None) -> str | None:
    """Why `path` is not a complete Parquet table with exactly `columns` and `rows` rows (any
    number but zero if None); None if it is. Reads only the file's footer."""
    try:
        meta = pq.read_metadata(path)
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid (a ValueError) and more
        return f"not a readable Parquet file ({type(exc).__name__})"
    if set(meta.schema.names) != columns:
        return "unexpected columns"
    if meta.num_rows == 0 or (rows is not None and meta.num_rows != rows):
        return f"{meta.num_rows} rows, expected {rows or 'some'}"
    return None


def set_aside(path: Path, folder: Path) -> Path:
    """Move a damaged file into `folder` under a name not yet used there; returns where."""
    _make_dirs(folder)
    target, n = folder / path.name, 1
    while os.path.lexists(target):
        n += 1
        target = folder / f"{path.name}.{n}"
    os.rename(path, target)
    fsync_dir(folder)
    fsync_dir(path.parent)
    return target


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


def command_line(**given: Any) -> dict[str, Any]:
    """The command that is writing a folder, for its manifest: `argv` (`sys.argv` as a list),
    the working directory `cwd` it ran in, its process id `pid` (whether a sweep is still
    running), and what it was `given` (`--set` overrides and options, as typed), so that the
    folder says how to make it again."""
    return {"argv": list(sys.argv), "cwd": os.getcwd(), "pid": os.getpid(), **given}


def manifest(
    scenario: Scenario,
    spawn_keys: list[list[int]],
    *,
    command: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Provenance of a run folder: versions, commit, seeds, config hash, the `command` that
    made it (`command_line()`, this process's, if None; `{}` when it is not known, as for a
    folder from before commands were recorded), plus `extra`."""
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
        "command": command_line() if command is None else command,
        **extra,
    }


def new_run_dir(out_root: Path, name: str) -> Path:
    """The wanted `<out_root>/<name>-<UTC timestamp>` of a new run or sweep folder.

    It may be taken: `staged_dir` publishes there or at the first free `-2`, `-3`… sibling.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(out_root) / f"{name}-{stamp}"
