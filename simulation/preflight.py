"""Pre-flight checks of the machine a command runs on: fail before a simulation starts, not after.

A run that cannot write its results, or a sweep whose scheduler address or a view whose port
is unusable, should stop at once with one clear line (a `ScenarioError`: the CLI exits with
status 2), never after hours of work. The CLI calls, before any folder is made or run starts:

- `check_output_root`: the run or sweep folder `<out_root>/<name>-<UTC stamp>[-N]` and its
  hidden staging sibling can be created (not a file; writable, probed by creating and removing a
  file in the nearest existing folder; the name fits the file system's byte limit; free space).
- `check_scheduler`: a Dask scheduler address is well formed (no network access).
- `check_port_free`: the browser view's port can be bound.

Memory and time are `simulation.budget`'s.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
import tempfile
from pathlib import Path

from simulation.budget import size_text
from simulation.scenario import ScenarioError

# Output folders. `.<name>-<stamp>-<N>.staging-<pid>-<8 random>` is the longest entry a run
# makes beside its folder: "." 1 + "-20261121T020700Z" 17 + "-999999" 7 + ".staging-" 9
# + pid 7 (pid_max ≤ 4194304) + "-" 1 + 8 = 50 bytes beyond the name.
NAME_RESERVED_BYTES = 50
NAME_MAX_DEFAULT = 255
PATH_RESERVED_BYTES = 128  # files inside a folder: parts/run-000000.distributions.parquet…

SCHEDULER_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss", "inproc")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)$")


def _fail(message: str) -> None:
    raise ScenarioError([message])


# ---------------------------------------------------------------------------- output folder


def _nearest_existing(path: Path, option: str) -> Path:
    """`path` or its nearest existing ancestor, which must be a folder."""
    for candidate in (path, *path.parents):
        try:
            is_dir = candidate.is_dir()
            exists = is_dir or candidate.exists()
        except OSError as exc:
            _fail(f"{option} {path}: cannot inspect {candidate} ({exc.strerror or exc})")
        if exists and not is_dir:
            what = "is a file" if candidate == path else f"{candidate} is a file"
            _fail(f"{option} {path}: {what}, not a folder; give a folder (created if missing)")
        if exists:
            return candidate
    raise AssertionError("unreachable: the root folder exists")  # pragma: no cover


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(folder, name))
    except (AttributeError, OSError, ValueError):
        return default


def check_output_root(
    out_root: Path, name: str, option: str = "--out", *, need_bytes: int = 0
) -> None:
    """Raise `ScenarioError` unless `<out_root>/<name>-<stamp>[-N]` can be created there.

    `need_bytes` (e.g. `Estimate.output_bytes`) is compared with the free space.
    """
    out_root = Path(os.path.abspath(out_root))
    existing = _nearest_existing(out_root, option)
    name_max = _limit(existing, "PC_NAME_MAX", NAME_MAX_DEFAULT)
    size = len(name.encode("utf-8"))
    if size + NAME_RESERVED_BYTES > name_max:
        _fail(
            f"name: {name[:40]!r}… is {size} bytes; run folders under {option} {out_root} are "
            f"named <name>-<UTC time> plus suffixes, so `name` can have at most "
            f"{name_max - NAME_RESERVED_BYTES} bytes (file names: {name_max})"
        )
    for part in out_root.relative_to(existing).parts:
        if len(part.encode("utf-8")) > name_max:
            _fail(f"{option} {out_root}: the folder name {part[:40]!r}… exceeds {name_max} bytes")
    path_max = _limit(existing, "PC_PATH_MAX", 4096)
    total = len(os.fsencode(out_root)) + 1 + size + NAME_RESERVED_BYTES + PATH_RESERVED_BYTES
    if total > path_max:
        _fail(f"{option} {out_root}: path too long for the files of a run (limit {path_max} B)")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".ouroboros-probe-")
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        why = {
            errno.EROFS: "is on a read-only file system",
            errno.EACCES: "is not writable",
            errno.EPERM: "is not writable",
            errno.ENOSPC: "has no space left",
            errno.EDQUOT: "is over its disk quota",
        }.get(exc.errno, f"cannot be written ({exc.strerror or exc})")
        where = "" if existing == out_root else f" (its existing parent {existing})"
        _fail(f"{option} {out_root}{where} {why}; choose another folder with {option}")
    if need_bytes > 0:
        stat = os.statvfs(existing)
        free = stat.f_bavail * stat.f_frsize
        if free < need_bytes:
            _fail(
                f"{option} {out_root}: {size_text(free)} free, the results need about "
                f"{size_text(need_bytes)}; free some space or choose another folder with {option}"
            )


# ------------------------------------------------------------------------ scheduler and port


def check_scheduler(address: str) -> str:
    """A Dask scheduler address as `scheme://host:port` (`host:port` means tcp); no network."""
    text = str(address).strip()
    example = "expected an address like tcp://host:8786"
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    scheme = scheme.lower()
    if scheme not in SCHEDULER_SCHEMES:
        _fail(
            f"--scheduler {address!r}: unknown protocol {scheme[:20]!r}; use one of "
            f"{', '.join(SCHEDULER_SCHEMES)} ({example})"
        )
    if scheme == "inproc":  # an in-process address: inproc://host/pid/n
        if not re.fullmatch(r"[A-Za-z0-9_.:/\[\]-]+", rest):
            _fail(f"--scheduler {address!r}: {example}")
        return f"{scheme}://{rest}"
    host, colon, port = rest.rpartition(":")
    if not colon or not _HOST.match(host) or not port.isdigit():
        _fail(f"--scheduler {address!r}: {example}")
    if not 1 <= int(port) <= 65535:
        _fail(f"--scheduler {address!r}: port {int(port)} is outside 1–65535 ({example})")
    return f"{scheme}://{host}:{int(port)}"


def check_port_free(host: str, port: int) -> None:
    """Raise `ScenarioError` unless `host:port` can be bound now (port 0: any free port)."""
    if port == 0:
        return
    retry = "choose another with --port or 0 for any free port"
    if not 1 <= port <= 65535:
        _fail(f"--port {port}: outside 0–65535; {retry}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            if sys.platform != "win32":  # as servers do: TIME_WAIT leftovers do not count
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host.strip("[]"), port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _fail(f"--port {port}: {host}:{port} is already in use; {retry}")
        if exc.errno in (errno.EACCES, errno.EPERM):
            _fail(f"--port {port}: binding {host}:{port} is not permitted; {retry}")
        _fail(f"--port {port}: cannot bind {host}:{port} ({exc.strerror or exc}); {retry}")
