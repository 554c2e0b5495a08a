"""Counterfactual twins: the no-AI and no-feedback runs on a run's own seed, and the split of the
change caused by AI into dilution and feedback (docs/ODD.md, "Counterfactuals")."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from simulation import registry
from simulation import sweep as sweeps
from simulation.cli import app
from simulation.runner import (
    EFFECTS,
    FULL,
    TWIN,
    decomposition,
    metric_frame,
    paired_interval,
    run_one,
    simulate,
    summarize,
    twin_scenarios,
)
from tests.conftest import small_scenario, stepped

STEPS = 4  # two retraining boundaries (retrain_every = 2)
REPS = 3


@pytest.fixture(scope="module")
def scenario():
    return small_scenario(steps=STEPS, counterfactuals=True)


@pytest.fixture(scope="module")
def metrics(scenario) -> pd.DataFrame:
    """Metric rows of REPS replications with their twins."""
    outputs = [run_one(scenario, run_id=r, replication=r) for r in range(REPS)]
    return pd.concat([o.metrics for o in outputs], ignore_index=True)


def rows(metrics: pd.DataFrame, twin: str) -> pd.DataFrame:
    return metrics[metrics[TWIN] == twin].drop(columns=TWIN).reset_index(drop=True)


def test_twins_are_the_scenario_with_only_their_overrides(scenario):
    twins = twin_scenarios(scenario)
    assert list(twins) == [FULL, "no_ai", "no_feedback"] and twins[FULL] is scenario
    base = scenario.to_dict()
    no_ai, no_feedback = twins["no_ai"].to_dict(), twins["no_feedback"].to_dict()
    assert no_ai["web"] == {**base["web"], "ai_share": 0.0}
    assert no_ai["humans"] == {**base["humans"], "ai_assist": 0.0}
    assert no_feedback["models"] == {**base["models"], "feedback": False}
    same = {k: v for k, v in base.items() if k not in ("web", "humans", "models")}
    assert {k: no_ai[k] for k in same} == same == {k: no_feedback[k] for k in same}
    assert list(twin_scenarios(small_scenario())) == [FULL]  # off by default


def test_twins_share_the_world_network_population_and_archive(scenario):
    models = {
        name: stepped(config, replication=2) for name, config in twin_scenarios(scenario).items()
    }
    full = models[FULL]
    for twin in ("no_ai", "no_feedback"):
        other = models[twin]
        for field in ("topic", "tokens", "site"):
            assert np.array_equal(getattr(other.archive, field), getattr(full.archive, field))
        assert (other.network.adjacency != full.network.adjacency).nnz == 0
        assert np.array_equal(other.network.farm_owner, full.network.farm_owner)
        for field in ("topics", "weights", "site", "assistant"):
            assert np.array_equal(getattr(other.humans, field), getattr(full.humans, field))
        assert np.array_equal(other.content.word_probs, full.content.word_probs)


def test_step_0_metrics_are_bit_identical_across_twins(metrics):
    """Everything at step 0 comes from the shared archive and the first fit on it; only the
    no-AI twin's assist share differs, by construction (0 instead of humans.ai_assist)."""
    start = {
        twin: rows(metrics, twin).query("step == 0") for twin in (FULL, "no_ai", "no_feedback")
    }
    pd.testing.assert_frame_equal(start["no_feedback"], start[FULL], check_exact=True)
    assist = registry.HUMAN_AI_ASSIST.name
    pd.testing.assert_frame_equal(
        start["no_ai"].drop(columns=assist), start[FULL].drop(columns=assist), check_exact=True
    )
    assert (start["no_ai"][assist] == 0.0).all() and (start[FULL][assist] == 0.1).all()


def test_no_feedback_equals_full_until_the_first_refit(metrics):
    """Steps before the first retraining boundary (step 2) see the same model in both twins and
    the same random draws, so their rows are bit-identical; from step 2 the full run's models
    have refit on the mixed web and the two part."""
    full, frozen = rows(metrics, FULL), rows(metrics, "no_feedback")
    before = full["step"] < 2
    pd.testing.assert_frame_equal(frozen[before], full[before], check_exact=True)
    ce = registry.MODEL_CROSS_ENTROPY.name
    later = ~before
    assert (frozen.loc[later, ce].to_numpy() != full.loc[later, ce].to_numpy()).all()


def test_no_feedback_models_never_refit_after_step_0(scenario):
    config = twin_scenarios(scenario)["no_feedback"]
    model = stepped(config)
    fitted = ("topic_probs_", "word_probs_", "topic_table_", "word_table_")
    before = [{a: getattr(ai.generator, a) for a in fitted} for ai in model.ai_models]
    scores = [ai.cross_entropy for ai in model.ai_models]
    probs = [ai.generator.topic_probs_.copy() for ai in model.ai_models]
    for _ in range(STEPS):
        model.step()
    assert model.generation == STEPS // 2  # the boundaries passed, the crawls happened
    for ai, tables, score, p in zip(model.ai_models, before, scores, probs, strict=True):
        assert all(getattr(ai.generator, a) is tables[a] for a in fitted)  # never refit
        assert np.array_equal(ai.generator.topic_probs_, p)
        assert ai.cross_entropy == score and ai.train_synthetic_share == 0.0
    refit = stepped(scenario, STEPS)  # the full run's models do refit
    assert not any(
        ai.generator.topic_probs_ is t["topic_probs_"]
        for ai, t in zip(refit.ai_models, before, strict=True)
    )


def test_no_ai_twin_has_no_model_text_at_any_step(scenario, metrics):
    no_ai = rows(metrics, "no_ai")
    for metric in ("ai_share", "synthetic_share", "synthetic_token_share", "human_ai_assist"):
        if metric in registry.BY_NAME:
            assert (no_ai[metric] == 0.0).all(), metric
    full = rows(metrics, FULL)
    assert (full.loc[full["step"] >= 1, "synthetic_share"] > 0.2).all()  # the twin's contrast
    model = simulate(twin_scenarios(scenario)["no_ai"])
    web = model.corpus.since(0)
    assert not web.synthetic.any() and not web.ai_fraction.any()
    assert len(web) >= scenario.web.docs_per_step  # what the metric windows measured


def test_summary_holds_twins_and_paired_effects(metrics):
    summary = summarize(metrics)
    assert len(summary) == REPS and summary["run_id"].tolist() == list(range(REPS))
    alone = {t: summarize(rows(metrics, t)) for t in (FULL, "no_ai", "no_feedback")}
    pd.testing.assert_frame_equal(summary[alone[FULL].columns], alone[FULL], check_exact=True)
    for metric in registry.SUMMARISED:
        for name in ("no_ai", "no_feedback"):
            for column in (metric.final, metric.mean):
                np.testing.assert_array_equal(summary[f"{name}_{column}"], alone[name][column])
        for effect, (plus, minus) in EFFECTS.items():
            np.testing.assert_array_equal(
                summary[f"{effect}_{metric.final}"],
                alone[plus][metric.final] - alone[minus][metric.final],
            )


def test_full_minus_no_ai_is_dilution_plus_feedback_in_every_replication(metrics):
    """An identity of each replication's paired values; floating-point rounding of the two
    subtractions is the only slack (a few ulps of the values)."""
    summary = summarize(metrics)
    for metric in registry.SUMMARISED:
        total, dilution, feedback = (summary[f"{e}_{metric.final}"].to_numpy() for e in EFFECTS)
        scale = np.abs(summary[[metric.final, f"no_ai_{metric.final}"]].to_numpy()).max()
        defined = ~np.isnan(total)
        np.testing.assert_allclose(
            total[defined], (dilution + feedback)[defined], rtol=0, atol=4 * np.spacing(scale)
        )


def test_twins_match_independent_runs_of_the_twin_scenarios(scenario, metrics):
    """The rows run_one stores for a twin are those of simulating the twin scenario alone."""
    for name, config in twin_scenarios(scenario).items():
        alone = metric_frame(simulate(config, replication=1), run_id=1, replication=1)
        stored = rows(metrics, name)
        pd.testing.assert_frame_equal(
            stored[stored["run_id"] == 1].reset_index(drop=True), alone, check_exact=True
        )


def test_paired_interval_is_mean_plus_minus_t_se():
    mean, low, high, n = paired_interval(np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3) · sd / √4
    assert (mean, n) == (2.5, 4) and (low, high) == pytest.approx((2.5 - half, 2.5 + half))
    one = paired_interval(np.array([0.7]))
    assert one[0] == 0.7 and np.isnan(one[1]) and np.isnan(one[2]) and one[3] == 1


def test_paired_interval_covers_the_true_mean_95_percent_of_the_time():
    """Normal differences, n = 5: coverage is exactly 0.95; 4 SE of 2000 trials is 0.019."""
    rng = np.random.default_rng(1)
    trials = 2000
    draws = rng.normal(0.3, 2.0, size=(trials, 5))
    covered = sum(low <= 0.3 <= high for _, low, high, _ in map(paired_interval, draws))
    assert abs(covered / trials - 0.95) < 4 * np.sqrt(0.95 * 0.05 / trials)


def test_decomposition_intervals_cover_the_paired_means(metrics):
    summary = summarize(metrics)
    table = decomposition(summary, [], registry.SUMMARISED).set_index("outcome")
    for metric in registry.SUMMARISED:
        row = table.loc[metric.name]
        assert row["full"] == summary[metric.final].mean()
        assert row["no_ai"] == summary[f"no_ai_{metric.final}"].mean()
        for effect in EFFECTS:
            diffs = summary[f"{effect}_{metric.final}"].dropna()
            if len(diffs) == 0:
                continue
            assert row[effect] == pytest.approx(diffs.mean(), rel=1e-12, abs=1e-15)
            assert row[f"{effect}_low"] <= row[effect] <= row[f"{effect}_high"]
    grouped = decomposition(summary.assign(arm=["a", "b", "a"]), ["arm"], (registry.TOPIC_HILL1,))
    assert grouped["arm"].tolist() == ["a", "b"] and grouped["n"].tolist() == [2, 1]


def test_sweep_with_twins_is_identical_for_any_worker_count(tmp_path):
    scenario = small_scenario(
        steps=2,
        replications=2,
        counterfactuals=True,
        sweep={"arms": {"none": {"filtering.detector": None}}},
    )
    tables = []
    for workers in (1, 2):
        folder, design = sweeps.create(scenario, tmp_path / f"w{workers}")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            sweeps.execute(folder, design, pool)
        status = sweeps.assemble(folder, scenario, design, {"wall_seconds": 0.0})
        assert (status["state"] == sweeps.DONE).all()  # parts with twins pass the checks
        assert (sweeps.read_status(folder, design)["state"] == sweeps.DONE).all()
        tables.append(
            [pd.read_parquet(folder / "metrics.parquet"), pd.read_csv(folder / "summary.csv")]
        )
    (m1, s1), (m2, s2) = tables
    pd.testing.assert_frame_equal(m1, m2, check_exact=True)
    pd.testing.assert_frame_equal(s1, s2, check_exact=True)
    assert set(m1[TWIN]) == {FULL, "no_ai", "no_feedback"} and len(s1) == 2
    assert {"ai_effect_final_topic_hill1", "arm", "design_point"} <= set(s1.columns)


def test_run_twins_option_prints_the_decomposition(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario(steps=2).to_dict()))
    args = ["run", str(path), "--out", str(tmp_path / "runs"), "-q", "-r", "2", "--twins"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "dilution" in result.output and "feedback" in result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert metrics.groupby(TWIN).size().to_dict() == {
        t: 2 * 3 for t in (FULL, "no_ai", "no_feedback")
    }
    assert yaml.safe_load((run_dir / "scenario.yaml").read_text())["counterfactuals"] is True
