"""The run and sweep folders under a folder, for `ouroboros runs`: what each one is, how far it
got, when it was made, how much disk it takes, and the staging leftovers of killed processes.

Read only: nothing here writes or repairs. A folder whose manifest cannot be read is listed as
damaged with the reason, never raised; only `FileNotFoundError`/`NotADirectoryError` for a
`root` that is no folder reach the caller.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulation import files

RUN, SWEEP, DAMAGED, LEFTOVER = "run", "sweep", "damaged", "leftover"
MARKS = ("manifest.json", "scenario.yaml")  # a folder holding either is a run or sweep folder
MAX_MANIFEST = 64 << 20  # bytes: larger is no manifest `runs` will read
STAMP = re.compile(r"(?<=-)\d{8}T\d{6}Z")  # the UTC timestamp of `files.new_run_dir`


@dataclass(frozen=True)
class Entry:
    """One line of `ouroboros runs`: a run or sweep folder, a damaged one, or a leftover.

    `state` is `complete`, `partial (n of m runs done…)`, `failed (…)`, `damaged: <why>` or,
    for a leftover, `left by killed process <pid>`; `clean` is the command that removes a
    leftover or finishes a partial sweep (None if there is nothing to do).
    """

    path: Path
    kind: str  # RUN, SWEEP, DAMAGED or LEFTOVER
    state: str
    created: datetime | None
    scenario: str | None
    runs: int | None
    size: int  # bytes on disk
    clean: str | None = None


def scan(root: Path) -> list[Entry]:
    """Every run and sweep folder in `root` and in its plain subfolders (`runs/demo/…`), and
    the staging leftovers of killed processes there, oldest first. `root` itself may be a run
    or sweep folder."""
    root = Path(root)
    if not root.is_dir():
        if root.exists():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(root))
        why = "no such folder (give the --out folder of `ouroboros run` or `sweep`; default runs)"
        raise FileNotFoundError(errno.ENOENT, why, str(root))
    if _is_results(root):
        return [describe(root)]
    entries: list[Entry] = []
    for folder in (root, *_plain_subfolders(root)):
        entries += [describe(path) for path in _result_folders(folder)]
        entries += [_leftover(path, root) for path in files.stale_staging(folder)]
    return sorted(entries, key=lambda e: (e.created or datetime.max.replace(tzinfo=UTC), e.path))


def _children(folder: Path) -> list[Path]:
    """Visible subfolders (staging and other hidden entries are not results)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _is_results(folder: Path) -> bool:
    return any(os.path.lexists(folder / mark) for mark in MARKS)


def _result_folders(folder: Path) -> list[Path]:
    return [p for p in _children(folder) if _is_results(p)]


def _plain_subfolders(root: Path) -> list[Path]:
    """Subfolders of `root` that hold no results themselves (a folder of runs, e.g. a demo)."""
    return [p for p in _children(root) if not _is_results(p)]


def describe(folder: Path) -> Entry:
    """The catalogue entry of one run or sweep folder (damaged if its manifest is unreadable)."""
    size = disk_usage(folder)
    try:
        info = _manifest(folder / "manifest.json")
    except (OSError, ValueError, RecursionError) as exc:
        why = "no manifest.json" if isinstance(exc, FileNotFoundError) else _reason(exc)
        return Entry(folder, DAMAGED, f"damaged: {why}", _mtime(folder), None, None, size)
    created = _stamped(folder.name) or _created(info.get("created_utc")) or _mtime(folder)
    scenario = str(info.get("scenario")) if info.get("scenario") is not None else None
    kind = info.get("kind")
    if kind == RUN:
        return _run_entry(folder, info, created, scenario, size)
    if kind == SWEEP:
        return _sweep_entry(folder, info, created, scenario, size)
    return Entry(folder, DAMAGED, f"damaged: manifest kind {kind!r}", created, scenario, None, size)


def _run_entry(
    folder: Path, info: dict[str, Any], created: datetime, scenario: str | None, size: int
) -> Entry:
    """A run folder is published complete (atomically), so it is complete unless a table is
    missing."""
    runs = info.get("replications")
    runs = runs if isinstance(runs, int) else None
    missing = [n for n in ("metrics.parquet", "summary.csv") if not (folder / n).is_file()]
    state = f"damaged: no {missing[0]}" if missing else "complete"
    return Entry(folder, RUN if not missing else DAMAGED, state, created, scenario, runs, size)


def _sweep_entry(
    folder: Path, info: dict[str, Any], created: datetime, scenario: str | None, size: int
) -> Entry:
    """A sweep's state from its `status.csv`: complete, running (its first session is at work),
    partial (with what is left and the command that finishes it) or failed (runs failed and
    none left to run)."""
    runs = info.get("runs") if isinstance(info.get("runs"), int) else None
    resume = f"ouroboros sweep --resume {shlex.quote(str(folder))}"
    try:
        counts = status_counts(folder / "status.csv")
    except (OSError, ValueError) as exc:
        state = f"partial (status.csv unreadable: {_reason(exc)})"
        return Entry(folder, SWEEP, state, created, scenario, runs, size, resume)
    total = sum(counts.values())
    done, failed = counts["done"], counts["failed"]
    if done == total:
        return Entry(folder, SWEEP, "complete", created, scenario, total, size)
    if _running(info):
        state = f"running ({done} of {total} runs done)"
        return Entry(folder, SWEEP, state, created, scenario, total, size)
    if done + failed == total:
        state = f"failed ({failed} of {total} runs failed)"
    else:
        state = f"partial ({done} of {total} runs done" + (f", {failed} failed)" if failed else ")")
    return Entry(folder, SWEEP, state, created, scenario, total, size, resume)


def _running(info: dict[str, Any]) -> bool:
    """Whether the `ouroboros sweep` that created a sweep is still at work on it: its manifest
    says `running` (no session has ended) and its process is alive. (A `--resume` at work is
    not seen: its session is recorded when it ends.)"""
    command = info.get("command")
    pid = command.get("pid") if isinstance(command, dict) else None
    return info.get("state") == "running" and isinstance(pid, int) and files.process_alive(pid)


def status_counts(path: Path) -> dict[str, int]:
    """How many runs of a sweep's `status.csv` are done, failed and pending (a state the file
    names otherwise counts as pending: it will be run again)."""
    import pandas as pd

    states = pd.read_csv(path, usecols=["state"], dtype={"state": str})["state"]
    counts = states.value_counts()
    done, failed = int(counts.get("done", 0)), int(counts.get("failed", 0))
    return {"done": done, "failed": failed, "pending": len(states) - done - failed}


def _leftover(path: Path, root: Path) -> Entry:
    """A staging folder or file of a killed process; `ouroboros runs --clean` removes it."""
    match = files.STAGING.match(path.name)
    pid = match["pid"] if match else "?"
    return Entry(
        path,
        LEFTOVER,
        f"left by killed process {pid}",
        _mtime(path),
        None,
        None,
        disk_usage(path),
        f"ouroboros runs {shlex.quote(str(root))} --clean",
    )


def clean(root: Path) -> list[Path]:
    """Remove the staging leftovers of killed processes that `scan(root)` lists; returns what
    was removed (the work of live processes is never touched: `files.stale_staging`)."""
    root = Path(root)
    folders = [] if _is_results(root) else [root, *_plain_subfolders(root)]
    return [path for folder in folders for path in files.clean_stale_staging(folder)]


def _manifest(path: Path) -> dict[str, Any]:
    """A manifest.json as a mapping; ValueError if it is too large, not JSON or not a mapping."""
    if path.stat().st_size > MAX_MANIFEST:
        raise ValueError(f"manifest.json larger than {MAX_MANIFEST >> 20} MiB")
    info = json.loads(path.read_bytes())
    if not isinstance(info, dict):
        raise ValueError("manifest.json is not a JSON object")
    return info


def _reason(exc: BaseException) -> str:
    """A short reason for a read that failed."""
    if isinstance(exc, json.JSONDecodeError):
        return f"manifest.json is not valid JSON (line {exc.lineno})"
    if isinstance(exc, RecursionError):
        return "manifest.json is nested too deeply"
    if isinstance(exc, OSError):
        return f"{Path(exc.filename).name if exc.filename else ''}: {exc.strerror or exc}"
    text = " ".join(str(exc).split())
    return text[:100] if text else type(exc).__name__


def _created(value: Any) -> datetime | None:
    """A manifest's `created_utc` as an aware datetime (None if absent or malformed)."""
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _stamped(name: str) -> datetime | None:
    """When a folder was made, from the UTC timestamp in its name (`files.new_run_dir`): a
    sweep's manifest is rewritten, with a new `created_utc`, by every session."""
    match = STAMP.search(name)
    return datetime.strptime(match[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if match else None


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.lstat().st_mtime, UTC)
    except OSError:
        return None


def disk_usage(path: Path) -> int:
    """Bytes a file or folder takes on disk (allocated blocks, as `du`; symlinks not followed)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_blocks * 512
    except OSError:
        return 0
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total
