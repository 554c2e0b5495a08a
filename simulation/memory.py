"""Process-wide setup, applied once at each entry point (CLI, sweep workers, benchmarks).

Memory tuning changes no result, only how fast a long run allocates; it lives apart from the
model so that building a model has no effect on the rest of a process. Pool workers also tie
their life to the process that started them, so that a killed sweep leaves none behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of returning them to the OS (Linux only).

    Every model refit allocates large temporaries; fresh pages for each cost page faults that
    were half of a medium run's time (see benchmarks/PROFILE.md). No effect on results.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: blocks up to 1 GiB come from the heap
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap for reuse


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), and exit at once if
    `parent` is gone already (it may die before the request takes hold).

    Linux ties this to the parent *thread* that started the process: start worker pools from
    a thread that outlives them (the CLI's main thread does).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(AttributeError, OSError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def init_worker(parent: int) -> None:
    """A process-pool worker's initializer: memory tuning, and death with `parent`."""
    keep_freed_memory()
    die_with_parent(parent)
