"""The policy report: tipping points, sensitivity, the table's numbers, HTML, run folders."""

from __future__ import annotations

import html
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import stats
from analysis.load import load_results
from analysis.render import number
from analysis.report import outcome_tables, write_report
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
    """Each outcome's table (policy × AI share) holds the median and range of its 3 runs."""
    tables = outcome_tables(load_results(sweep_folder))
    summary = pd.read_csv(sweep_folder / "summary.csv")
    markdown = (sweep_folder / "report.md").read_text()
    metrics = registry.shown_in("outcome")
    assert [t["title"] for t in tables] == [m.title for m in metrics]
    for metric, table in zip(metrics, tables, strict=True):
        assert table["columns"] == ["0", "0.5", "0.9"]
        assert [r["arm"] for r in table["rows"]] == ["none", "reserve"]
        for row in table["rows"]:
            for share, cell in zip((0.0, 0.5, 0.9), row["cells"], strict=True):
                runs = summary[(summary["arm"] == row["arm"]) & (summary["web.ai_share"] == share)]
                values = runs[metric.final]
                assert cell["n"] == len(runs) == 3
                assert cell["median"] == values.median()
                assert (cell["low"], cell["high"]) == (values.min(), values.max())  # n < 5
    hill = summary[(summary["arm"] == "none")].groupby("web.ai_share")[registry.TOPIC_HILL1.final]
    cells = " | ".join(
        f"{number(v.median())} [{number(v.min())}, {number(v.max())}]" for _, v in hill
    )
    assert f"| none | {cells} |" in markdown


def test_findings_come_first_and_match_in_html_and_markdown(sweep_folder):
    html_text = (sweep_folder / "report.html").read_text()
    markdown = (sweep_folder / "report.md").read_text()
    items = re.search(r'<ol class="findings">(.*?)</ol>', html_text, re.S).group(1)
    from_html = [html.unescape(x).strip() for x in re.findall(r"<li>(.*?)</li>", items, re.S)]
    from_md = re.findall(r"^\d+\. (.*)$", markdown.split("## Findings")[1].split("##")[0], re.M)
    assert 3 <= len(from_html) <= 6 and from_html == from_md
    assert html_text.index('class="findings"') < html_text.index("Details")
    assert "Small sample." in html_text and "Only 3 replications per cell" in markdown
    assert "final_" not in html_text and "final_" not in markdown  # no raw column names


def test_html_is_self_contained_with_every_section(sweep_folder):
    html = (sweep_folder / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    pngs = sorted(p.name for p in (sweep_folder / "figures").glob("*.png"))
    assert html.count("data:image/png;base64,") == len(pngs) >= 7
    assert "heatmap.png" in pngs
    for heading in (
        "Findings",
        "Policies compared with no policy (none)",
        "Before AI and at the end",
        "Final values by policy and AI share",
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
    assert text.startswith("# Run report: small")
    findings_text = text.split("## Findings")[1].split("## Details")[0]
    assert "went from" in findings_text and "at step 0" in findings_text
    assert "Small sample." in findings_text  # 2 replications
    for policy_only in ("Policies compared", "Tipping points", "Sensitivity", "Final values by"):
        assert policy_only not in text
    assert "before AI (step 0) | final (step 6)" in text


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
    assert "against the no-AI twins" in text.split("## Details")[0]  # a finding splits it


def test_report_without_twins_says_how_to_get_the_decomposition(sweep_folder):
    assert (
        "No decomposition: these runs have no counterfactual twins"
        in (sweep_folder / "report.md").read_text()
    )


def test_report_of_a_sampled_sweep_leads_with_robustness_and_shows_discovery(tmp_path):
    scenario = small_scenario(
        steps=3,
        sweep={
            "design": "lhs",
            "samples": 8,
            "factors": {"web.ai_share": {"low": 0.0, "high": 0.9}},
            "arms": {"none": {"filtering.detector": None}, "detector": {}},
        },
    )
    folder, design = sweeps.create(scenario, tmp_path)
    with ThreadPoolExecutor(max_workers=2) as pool:
        sweeps.execute(folder, design, pool)
    sweeps.assemble(folder, scenario, design, {"wall_seconds": 1.0})
    write_report(folder)
    markdown = (folder / "report.md").read_text()
    answer = markdown.split("## Findings")[1].split("##")[0]
    assert "Across the 8 sampled conditions of the web" in answer
    assert "## Scenario discovery and robustness" in markdown
    assert "Small sample." not in markdown  # a policy's cell pools its 8 sampled runs
    assert (folder / "figures" / "envelopes.png").exists()
