"""`ouroboros export`: EMA Workbench's results archive and CSV, equal to the folder's metrics;
bad input exits 2 with one line and writes nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.export import export
from analysis.load import load_results
from simulation import registry
from simulation import sweep as sweeps
from simulation.cli import app
from tests.conftest import small_scenario

SWEEP = {
    "design": "lhs",
    "samples": 3,
    "factors": {
        "web.ai_share": {"low": 0.1, "high": 0.6},
        "humans.count": {"low": 100, "high": 300},
    },
    "arms": {"plain": {}, "reserve": {"filtering.human_reserve": 0.3}},
}


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory) -> Path:
    """A finished LHS sweep: 3 design points × 2 arms × 1 replication, 3 steps."""
    scenario = small_scenario(steps=3, sweep=SWEEP)
    folder, design = sweeps.create(scenario, tmp_path_factory.mktemp("sweep"))
    with ThreadPoolExecutor(max_workers=1) as serial:
        sweeps.execute(folder, design, serial)
    sweeps.assemble(folder, scenario, design, {"executor": "test"})
    return folder


def test_ema_archive_loads_with_ema_workbench_and_equals_the_metrics(sweep_folder, tmp_path):
    from simulation.ema import ema

    out = export(sweep_folder, "ema", tmp_path / "results.tar.gz")
    experiments, outcomes = ema.load_results(str(out))
    res = load_results(sweep_folder)
    assert len(experiments) == 6
    assert list(experiments["policy"].astype(str)) == ["plain"] * 3 + ["reserve"] * 3
    assert list(experiments["scenario"]) == [0, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(experiments["web__ai_share"], res.runs["web.ai_share"])
    np.testing.assert_array_equal(experiments["humans__count"], res.runs["humans.count"])
    assert set(outcomes) == set(registry.COLUMNS)
    for name in (registry.TOPIC_HILL1.name, registry.TAIL_SURVIVAL.name, registry.AI_SHARE.name):
        expected = res.metrics.pivot(index="run_id", columns="step", values=name).to_numpy()
        assert outcomes[name].shape == (6, 4)
        np.testing.assert_array_equal(outcomes[name], expected)


def test_csv_export_round_trips(sweep_folder, tmp_path):
    out = export(sweep_folder, "csv", tmp_path / "csv")
    res = load_results(sweep_folder)
    long = pd.read_csv(out / "metrics.csv")
    wide = long.pivot(index=["run_id", "step"], columns="metric", values="value")
    expected = res.metrics.set_index(["run_id", "step"])[list(registry.COLUMNS)]
    pd.testing.assert_frame_equal(
        wide[list(registry.COLUMNS)], expected, check_names=False, check_exact=True
    )
    assert set(long["arm"]) == {"plain", "reserve"}
    summary = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(summary, res.summary, check_exact=True)
    dictionary = pd.read_csv(out / "metrics_dictionary.csv").set_index("metric")
    assert dictionary.at["topic_hill1", "label"] == registry.TOPIC_HILL1.label


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xls"], "--format xls: unknown format; use one of ema, csv"),
        (["--format", "csv", "--out", "EXISTING"], "already exists; give a new path"),
        (["--format", "csv", "--out", "NOT_A_RUN"], "not a run or sweep folder"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(sweep_folder, tmp_path, args, message):
    existing = tmp_path / "existing"
    existing.mkdir()
    folder = str(tmp_path) if "NOT_A_RUN" in args else str(sweep_folder)
    out = {"EXISTING": str(existing), "NOT_A_RUN": str(tmp_path / "new")}
    argv = ["export", folder, *[out.get(a, a) for a in args]]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "new")]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
