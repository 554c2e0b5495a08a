"""`ouroboros compare` (analysis/compare.py): final values, differences paired on common random
numbers checked against per-replication differences computed by hand from summary.csv, the
unpaired (Welch) difference when seeds differ, scenario differences, sweeps per arm."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from analysis import compare
from analysis.load import load_results
from simulation import console, registry
from simulation import sweep as sweeps
from simulation.cli import app
from simulation.runner import run_scenario
from simulation.sweep_status import read_status
from tests.conftest import small_scenario

METRIC = registry.TOPIC_HILL1
REPS = 3


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Three run folders of 3 replications, 3 steps: `a`; `b`, the same seed with more AI;
    `c`, `a` with another seed; and `sweep`, two arms × 2 replications on `a`'s seed."""
    root = tmp_path_factory.mktemp("compare")
    base = {"steps": 3, "replications": REPS}
    runs = {
        "a": small_scenario(name="a", **base),
        "b": small_scenario(name="b", **base, web={"ai_share": 0.6}),
        "c": small_scenario(name="c", **base, seed=8),
    }
    made = {key: run_scenario(scenario, out_root=root) for key, scenario in runs.items()}
    arms = {"plain": {}, "reserve": {"filtering.human_reserve": 0.2}}
    sweep = small_scenario(
        name="s", steps=3, replications=2, sweep={"factors": {"web.ai_share": [0.3]}, "arms": arms}
    )
    sweep_dir, design = sweeps.create(sweep, root)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sweeps.execute(sweep_dir, design, pool)
    sweeps.assemble(sweep_dir, sweep, design, {"executor": "thread"})
    assert (read_status(sweep_dir, design)["state"] == "done").all()
    return {**made, "sweep": sweep_dir}


def _finals(folder: Path) -> pd.Series:
    """Final topic Hill-1 by replication, read from summary.csv."""
    return pd.read_csv(folder / "summary.csv").set_index("replication")[METRIC.final]


def _row(table: pd.DataFrame, folder: Path, arm: str = compare.NO_ARM) -> pd.Series:
    (row,) = table[
        (table["folder"] == folder.name) & (table["metric"] == METRIC.name) & (table["arm"] == arm)
    ].itertuples(index=False)
    return pd.Series(row._asdict())


def test_paired_difference_is_the_mean_of_per_replication_differences(folders):
    table = compare.comparison([load_results(folders["a"]), load_results(folders["b"])])
    by_hand = (_finals(folders["b"]) - _finals(folders["a"])).to_numpy()
    assert len(by_hand) == REPS and np.ptp(by_hand) > 0
    half = stats.t.ppf(0.975, REPS - 1) * by_hand.std(ddof=1) / np.sqrt(REPS)
    row = _row(table, folders["b"])
    assert bool(row["paired"]) and row["pairs"] == REPS
    assert row["difference"] == pytest.approx(by_hand.mean(), rel=1e-12)
    assert row["difference_low"] == pytest.approx(by_hand.mean() - half, rel=1e-9)
    assert row["difference_high"] == pytest.approx(by_hand.mean() + half, rel=1e-9)
    first = _row(table, folders["a"])
    assert first["median"] == pytest.approx(np.median(_finals(folders["a"])))
    assert first["n"] == REPS and pd.isna(first["difference"])


def test_differing_seeds_give_an_unpaired_welch_difference(folders):
    results = [load_results(folders["a"]), load_results(folders["c"])]
    row = _row(compare.comparison(results), folders["c"])
    a, c = _finals(folders["a"]).to_numpy(), _finals(folders["c"]).to_numpy()
    va, vc = a.var(ddof=1) / REPS, c.var(ddof=1) / REPS
    df = (va + vc) ** 2 / (va**2 / (REPS - 1) + vc**2 / (REPS - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vc)
    assert not row["paired"] and row["pairs"] == 0
    assert row["difference"] == pytest.approx(c.mean() - a.mean(), rel=1e-12)
    assert row["difference_low"] == pytest.approx(c.mean() - a.mean() - half, rel=1e-9)
    assert row["difference_high"] == pytest.approx(c.mean() - a.mean() + half, rel=1e-9)
    (note,) = compare.pairing_notes(results, ["A", "C"])
    assert note.startswith("C − A: root seeds differ (7 vs 8): unpaired")


def test_scenario_differences_are_the_dotted_keys_that_differ(folders):
    a, b, c = (load_results(folders[k]) for k in "abc")
    diff = compare.scenario_differences([a, b, c])
    assert list(diff.index) == ["name", "seed", "web.ai_share"]
    assert diff.loc["web.ai_share"].tolist() == ["0.3", "0.6", "0.3"]
    assert diff.loc["seed"].tolist() == ["7", "7", "8"]
    assert compare.scenario_differences([a, a]).empty


def test_a_run_against_a_sweep_pairs_within_each_arm(folders):
    run, sweep = load_results(folders["a"]), load_results(folders["sweep"])
    table = compare.comparison([run, sweep])
    assert list(dict.fromkeys(table["arm"])) == ["plain", "reserve"]
    finals = sweep.summary.set_index(["arm", "replication"])[METRIC.final]
    a = _finals(folders["a"])
    for arm in ("plain", "reserve"):
        first = _row(table, folders["a"], arm)
        assert first["n"] == REPS  # the run's replications, in every arm
        row = _row(table, folders["sweep"], arm)
        by_hand = finals.loc[arm].to_numpy() - a.loc[[0, 1]].to_numpy()  # spawn keys (0, 0|1)
        assert bool(row["paired"]) and row["pairs"] == 2 and row["n"] == 2
        assert row["difference"] == pytest.approx(by_hand.mean(), rel=1e-12)


def test_compare_prints_tables_and_writes_the_csv(folders, tmp_path):
    csv = tmp_path / "comparison.csv"
    args = ["compare", str(folders["a"]), str(folders["b"]), "--out", str(csv)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"A = {folders['a']}" in result.output and "B − A" in result.output
    assert "web.ai_share" in result.output and f"B − A: {REPS} runs paired" in result.output
    written = pd.read_csv(csv)
    assert len(written) == 2 * len(registry.shown_in("outcome"))
    assert set(written["metric"]) == {m.name for m in registry.shown_in("outcome")}
    printed = CliRunner().invoke(app, [*args[:3], "--format", "csv"])
    assert printed.exit_code == 0, printed.output
    assert printed.output.splitlines()[0] == ",".join(written.columns)


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        (["{a}"], "give 2 to 26 run or sweep folders (got 1)"),
        (["{a}", "{tmp}/nowhere"], "nowhere: no such folder"),
        (["{a}", "{tmp}"], "not a run or sweep folder (no scenario.yaml)"),
        (["{a}", "{a}", "--out", "{tmp}"], "is a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(folders, tmp_path, given, fragment):
    args = [g.replace("{a}", str(folders["a"])).replace("{tmp}", str(tmp_path)) for g in given]
    result = CliRunner().invoke(app, ["compare", *args])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error:") and fragment in " ".join(result.output.split())


def test_sweeps_with_different_arms_compare_the_arms_they_share(folders, monkeypatch):
    sweep = load_results(folders["sweep"])
    summary = sweep.summary.assign(arm=sweep.summary["arm"].replace({"plain": "other"}))
    renamed = replace(sweep, summary=summary, runs=summary[sweep.runs.columns])
    table = compare.comparison([sweep, renamed])
    assert list(dict.fromkeys(table["arm"])) == ["plain", "reserve", "other"]
    tags = compare.labels([sweep, renamed])
    assert tags == [str(folders["sweep"]), f"{folders['sweep']} (2)"]  # one folder, twice
    at = (table["folder"] == tags[1]) & (table["metric"] == METRIC.name)
    (reserve,) = table[at & (table["arm"] == "reserve")].to_dict("records")
    assert reserve["difference"] == 0 and reserve["pairs"] == 2  # the same runs, paired
    lone = table[(table["arm"] == "other") & (table["metric"] == METRIC.name)]
    assert len(lone) == 1 and lone["difference"].isna().all()  # no runs of A to compare with
    monkeypatch.setattr(console.out, "width", 200)
    with console.out.capture() as captured:
        console.print_comparison(
            [folders["sweep"]] * 2, compare.scenario_differences([sweep, renamed]), table, []
        )
    text = captured.get()
    assert "Final values, arm other" in text and "B − A: 2 runs paired" in text
