"""Threads for a run's work that draws no random numbers: the models' turns at a generation
boundary (counting crawls, refitting), sampling tables' lookups and the fits' metrics.

Every crawler's documents are counted into its model's pool, and every model refits, at each
generation boundary: ten models' turns are most of a large run's time. That work draws no
random numbers and spends its time in numpy and scipy loops that release the GIL, so the
models' turns run side by side on threads (counting and refitting ten large models: 1.7-1.9x
on two cores, benchmarks/PROFILE.md). The random draws stay on the model's thread, in agent
order (`WebEcosystem.crawl_and_retrain`; a table draws its uniforms before its lookups are
split), so a run's results are bit-identical on any number of threads.

A run uses up to `MAX_THREADS` threads, fewer if fewer cores are available or if the
environment asks for fewer: `OUROBOROS_THREADS`, else `OMP_NUM_THREADS` (which Dask's nanny
sets to 1 in its workers). A process that already runs one simulation per core uses one
(`use_threads(1)`): a sweep's runs, on a process pool or Dask (`run_one(threads=1)`).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

THREADS_ENV = "OUROBOROS_THREADS"
MAX_THREADS = 4  # each thread holds one fit's temporaries: memory grows with the count
# Cells of work worth a thread of their own: ~0.6 ms of table lookups, ten times a hand-over to
# the threads (~60 us, measured). 2^17 kept a medium model's publishing on one thread.
GRAIN = 1 << 15
PREFIX = "ouroboros-model"  # the threads' names

_chosen: int | None = None  # this process's count (`use_threads`)
_run = threading.local()  # a run's own count, on the thread that runs it (`using_threads`)
_executor: tuple[int, ThreadPoolExecutor] | None = None  # its thread count and itself


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_count() -> int:
    """Threads a run of this process uses for the models' turns (at least 1): the calling
    thread's run's count, else this process's, else the cores and the environment's."""
    own = getattr(_run, "count", None)
    if own is not None:
        return own
    if _chosen is not None:
        return _chosen
    count = min(MAX_THREADS, available_cores())
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        asked = os.environ.get(name, "").strip()
        if asked.isdigit() and int(asked) >= 1:
            return min(count, int(asked))
    return count


def use_threads(count: int | None) -> None:
    """Use `count` threads from now on in this process (1: the calling thread only; None: the
    default, `thread_count`'s)."""
    global _chosen
    _chosen = None if count is None else max(1, int(count))


@contextmanager
def using_threads(count: int | None) -> Iterator[None]:
    """`count` threads for the body of a `with` on the calling thread only, then its setting
    from before again (None: leave the setting as it is).

    Per thread, so that runs side by side on threads of one process (a Dask worker started
    with several threads) each keep their own count and none outlives its run: one process-wide
    setting, saved and restored by each run, was left at 1 after interleaved sweep runs.
    """
    before = getattr(_run, "count", None)
    if count is not None:
        _run.count = max(1, int(count))
    try:
        yield
    finally:
        _run.count = before


def run_each(tasks: Iterable[Callable[[], Any]]) -> list[Any]:
    """Call every task on `thread_count()` threads; their results, in order.

    Tasks are taken from `tasks` one at a time, when a thread is free, so a generator that
    prepares the next task (a crawl's draws) runs on this thread while the threads work and
    holds one task's input per thread, plus the one it prepares. A task must draw no random
    numbers and write nothing another task reads or writes: its own agent, or its own slice
    of a shared output. If tasks raise, the first one's exception is raised here, once every
    task has ended.
    """
    global _executor
    count = thread_count()
    alone = isinstance(tasks, Sized) and len(tasks) <= 1  # no hand-over for a single task
    if count <= 1 or alone or threading.current_thread().name.startswith(PREFIX):  # no nesting
        return [task() for task in tasks]
    if _executor is None or _executor[0] != count:
        if _executor is not None:
            _executor[1].shutdown()
        _executor = (count, ThreadPoolExecutor(count, thread_name_prefix=PREFIX))
    futures: list[Future] = []
    try:
        for task in tasks:
            running = [future for future in futures if not future.done()]
            if len(running) >= count:
                wait(running, return_when=FIRST_COMPLETED)
            futures.append(_executor[1].submit(task))
    finally:  # also when preparing a task raised: no task outlives the call
        wait(futures)
    return [future.result() for future in futures]


def signalling(task: Callable[[], Any], done: threading.Event) -> Callable[[], Any]:
    """`task`, setting `done` when it ends (also when it raises), so that a generator feeding
    `run_each` can wait for an earlier task before it prepares a later one that needs its
    result (a model's training set needs its crawl counted, `WebEcosystem.crawl_and_retrain`).
    """

    def run() -> Any:
        try:
            return task()
        finally:
            done.set()

    return run


def parts(n: int, cells_per_item: int = 1) -> list[slice]:
    """`range(n)` cut into contiguous slices for `run_each`, one per thread, each with at
    least `GRAIN` cells (`cells_per_item` per item): one slice when the work is small."""
    count = max(1, min(thread_count(), n * cells_per_item // GRAIN))
    bounds = [n * i // count for i in range(count + 1)]
    return [slice(low, high) for low, high in itertools.pairwise(bounds)]
