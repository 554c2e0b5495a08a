"""The runner: seeds, the one run loop (`simulate`), `run_one`'s outputs, `metric_frame`,
`summarize` and the run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from simulation import registry
from simulation.runner import metric_frame, run_one, run_scenario, run_seed, simulate, summarize
from tests.conftest import small_scenario, stepped

STEPS = 4


@pytest.fixture(scope="module")
def scenario():
    return small_scenario(steps=STEPS)


@pytest.fixture(scope="module")
def output(scenario):
    return run_one(scenario, run_id=3, replication=1)


def test_run_seeds_differ_by_design_point_and_replication():
    keys = [(0, 0), (0, 1), (1, 0), (1, 1)]
    states = {key: tuple(run_seed(7, *key).generate_state(4)) for key in keys}
    assert len(set(states.values())) == 4
    assert run_seed(7, 1, 0).spawn_key == (1, 0) and run_seed(7, 1, 0).entropy == 7
    assert tuple(run_seed(7, 1, 0).generate_state(4)) == states[(1, 0)]
    assert tuple(run_seed(8, 0, 0).generate_state(4)) != states[(0, 0)]


def test_simulate_calls_on_step_after_construction_and_every_step(scenario):
    seen = []
    model = simulate(scenario, on_step=lambda m: seen.append((m.steps, len(m.corpus))))
    web = scenario.web
    assert seen == [(s, web.archive_docs + s * web.docs_per_step) for s in range(STEPS + 1)]
    assert model.steps == STEPS and not model.running


def test_simulate_seeds_the_model_by_design_point_and_replication():
    one_step = small_scenario(steps=1)
    point_1 = simulate(one_step, design_point=1, replication=0)
    again = simulate(one_step, design_point=1, replication=0)
    assert np.array_equal(point_1.archive.topic, again.archive.topic)
    assert not np.array_equal(point_1.archive.topic, stepped(one_step).archive.topic)
    # Every design point and replication shares the world (p*).
    assert np.array_equal(point_1.content.word_probs, stepped(one_step).content.word_probs)


def test_run_one_twice_is_bit_identical(scenario, output):
    again = run_one(scenario.to_dict(), run_id=3, replication=1)  # plain data, as workers get it
    pd.testing.assert_frame_equal(again.metrics, output.metrics, check_exact=True)
    pd.testing.assert_frame_equal(again.distributions, output.distributions, check_exact=True)
    other = run_one(scenario, run_id=3, replication=2)
    assert not other.metrics["topic_hill1"].equals(output.metrics["topic_hill1"])


def test_run_one_ticks_once_per_step(scenario):
    ticks = []
    run_one(scenario, on_step=lambda: ticks.append(1))
    assert len(ticks) == STEPS


def test_metric_frame_columns_and_types(scenario, output):
    frame = output.metrics
    assert list(frame.columns) == ["run_id", "replication", "step", "generation", *registry.COLUMNS]
    assert frame["step"].tolist() == list(range(STEPS + 1))
    assert (frame["run_id"] == 3).all() and (frame["replication"] == 1).all()
    assert frame["generation"].tolist() == [0, 0, 1, 1, 2]  # retrain every 2 steps
    assert frame["step"].dtype == frame["generation"].dtype == np.int64
    assert (frame[list(registry.COLUMNS)].dtypes == np.float64).all()
    model = simulate(scenario, replication=1)
    collected = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    direct = metric_frame(model, run_id=3, replication=1)
    columns = list(registry.COLUMNS)
    np.testing.assert_array_equal(direct[columns], collected[columns].astype(np.float64))
    pd.testing.assert_frame_equal(direct, frame)


def test_distributions_at_the_first_and_last_step(scenario, output):
    dists = output.distributions
    assert sorted(dists["step"].unique()) == [0, STEPS]
    assert set(dists["source"]) == {"reality", "corpus", "models"}
    n_topics = scenario.content.n_topics
    sums = dists.groupby(["step", "source"])["share"].agg(["sum", "size"])
    np.testing.assert_allclose(sums["sum"], 1.0, rtol=1e-12)
    assert (sums["size"] == n_topics).all()
    reality = dists[(dists["source"] == "reality") & (dists["step"] == 0)]
    assert reality["topic"].tolist() == list(range(n_topics))
    assert np.array_equal(reality["share"], stepped(scenario).content.topic_probs)


def two_runs(scenario) -> pd.DataFrame:
    """Two runs' metric rows, shuffled: summarize must not rely on their order."""
    frames = [run_one(scenario, run_id=r, replication=r).metrics for r in (0, 1)]
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)


def test_summarize_final_is_the_last_row_and_mean_averages_steps_from_one(scenario):
    metrics = two_runs(scenario)
    summary = summarize(metrics).set_index("run_id")
    columns = [m.name for m in registry.SUMMARISED]
    assert list(summary.index) == [0, 1] and (summary["steps"] == STEPS).all()
    assert summary["replication"].tolist() == [0, 1]
    for run_id, rows in metrics.groupby("run_id"):
        rows = rows.sort_values("step")
        last = rows.iloc[-1]
        for name in columns:
            assert summary.loc[run_id, f"final_{name}"] == last[name]
            later = rows.loc[rows["step"] >= 1, name]
            assert summary.loc[run_id, f"mean_{name}"] == pytest.approx(later.mean(), rel=1e-12)
    not_summarised = {m.name for m in registry.METRICS} - set(columns)
    assert not any(f"final_{name}" in summary.columns for name in not_summarised)


def test_summarize_final_is_nan_when_the_last_value_is():
    columns = [m.name for m in registry.SUMMARISED]
    rows = {name: [1.0, 2.0, np.nan] for name in columns}
    metrics = pd.DataFrame({"run_id": 0, "replication": 0, "step": [0, 1, 2], **rows})
    final = summarize(metrics).iloc[0]
    assert all(np.isnan(final[f"final_{name}"]) for name in columns)


def test_run_scenario_writes_one_complete_folder(tmp_path):
    scenario = small_scenario(steps=2, replications=2)
    ticks = []
    totals = []

    def progress(total):
        totals.append(total)
        return lambda: ticks.append(1)

    run_dir = run_scenario(scenario, tmp_path / "runs", progress=progress)
    assert totals == [4] and len(ticks) == 4
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("small-")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # nothing staged
    names = sorted(p.name for p in run_dir.iterdir())
    expected = ["distributions.parquet", "manifest.json", "metrics.parquet", "scenario.yaml"]
    assert names == sorted([*expected, "summary.csv"])
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    pd.testing.assert_frame_equal(
        metrics[metrics["replication"] == 1].reset_index(drop=True),
        run_one(scenario, run_id=1, replication=1).metrics,
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["spawn_keys"] == [[0, 0], [0, 1]] and manifest["replications"] == 2
    assert manifest["config_hash"] == scenario.config_hash()


def test_run_scenario_with_twins_ticks_for_each_twin_and_keeps_one_summary_row_per_run(tmp_path):
    scenario = small_scenario(steps=2, replications=2, counterfactuals=True)
    totals, ticks = [], []

    def progress(total):
        totals.append(total)
        return lambda: ticks.append(1)

    run_dir = run_scenario(scenario, tmp_path, progress=progress)
    assert totals == [2 * 2 * 3] and len(ticks) == 12
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert list(metrics.columns[:4]) == ["run_id", "replication", "twin", "step"]
    assert metrics.groupby(["run_id", "twin"]).size().tolist() == [3] * 6
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["run_id"].tolist() == [0, 1]
    assert {"no_ai_final_topic_hill1", "dilution_final_tail_survival"} <= set(summary.columns)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["twins"] == ["full", "no_ai", "no_feedback"]


def _memory_mib() -> float:
    """This machine's physical memory in MiB."""
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def test_a_run_folder_records_the_peak_memory_of_each_run(tmp_path):
    from simulation.memory import PROCESS_PEAK, SINCE_RUN_START

    run_dir = run_scenario(small_scenario(steps=2, replications=2), tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    peaks = manifest["run_peak_mib"]
    assert set(peaks) == set(manifest["run_seconds"]) == {"0", "1"}
    assert all(50 < peak < _memory_mib() for peak in peaks.values())  # the whole process's
    assert all(peak == round(peak, 1) for peak in peaks.values())
    assert manifest["run_peak_measure"] in {SINCE_RUN_START, PROCESS_PEAK}


def test_the_peak_memory_of_a_run_leaves_out_what_was_freed_before_it(scenario):
    """512 MiB made resident and unmapped before a run do not count in the run's peak (where
    the kernel lets the peak be reset; else the peak is the process's and this is skipped)."""
    import mmap

    from simulation.memory import SINCE_RUN_START, peak_memory_mib, reset_peak_memory

    size = 512 * 2**20
    with mmap.mmap(-1, size) as block:
        pages = np.frombuffer(block, dtype=np.uint8)
        pages[:: mmap.PAGESIZE] = 1  # one write per page makes it resident
        del pages  # (the buffer must be released before the mapping is closed)
        held, measure = peak_memory_mib(reset_peak_memory())
    if measure != SINCE_RUN_START:
        pytest.skip("this kernel does not let a process reset its peak memory")
    output = run_one(scenario)
    assert output.peak_measure == SINCE_RUN_START
    assert 50 < output.peak_mib < held - size / 2**20 / 2
