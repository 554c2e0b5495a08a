"""The policy report: tipping points, sensitivity, the table's numbers, HTML, run folders."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import stats
from analysis.load import load_results
from analysis.render import number
from analysis.report import policy_table, write_report
from simulation import registry
from simulation import sweep as sweeps
from simulation.cli import app
from simulation.designs import build, salib_problem
from simulation.runner import run_scenario
from tests.conftest import small_scenario


def test_first_crossing_interpolates_and_handles_edges():
    x = np.linspace(0.0, 1.0, 11)
    assert stats.first_crossing(x, 1.0 - x, 0.75) == pytest.approx(0.25)
    assert np.isnan(stats.first_crossing(x, np.ones(11), 0.5))
    assert stats.first_crossing(x, np.full(11, 0.1), 0.5) == 0.0


def test_tipping_points_of_shifted_monotone_curves():
    """Unit u is 1 - x + 0.1 u: it crosses 0.8 at x = 0.2 + 0.1 u; unit 9 never does."""
    x = np.linspace(0.0, 0.95, 20)
    curves = pd.concat(
        pd.DataFrame({"group": "a", "unit": u, "x": x, "y": 1.0 - x + 0.1 * u}) for u in range(5)
    )
    never = pd.DataFrame({"group": "b", "unit": 9, "x": x, "y": np.ones_like(x)})
    (a, b) = stats.tipping_points(pd.concat([curves, never]), threshold=0.8)
    assert (a.estimate, a.low, a.high) == pytest.approx((0.4, 0.2, 0.6))
    assert (a.crossed, a.units, a.start) == (5, 5, 0.0)
    assert b.crossed == 0 and np.isinf(b.estimate)


def test_morris_ranks_the_factor_that_matters():
    scenario = small_scenario(
        sweep={
            "design": "morris",
            "samples": 6,
            "factors": {
                "web.ai_share": {"low": 0.0, "high": 1.0},
                "models.top_p": {"low": 0.5, "high": 1.0},
            },
        }
    )
    design = build(scenario)
    values = 10.0 * design.points["web.ai_share"].to_numpy()  # top_p has no effect
    found = stats.sensitivity("morris", salib_problem(scenario.sweep), design.points, values, "y")
    table = found.table.set_index("factor")
    assert table.loc["web.ai_share", "mu_star"] == pytest.approx(10.0)
    assert table.loc["models.top_p", "mu_star"] == pytest.approx(0.0)
    assert "grid" in stats.sensitivity("grid", {}, design.points, values, "y").reason


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    scenario = small_scenario(
        steps=4,
        replications=3,
        sweep={
            "factors": {"web.ai_share": [0.0, 0.5, 0.9]},
            "arms": {
                "none": {"filtering.detector": None},
                "reserve": {"filtering.human_reserve": 0.3},
            },
        },
    )
    folder, design = sweeps.create(scenario, tmp_path_factory.mktemp("sweep"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        sweeps.execute(folder, design, pool)
    sweeps.assemble(folder, scenario, design, {"wall_seconds": 1.0})
    write_report(folder)
    return folder


def test_table_numbers_match_the_summary(sweep_folder):
    res = load_results(sweep_folder)
    table = policy_table(res, 0.8)
    summary = pd.read_csv(sweep_folder / "summary.csv")
    assert [r["label"] for r in table["rows"]][:2] == ["none, ai_share=0.0", "none, ai_share=0.5"]
    markdown = (sweep_folder / "report.md").read_text()
    for row in table["rows"]:
        arm, share = row["label"].split(", ai_share=")
        runs = summary[(summary["arm"] == arm) & (summary["web.ai_share"] == float(share))]
        assert row["n"] == len(runs) == 3
        for metric, cell in zip(registry.shown_in("outcome"), row["cells"], strict=True):
            assert cell["median"] == runs[metric.final].median()
            assert cell["low"] == runs[metric.final].quantile(0.05)
        line = next(x for x in markdown.splitlines() if x.startswith(f"| {row['label']} |"))
        hill = runs[registry.TOPIC_HILL1.final]
        low, high = hill.quantile(0.05), hill.quantile(0.95)
        assert f"{number(hill.median())} [{number(low)}, {number(high)}]" in line


def test_html_is_self_contained_with_every_section(sweep_folder):
    html = (sweep_folder / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    pngs = sorted(p.name for p in (sweep_folder / "figures").glob("*.png"))
    assert html.count("data:image/png;base64,") == len(pngs) >= 6
    for heading in (
        "Policies × outcomes",
        "Trajectories",
        "Rank-frequency",
        "Tipping points",
        "Sensitivity ranking",
        "Appendix",
    ):
        assert heading in html
    assert "a sensitivity ranking needs a `morris` or `sobol` design" in html
    assert "spawn_key=(design_point, replication)" in html


def test_report_of_a_single_run_folder(tmp_path):
    scenario = small_scenario(steps=6, replications=2, web={"ai_share": {"start": 0.1, "end": 0.9}})
    folder = run_scenario(scenario, out_root=tmp_path)
    result = CliRunner().invoke(app, ["report", str(folder), "--format", "md"])
    assert result.exit_code == 0, result.output
    text = (folder / "report.md").read_text()
    assert not (folder / "report.html").exists()
    assert "schedule rises" in text  # tipping points come from the AI-share schedule
    assert "single scenario run" in text
    assert "| small | 2 |" in text


def test_report_of_a_non_folder_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a run or sweep folder" in result.output


def test_report_of_a_run_with_twins_decomposes_and_plots_the_full_runs_only(tmp_path):
    from analysis.report import decomposition_section, full_runs

    folder = run_scenario(small_scenario(steps=2, replications=2, counterfactuals=True), tmp_path)
    res = load_results(folder)
    full = full_runs(res)
    assert "twin" not in full.metrics.columns and "twin" not in full.distributions.columns
    assert len(full.metrics) == 2 * 3 and len(full.distributions) == len(res.distributions) // 3
    section = decomposition_section(res)
    hill = next(r for r in section["rows"] if r["outcome"] == registry.TOPIC_HILL1.title)
    summary = pd.read_csv(folder / "summary.csv")
    assert hill["no_ai"] == summary[f"no_ai_{registry.TOPIC_HILL1.final}"].mean()
    assert hill["effects"][1]["mean"] == pytest.approx(
        summary[f"dilution_{registry.TOPIC_HILL1.final}"].mean(), rel=1e-12
    )
    write_report(folder, ("md",))
    text = (folder / "report.md").read_text()
    assert "Change caused by AI" in text and "| small | Topic diversity (Hill-1)" in text


def test_report_without_twins_says_how_to_get_the_decomposition(sweep_folder):
    assert (
        "No decomposition: these runs have no counterfactual twins"
        in (sweep_folder / "report.md").read_text()
    )
