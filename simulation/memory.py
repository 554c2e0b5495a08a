"""Process-wide memory tuning, applied once at each entry point (CLI, sweep workers, benchmarks).

It changes no result, only how fast a long run allocates; it lives apart from the model so that
building a model has no effect on the rest of a process.
"""

from __future__ import annotations

import ctypes


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
