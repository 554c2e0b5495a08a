"""The metric registry: one declaration per metric, read by every consumer when it runs."""

from __future__ import annotations

import ast
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from analysis.report import write_report
from simulation import console, registry
from simulation import metrics as M
from simulation.generative import TopicWordModel
from simulation.registry import Metric
from simulation.runner import run_scenario
from tests.conftest import small_scenario, stepped

ROOT = Path(__file__).resolve().parent.parent
HEAD = ["run_id", "replication", "step", "generation"]


def summary_columns() -> list[str]:
    names = [m.name for m in registry.SUMMARISED]
    return (
        ["run_id", "replication", "steps"]
        + [f"final_{n}" for n in names]
        + [f"mean_{n}" for n in names]
    )


def cli_table(run_dir: Path, monkeypatch) -> str:
    """What `ouroboros run` prints for a run folder, on a console wide enough for one line."""
    sink = io.StringIO()
    monkeypatch.setattr(console, "out", Console(file=sink, width=200))
    console.print_summary(run_dir)
    return sink.getvalue()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return run_scenario(small_scenario(steps=4, replications=2), tmp_path_factory.mktemp("runs"))


def test_metrics_table_has_every_registry_column_in_registry_order(run_dir):
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert list(metrics.columns) == [*HEAD, *registry.COLUMNS]


def test_summary_has_final_and_mean_of_exactly_the_summarised_metrics(run_dir):
    assert list(pd.read_csv(run_dir / "summary.csv").columns) == summary_columns()


def test_cli_table_shows_each_cli_metric_by_label_and_unit(run_dir, monkeypatch):
    text = cli_table(run_dir, monkeypatch)
    rows = [line for line in text.splitlines() if "│" in line]
    for metric in registry.shown_in("cli"):
        (row,) = [r for r in rows if f"│ {metric.label} " in r]
        assert metric.unit in row
    assert not any(f" {m.name} " in text for m in registry.METRICS)


@pytest.mark.parametrize("view", ["cli", "outcome", "risk"])
def test_views_read_from_summary_csv_show_only_summarised_metrics(view):
    """The CLI table, the outcome table and the risk sections read `final_` columns."""
    assert all(m.summarised for m in registry.shown_in(view))


def test_registry_is_consistent():
    assert tuple(m.name for m in registry.METRICS) == registry.COLUMNS
    assert len(set(registry.COLUMNS)) == len(registry.COLUMNS)
    assert {m.name: m for m in registry.METRICS} == registry.BY_NAME
    assert tuple(m for m in registry.METRICS if m.summarised) == registry.SUMMARISED
    assert registry.TOPIC_HILL1.title == "Topic diversity (Hill-1) (effective topics)"
    assert registry.HELLINGER.title == registry.HELLINGER.label  # no unit, no brackets


# --- column names are written in the registry only ------------------------------------------


def column_literals() -> set[str]:
    names = set(registry.COLUMNS)
    return names | {f"{prefix}{name}" for name in names for prefix in ("final_", "mean_")}


def literal_uses(path: Path, literals: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in literals
    ]


def test_no_module_but_the_registry_writes_a_metric_column_name():
    """Others refer to `registry.TOPIC_HILL1.name`, `f"final_{m.name}"` or a view's metrics."""
    literals = column_literals()
    registry_file = ROOT / "simulation" / "registry.py"
    assert literal_uses(registry_file, literals)  # the scan does see the declarations
    modules = sorted((ROOT / "simulation").rglob("*.py")) + sorted(
        (ROOT / "analysis").rglob("*.py")
    )
    found = [
        use for path in modules if path != registry_file for use in literal_uses(path, literals)
    ]
    assert not found, "metric column names outside simulation/registry.py:\n" + "\n".join(found)


# --- adding a metric is one declaration -----------------------------------------------------


def _steps_squared(model) -> float:
    return float(model.steps**2)


NEW = Metric(
    "steps_squared",
    "Steps squared",
    "steps²",
    "the step number squared (a test metric)",
    _steps_squared,
    higher_is_diverse=None,
    views=("cli", "outcome", "fan"),
)


@pytest.fixture
def new_metric(monkeypatch):
    """The registry with `NEW` declared after the others, as a new declaration would be."""
    metrics = (*registry.METRICS, NEW)
    monkeypatch.setattr(registry, "METRICS", metrics)
    monkeypatch.setattr(registry, "BY_NAME", {m.name: m for m in metrics})
    monkeypatch.setattr(registry, "COLUMNS", tuple(m.name for m in metrics))
    monkeypatch.setattr(registry, "SUMMARISED", tuple(m for m in metrics if m.summarised))
    return NEW


def test_a_declared_metric_reaches_every_table_and_the_report(new_metric, tmp_path, monkeypatch):
    run_dir = run_scenario(small_scenario(steps=3, replications=2), tmp_path)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert list(metrics.columns) == [*HEAD, *registry.COLUMNS]
    assert metrics.columns[-1] == new_metric.name
    assert metrics[new_metric.name].tolist() == [0.0, 1.0, 4.0, 9.0] * 2
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary.columns) == summary_columns()
    assert summary[f"final_{new_metric.name}"].tolist() == [9.0, 9.0]
    assert summary[f"mean_{new_metric.name}"].tolist() == [14 / 3, 14 / 3]
    assert f"│ {new_metric.label} " in cli_table(run_dir, monkeypatch)
    write_report(run_dir, ("md",))
    assert new_metric.title in (run_dir / "report.md").read_text()
    assert (run_dir / "figures" / f"fan_{new_metric.name}.png").is_file()


def test_a_metric_left_out_of_the_summary_gets_no_summary_columns(monkeypatch, tmp_path):
    quiet = replace(NEW, summarised=False, views=())
    metrics = (*registry.METRICS, quiet)
    monkeypatch.setattr(registry, "METRICS", metrics)
    monkeypatch.setattr(registry, "COLUMNS", tuple(m.name for m in metrics))
    run_dir = run_scenario(small_scenario(steps=2), tmp_path)
    assert pd.read_parquet(run_dir / "metrics.parquet").columns[-1] == quiet.name
    assert list(pd.read_csv(run_dir / "summary.csv").columns) == summary_columns()


# --- metrics read from the models' fits and the crawls --------------------------------------


def test_fit_metrics_of_models_that_are_reality_itself(small_model, monkeypatch):
    """Models equal to p*: nothing missing, every word supported, CE the smoothed score of p*."""
    content = small_model.content
    reality = TopicWordModel(content.n_topics, content.n_words)
    reality.fit_counts(content.topic_probs, content.word_probs)
    for ai in small_model.ai_models:
        monkeypatch.setattr(ai, "generator", reality)
        ai.score_held_out()  # as a refit to reality would
    assert registry.MISSING_MASS.compute(small_model) == 0.0
    n_words = small_model.content.n_words
    assert registry.TAIL_WORD_SUPPORT.compute(small_model) == n_words
    assert registry.HEAD_WORD_SUPPORT.compute(small_model) == n_words
    held_out = small_model.held_out_topics, small_model.held_out_tokens
    expected = M.smoothed_cross_entropy(reality.topic_probs_, reality.word_probs_, *held_out)
    assert registry.MODEL_CROSS_ENTROPY.compute(small_model) == pytest.approx(expected)


def test_window_and_crawl_metrics_are_the_hand_sums(small):
    model = stepped(small, 3)
    docs = model.recent
    length = docs.tokens.shape[1]
    by_hand = float(docs.ai_fraction.astype(float).sum() * length / docs.tokens.size)
    assert registry.SYNTHETIC_TOKEN_SHARE.compute(model) == pytest.approx(by_hand)
    assert by_hand > registry.SYNTHETIC_SHARE.compute(model)  # assisted words count too
    flagged = np.concatenate([c.flagged for c in model.crawlers])
    human = ~np.concatenate([c.synthetic for c in model.crawlers])
    assert registry.HUMAN_FLAG_RATE.compute(model) == flagged[human].mean()
    archive = np.bincount(model.archive.topic, minlength=model.content.n_topics)
    window = np.bincount(docs.topic, minlength=model.content.n_topics)
    assert registry.JS_DIVERGENCE_ARCHIVE.compute(model) == M.js_divergence(window, archive)
    assert registry.JS_DIVERGENCE_ARCHIVE.compute(stepped(small)) == 0.0  # step 0: the archive
