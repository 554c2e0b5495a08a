"""Process-wide setup, applied once at each entry point (CLI, sweep workers, benchmarks), and
the measurement of a run's peak resident memory.

Memory tuning changes no result, only how fast a long run allocates; it lives apart from the
model so that building a model has no effect on the rest of a process. Pool workers also tie
their life to the process that started them, so that a killed sweep leaves none behind.

A run's peak memory is its process's: on Linux the peak (`VmHWM`) is reset to the current size
when the run starts, so runs one after another in a worker each get their own peak (a run in a
worker that keeps freed memory for reuse starts from what the previous one left). Where the
reset is refused the peak is the process's since it started (`ru_maxrss`), and the record says so.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import os
import re
import resource
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulation.budget import Estimate

PR_SET_PDEATHSIG = 1  # linux/prctl.h
CLEAR_PEAK_RSS = "5"  # /proc/PID/clear_refs: reset the peak resident set size (Linux ≥ 4.0)
SINCE_RUN_START = "vmhwm_since_run_start"  # how a peak was measured, as the records say
PROCESS_PEAK = "ru_maxrss_process_peak"


def keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of returning them to the OS (Linux only).

    Every model refit allocates large temporaries; fresh pages for each cost page faults that
    were half of a medium run's time (see benchmarks/PROFILE.md). The models' threads
    (`simulation.threads`) share one arena: an arena per thread kept each thread's freed
    blocks apart, 0.9 GB more at the large benchmark's peak. No effect on results.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: blocks up to 1 GiB come from the heap
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap for reuse
    mallopt(-8, 1)  # M_ARENA_MAX: one arena for every thread


def skip_collections_at_exit() -> None:
    """Have the interpreter skip its garbage collector's passes over every object when it
    exits: an exit handler freezes them all (`gc.freeze`). Python collects several times while
    it tears its modules down, each time walking every object that pandas, scipy and mesa
    made (0.2 s at the end of a medium run; 0.05 s with this). Objects are still freed as their
    last references go; only reference cycles left at exit are not collected, and the process
    is ending. No effect on results.
    """
    atexit.register(gc.freeze)


@contextlib.contextmanager
def loading_modules(estimate: Estimate | None = None) -> Iterator[None]:
    """Import the body's modules with the cyclic garbage collector paused, then freeze every
    object so far (`gc.freeze`): the modules' objects live as long as the process, and every
    later collection would walk them again. A medium run spent 0.09 s collecting while mesa,
    pandas and scipy loaded and 0.06 s during its steps; 0.01 s with this. Objects are still
    freed as their last references go. Given a run's budget `estimate`, part of the run's heap
    is warmed meanwhile, on another core (`warm_heap_for`). No effect on results.
    """
    if estimate is not None:
        warm_heap_for(estimate)
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


# Of a run's estimated memory beyond the interpreter (`budget.BASE`), the share warmed before it
# starts (`warm_heap`), at most WARM_MAX: below what any run measured holds in its heap (a
# medium run's estimate overstates its warm peak: 1.2 GiB for 745 MiB), so peaks stay as they
# were; and below glibc's own mapping threshold (`keep_freed_memory`, 1 GiB).
WARM_SHARE = 0.3
WARM_MAX = 512 << 20


def warm_heap(n_bytes: int) -> None:
    """Touch `n_bytes` of fresh heap on a background thread, then free it (Linux, glibc).

    glibc keeps freed heap for reuse (`keep_freed_memory`), so a run's arrays later take pages
    that are mapped already. Mapping a fresh page costs a fault (a medium run takes ~100,000,
    mostly while it builds its model); taken here, on an idle core while the process imports
    its modules (one core's work), they leave the run's own path. Ask for no more than the run
    will use, or its peak memory grows by the difference. No effect on results.
    """
    if n_bytes <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return
    malloc, free = libc.malloc, libc.free
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free.restype, free.argtypes = None, [ctypes.c_void_p]

    def touch() -> None:  # ctypes calls release the GIL: the imports go on meanwhile
        block = malloc(n_bytes)
        if block:
            ctypes.memset(block, 0, n_bytes)
            free(block)

    threading.Thread(target=touch, name="ouroboros-warm-heap", daemon=True).start()


def warm_heap_for(estimate: Estimate) -> None:
    """`warm_heap` with `WARM_SHARE` of a run's estimated memory beyond the interpreter, at
    most `WARM_MAX`."""
    from simulation.budget import BASE

    warm_heap(min(int(WARM_SHARE * (estimate.run_bytes - BASE)), WARM_MAX))


NUMPY_AT_START = {
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMPY_MADVISE_HUGEPAGE": "0",
}  # read once, when numpy loads; `numpy_settings_at_start` says why each


def numpy_settings_at_start() -> None:
    """Set numpy's start-up settings (`NUMPY_AT_START`) unless the user set them, before numpy
    loads (no import: `check` stays fast). Without effect once numpy is loaded. No effect on
    results.

    - One BLAS thread: the model threads (`simulation.threads`) do a run's parallel work;
      OpenBLAS's own threads spin for a while after every call and took the cores those
      threads need (a large run was 7% slower, benchmarks/PROFILE.md). `one_blas_thread`
      limits a BLAS that is running already.
    - Small (4 KiB) pages: numpy asks Linux for transparent huge pages for every array of
      4 MiB or more ("madvise hugepage on Linux", numpy.org/devdocs/reference/global_state.html).
      On a virtual machine whose host takes back the guest's free memory, a huge page's first
      touch can cost milliseconds (512 MiB: 3.9 s, against 0.2 s in small pages), so a
      process's first use of its memory varied by seconds, and a medium run took 4.2 s in small
      pages against 5.3-5.5 s in huge ones, with the same user time (benchmarks/PROFILE.md).
    """
    for name, value in NUMPY_AT_START.items():
        os.environ.setdefault(name, value)


def prepare_process() -> None:
    """An entry point's process-wide setup, before anything heavy loads: glibc keeps freed
    memory (`keep_freed_memory`), numpy's start-up settings (`numpy_settings_at_start`), and no
    collector passes at exit (`skip_collections_at_exit`)."""
    keep_freed_memory()
    numpy_settings_at_start()
    skip_collections_at_exit()


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


def one_blas_thread() -> None:
    """Limit numpy's BLAS to one thread in this process, for good.

    A sweep runs one simulation per worker process, one worker per core; a BLAS that also
    starts a thread per core in each worker oversubscribes the machine (two workers gave
    1.0-1.3x the speed of one; see benchmarks/PROFILE.md). Dask's nanny sets the same limit
    through its workers' environment. numpy is imported first so that its BLAS is loaded and
    can be limited; results do not change.
    """
    import numpy  # noqa: F401  (loads the BLAS library that threadpoolctl limits)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def init_worker(parent: int) -> None:
    """A process-pool worker's initializer: memory tuning, the model's modules loaded
    (`loading_modules`), one BLAS thread and one model thread (the pool runs a simulation per
    core), and death with `parent`."""
    from simulation.threads import use_threads

    prepare_process()
    with loading_modules():
        import simulation.runner  # noqa: F401  (what every run of this worker needs)
    one_blas_thread()
    use_threads(1)
    die_with_parent(parent)


def reset_peak_memory() -> bool:
    """Reset this process's peak resident memory to its current size, so that the next
    `peak_memory_mib` is the peak from now on; False where refused or not Linux."""
    try:
        Path("/proc/self/clear_refs").write_text(CLEAR_PEAK_RSS)
    except OSError:
        return False
    return True


def _vmhwm_mib() -> float | None:
    """`VmHWM` (peak resident set) from /proc/self/status in MiB; None if not readable."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s*(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def peak_memory_mib(reset: bool) -> tuple[float, str]:
    """Peak resident memory of this process in MiB (rounded to 0.1) and how it was measured:
    `SINCE_RUN_START` if `reset` (what `reset_peak_memory` returned) and `VmHWM` is readable,
    else `PROCESS_PEAK`, the process's peak since it started."""
    hwm = _vmhwm_mib() if reset else None
    if hwm is not None:
        return round(hwm, 1), SINCE_RUN_START
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_mib = 1024**2 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(maxrss / per_mib, 1), PROCESS_PEAK


def peak_measures(measures: Iterable[str]) -> str:
    """How a set of runs' peaks were measured, for a manifest: one name, or the names joined
    by ", " when processes differed (a sweep's workers on machines without the reset)."""
    return ", ".join(sorted(set(measures)))
