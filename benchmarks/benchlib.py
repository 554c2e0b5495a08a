"""What the benchmark scripts share: timing a process from spawn to exit, and results CSVs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
sys.path.insert(0, str(ROOT))  # benchmark this checkout, whatever is installed
OUROBOROS = Path(sys.executable).with_name("ouroboros")  # the CLI of this interpreter's venv

from simulation.memory import NUMPY_AT_START  # noqa: E402  (the path above finds it)


@dataclass(frozen=True)
class Timed:
    """One process run to its exit."""

    wall_s: float  # from just before spawning it to its exit
    peak_mib: float  # its own peak resident memory
    stdout: str

    def last_json(self) -> dict:
        """The JSON object on the last line of its output (how workers report)."""
        return json.loads(self.stdout.strip().splitlines()[-1])


def timed_process(cmd: list[str], label: str, env: dict[str, str] | None = None) -> Timed:
    """Run `cmd` in the project folder; wall time from spawn to exit and its peak memory.

    `os.wait4` reaps the child and returns its own resource usage: the peak of this child
    alone, where `getrusage(RUSAGE_CHILDREN)` holds the largest of all children so far.
    Output goes to temporary files, so no pipe can fill up while we wait. A failure exits with
    the child's error output and `label`. Every process, the kernel included, starts with the
    numpy settings `ouroboros` starts with (`NUMPY_AT_START`, where the environment does not
    set them); `env` is set over them.
    """
    env = {**NUMPY_AT_START, **os.environ, **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
            raise SystemExit(f"benchmark {label} failed (exit {proc.returncode})")
        out.seek(0)
        return Timed(wall, usage.ru_maxrss / 1024, out.read().decode(errors="replace"))


def set_options(overrides: list[str]) -> list[str]:
    """`--set KEY=VALUE` options, as `ouroboros` and run.py take them."""
    return [arg for item in overrides for arg in ("--set", item)]


def commit_label() -> str:
    """Short commit hash, marked `-dirty` when tracked files differ from it ("unknown" outside
    git). Asked of git directly: `simulation.files` would load pandas into every script."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        except OSError:  # no git
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "--short=7", "HEAD")
    if commit is None:
        return "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def append_rows(rows: list[dict], path: Path, fields: tuple[str, ...]) -> None:
    """Append rows (with timestamp and commit) to a results CSV, writing a header if new.

    A file written before a column was added is rewritten once with the current header, its
    old rows kept with that column empty.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    commit = commit_label()
    path.parent.mkdir(parents=True, exist_ok=True)
    rewrite = not path.exists() or _header(path) != fields
    old = read_rows(path) if rewrite else []
    with path.open("w" if rewrite else "a", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=fields, extrasaction="ignore", lineterminator="\n"
        )
        if rewrite:
            writer.writeheader()
            writer.writerows(old)
        for row in rows:
            writer.writerow({"timestamp": stamp, "commit": commit, **rounded(row)})


def rounded(row: dict) -> dict:
    """Floats to 4 decimals, for CSVs a person reads."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def read_rows(path: Path) -> list[dict]:
    """The rows of a results CSV (none if there is no file yet)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> tuple[str, ...]:
    with path.open(newline="") as handle:
        return tuple(next(csv.reader(handle), ()))
