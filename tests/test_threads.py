"""The models' threads: results bit-identical on any number of threads, tasks in order, at most
one task prepared ahead per thread, errors raised, and the thread count's sources."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from simulation import threads
from simulation.runner import run_one
from tests.conftest import small_scenario


@pytest.fixture
def restore_threads():
    yield
    threads.use_threads(None)


@pytest.mark.parametrize(
    "sections",
    [
        {},  # accumulate, fresh crawls
        {  # draws in the filters and in training: detector, reserve, subsample
            "models": {"regime": "subsample", "train_budget": 3000},
            "filtering": {"detector": {"tpr": 0.8, "fpr": 0.1}, "human_reserve": 0.2},
        },
    ],
)
def test_runs_are_bit_identical_on_one_and_on_four_threads(sections, restore_threads):
    scenario = small_scenario(steps=6, **sections)
    outputs = []
    for count in (1, 4):
        threads.use_threads(count)
        outputs.append(run_one(scenario, run_id=0, replication=1))
    one, four = outputs
    pd.testing.assert_frame_equal(one.metrics, four.metrics, check_exact=True)
    pd.testing.assert_frame_equal(one.distributions, four.distributions, check_exact=True)


def test_run_each_keeps_order_and_prepares_one_task_ahead_per_thread(restore_threads):
    threads.use_threads(2)
    lock = threading.Lock()
    prepared, finished, ahead = [0], [0], []

    def task(i: int) -> int:
        time.sleep(0.01)
        with lock:
            finished[0] += 1
        return i * i

    def tasks():
        for i in range(12):
            with lock:
                prepared[0] += 1
                ahead.append(prepared[0] - finished[0])
            yield lambda i=i: task(i)

    assert threads.run_each(tasks()) == [i * i for i in range(12)]
    assert max(ahead) <= 3  # two running, one being prepared


def test_run_each_raises_a_tasks_error_after_every_task_has_ended(restore_threads):
    threads.use_threads(2)
    ended = []

    def fail() -> None:
        raise ValueError("bad fit")

    def slow() -> None:
        time.sleep(0.05)
        ended.append(True)

    with pytest.raises(ValueError, match="bad fit"):
        threads.run_each([fail, slow, slow])
    assert ended == [True, True]


def test_a_task_prepared_after_a_signalled_one_sees_its_result(restore_threads):
    """A generator that waits for an earlier task (`signalling`) before preparing a later one
    neither deadlocks nor sees the earlier task unfinished, also when that task raises."""
    threads.use_threads(2)
    pool: list[int] = []
    seen: list[list[int]] = []

    def count() -> None:
        time.sleep(0.02)
        pool.append(1)

    def fail() -> None:
        raise ValueError("bad crawl")

    def tasks():
        done = threading.Event()
        yield threads.signalling(count, done)
        yield lambda: time.sleep(0.05)  # keeps the other thread busy
        assert done.wait(timeout=10)
        seen.append(list(pool))
        failed = threading.Event()
        yield threads.signalling(fail, failed)
        assert failed.wait(timeout=10)  # set although `fail` raised: no deadlock
        yield lambda: None

    with pytest.raises(ValueError, match="bad crawl"):
        threads.run_each(tasks())
    assert seen == [[1]]


def test_thread_count_is_capped_by_cores_the_environment_and_use_threads(
    monkeypatch, restore_threads
):
    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.thread_count() == threads.MAX_THREADS
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert threads.thread_count() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as Dask's nanny sets it in its workers
    assert threads.thread_count() == 1
    monkeypatch.setenv(threads.THREADS_ENV, "2")  # ours first
    assert threads.thread_count() == 2
    monkeypatch.setenv(threads.THREADS_ENV, "zero")  # not a count: the next source
    assert threads.thread_count() == 1
    threads.use_threads(1)
    monkeypatch.setenv(threads.THREADS_ENV, "2")
    assert threads.thread_count() == 1
    threads.use_threads(None)
    assert threads.thread_count() == 2


def test_a_runs_thread_count_holds_for_that_run_only(monkeypatch, restore_threads):
    seen = []
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with threads.using_threads(1):
        seen.append(threads.thread_count())
        with threads.using_threads(None):  # None leaves the setting alone
            seen.append(threads.thread_count())
    seen.append(threads.thread_count())
    assert seen == [1, 1, 2]
    run_one(small_scenario(steps=1), threads=1)  # as a sweep's worker runs it
    assert threads.thread_count() == 2


def test_run_each_waits_for_running_tasks_when_preparing_one_raises(restore_threads):
    threads.use_threads(2)
    ended = []

    def slow() -> None:
        time.sleep(0.05)
        ended.append(True)

    def tasks():
        yield slow
        raise RuntimeError("a crawl failed")

    with pytest.raises(RuntimeError, match="a crawl failed"):
        threads.run_each(tasks())
    assert ended == [True]


def test_runs_on_threads_side_by_side_keep_their_own_count(monkeypatch, restore_threads):
    """Two runs on threads of one process, interleaved as a sweep's in-process runs are (the
    first ends while the second still runs): each sees its own count, and none outlives it."""
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first() -> None:
        with threads.using_threads(1):
            first_in.set()
            second_in.wait()
            seen["first"] = threads.thread_count()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with threads.using_threads(3):
            second_in.set()
            first_out.wait()
            seen["second"] = threads.thread_count()

    workers = [threading.Thread(target=run) for run in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert seen == {"first": 1, "second": 3}
    assert threads.thread_count() == 4
