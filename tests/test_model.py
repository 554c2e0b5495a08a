"""WebEcosystem: invariants, and each mechanism moving the metric it should, the way it should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation import registry
from simulation.agents import AIModel, WebCrawler
from simulation.humans import HumanPopulation
from simulation.model import WebEcosystem
from simulation.runner import run_one, run_seed
from tests.conftest import small_scenario

NO_FILTER = {"detector": None, "provenance": {"label_rate": 0.0, "honored": False}}


def finals(reps: int = 6, **sections) -> pd.DataFrame:
    """Final metric rows of `reps` replications of a small scenario."""
    scenario = small_scenario(**sections)
    rows = [run_one(scenario, run_id=r, replication=r).metrics.iloc[-1] for r in range(reps)]
    return pd.DataFrame(rows)


def mean(reps: int = 6, *, metric: str, **sections) -> float:
    return float(finals(reps, **sections)[metric].mean())


def test_agents_counts_and_conservation():
    scenario = small_scenario(steps=5, crawlers={"scope": "all"})
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    for _ in range(5):
        model.step()
    (pop,) = model.agents_by_type[HumanPopulation]  # one vectorised agent set, a row a writer
    assert pop is model.humans and len(pop) == scenario.humans.count
    assert pop.topics.shape == pop.weights.shape == (scenario.humans.count, 3)
    assert np.isin(pop.site, model.network.human_sites).all()
    assert len(model.agents_by_type[AIModel]) == scenario.models.count
    assert len(model.agents_by_type[WebCrawler]) == scenario.models.count
    expected = scenario.web.archive_docs + 5 * scenario.web.docs_per_step
    assert len(model.corpus) == expected == model.corpus.docs_per_site.sum()
    everything = model.corpus.since(0)
    assert len(everything) == expected
    assert np.array_equal(np.bincount(everything.site, minlength=60), model.corpus.docs_per_site)
    assert (everything.synthetic == (everything.ai_author >= 0)).all()
    farms = model.network.farm_owner[everything.site]
    assert (farms[everything.synthetic] == everything.ai_author[everything.synthetic]).all()
    assert (farms[~everything.synthetic] == -1).all()
    np.testing.assert_allclose(model.humans.weights.sum(axis=1), 1.0)
    for m in model.ai_models:
        assert m.generator.topic_probs_.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(m.generator.word_probs_.sum(axis=1), 1.0)
    assert model.generation == 2 and model.steps == 5
    df = model.datacollector.get_model_vars_dataframe()
    assert list(df.columns) == ["generation", *registry.COLUMNS] and len(df) == 6


def test_fresh_scope_forgets_unreachable_blocks_without_changing_results(monkeypatch):
    scenario = small_scenario(steps=9, metrics={"window": 2})
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    for _ in range(9):
        model.step()
    # Last crawl at step 8; the next window (steps 9–10) and crawl (steps 9–10) need step 9 on.
    assert model.corpus.since(0).step.min() == 9
    assert len(model.corpus) == scenario.web.archive_docs + 9 * scenario.web.docs_per_step
    forgetting = run_one(scenario).metrics
    monkeypatch.setattr("simulation.corpus.Corpus.forget_before", lambda self, step: None)
    keeping = run_one(scenario).metrics
    pd.testing.assert_frame_equal(forgetting, keeping)


def test_synthetic_share_follows_scheduled_ai_share():
    schedule = {"start": 0.05, "end": 0.9, "shape": "logistic"}
    scenario = small_scenario(steps=20, web={"ai_share": schedule, "docs_per_step": 4000})
    metrics = run_one(scenario).metrics.iloc[1:]
    a = metrics["ai_share"].to_numpy()
    expected = [scenario.ai_share_at(t) for t in range(1, 21)]
    np.testing.assert_allclose(a, expected)
    se = np.sqrt(a * (1 - a) / 4000)
    assert np.all(np.abs(metrics["synthetic_share"] - a) < 5 * se)


def test_hill_numbers_ordered_every_step():
    metrics = run_one(small_scenario(steps=10)).metrics
    assert (metrics["topic_richness"] >= metrics["topic_hill1"]).all()
    assert (metrics["topic_hill1"] >= metrics["topic_hill2"]).all()
    # Precision/recall are undefined (NaN) until a crawl has seen synthetic documents.
    after_first_crawl = metrics[metrics["generation"] >= 1]
    assert after_first_crawl[list(registry.COLUMNS)].notna().all().all()


def test_replications_differ_and_share_the_world():
    scenario = small_scenario(steps=4)
    a = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    b = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 1))
    assert np.array_equal(a.content.word_probs, b.content.word_probs)
    assert not np.array_equal(a.archive.topic, b.archive.topic)


@pytest.mark.parametrize(
    "on,off",
    [
        ({"detector": {"tpr": 0.95, "fpr": 0.05}}, {"detector": None}),
        (
            {"detector": None, "provenance": {"label_rate": 0.8, "honored": True}},
            {"detector": None, "provenance": {"label_rate": 0.8, "honored": False}},
        ),
        ({**NO_FILTER, "human_reserve": 0.5}, NO_FILTER),
    ],
    ids=["detector", "provenance", "human_reserve"],
)
def test_filters_lower_synthetic_share_of_training_data(on, off):
    web = {"ai_share": 0.6}
    with_policy = mean(metric="train_synthetic_share", filtering=on, web=web)
    without = mean(metric="train_synthetic_share", filtering=off, web=web)
    assert with_policy < 0.8 * without


COLLAPSE = {"web": {"ai_share": 0.95}, "filtering": NO_FILTER, "steps": 30}


def test_replace_loses_tail_faster_than_accumulate():
    harsh = {**COLLAPSE, "crawlers": {"budget": 300}}
    one = {"top_p": 1.0, "count": 1, "retrain_every": 1}
    replace = finals(**harsh, models={"regime": "replace", **one})
    accumulate = finals(**harsh, models={"regime": "accumulate", **one})
    assert replace["tail_survival"].mean() < accumulate["tail_survival"].mean() - 0.1
    assert replace["model_cross_entropy"].mean() > accumulate["model_cross_entropy"].mean()


def test_truncation_cuts_the_tail():
    truncated = mean(metric="tail_survival", models={"top_p": 0.8}, **COLLAPSE)
    full = mean(metric="tail_survival", models={"top_p": 1.0}, **COLLAPSE)
    assert truncated < full - 0.2


def test_low_temperature_narrows_the_corpus():
    cold = mean(metric="topic_hill1", models={"temperature": 0.5, "top_p": 1.0}, **COLLAPSE)
    warm = mean(metric="topic_hill1", models={"temperature": 1.0, "top_p": 1.0}, **COLLAPSE)
    assert cold < 0.8 * warm


def test_smoothing_keeps_every_tail_topic_alive():
    smooth = finals(3, models={"smoothing": 0.5, "top_p": 1.0, "regime": "replace"}, **COLLAPSE)
    assert (smooth["tail_survival"] == 1.0).all()


def test_small_capacity_raises_cross_entropy():
    small = mean(3, metric="model_cross_entropy", models={"capacity": 10})
    full = mean(3, metric="model_cross_entropy", models={"capacity": None})
    assert small > full + 1.0


def test_copying_raises_assist_and_homogenises_humans():
    web = {"ai_share": 0.8}
    none = finals(4, humans={"copy_rate": 0.0, "ai_assist": 0.1}, web=web, models={"top_p": 0.7})
    copy = finals(4, humans={"copy_rate": 0.3, "ai_assist": 0.1}, web=web, models={"top_p": 0.7})
    assert (none["human_ai_assist"] == 0.1).all()
    assert copy["human_ai_assist"].mean() > 0.3
    # Same seeds in both arms: compare replication by replication.
    gain = copy["human_homogenization"].to_numpy() - none["human_homogenization"].to_numpy()
    assert (gain > 0.03).all(), gain


def mean_after_run(measure, reps: int = 4, **sections) -> float:
    """Mean over `reps` replications of `measure(model)` taken after the last step."""
    scenario = small_scenario(**sections)
    values = []
    for rep in range(reps):
        model = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, rep))
        for _ in range(scenario.steps):
            model.step()
        values.append(measure(model))
    return float(np.mean(values))


def tail_interest_share(model: WebEcosystem) -> float:
    return model.is_tail[model.humans.topics].mean()


def model_tail_mass(model: WebEcosystem) -> float:
    return registry.model_topic_probs(model)[:, model.is_tail].sum(axis=1).mean()


def test_forgetting_drops_fading_tail_interests():
    common = {"web": {"ai_share": 0.9}, "models": {"top_p": 0.6}, "steps": 20}
    forget = mean_after_run(
        tail_interest_share, humans={"forget_rate": 0.3, "copy_rate": 0.0}, **common
    )
    keep = mean_after_run(
        tail_interest_share, humans={"forget_rate": 0.0, "copy_rate": 0.0}, **common
    )
    assert forget < 0.7 * keep


def test_tail_protection_raises_tail_mass_in_models():
    common = {"web": {"ai_share": 0.7}, "models": {"regime": "replace"}, "steps": 12}
    detector = {"detector": {"tpr": 0.9, "fpr": 0.5}}
    protected = mean_after_run(
        model_tail_mass, filtering={**detector, "protect_tail": True, "tail_weight": 4.0}, **common
    )
    plain = mean_after_run(model_tail_mass, filtering=detector, **common)
    assert protected > 1.5 * plain


def test_assist_words_set_model_share_of_human_documents():
    scenario = small_scenario(
        steps=2, humans={"ai_assist": 1.0, "assist_words": 0.25, "copy_rate": 0.0}
    )
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    model.step()
    human = model.recent  # window 1: the documents of step 1
    assert (human.step == 1).all()
    human = human.take(~human.synthetic)
    assert np.all(human.ai_fraction == 0.25)


@pytest.mark.parametrize("strategy", ["random", "bfs", "pagerank"])
@pytest.mark.parametrize("scope", ["fresh", "all"])
@pytest.mark.parametrize("regime", ["replace", "accumulate", "window", "subsample"])
def test_every_strategy_scope_and_regime_runs(strategy, scope, regime):
    scenario = small_scenario(
        steps=4, crawlers={"strategy": strategy, "scope": scope}, models={"regime": regime}
    )
    metrics = run_one(scenario).metrics
    assert metrics["generation"].iloc[-1] == 2
    assert metrics["tail_survival"].between(0, 1).all()


def test_crawl_respects_budget_and_scope():
    scenario = small_scenario(
        steps=2, crawlers={"budget": 1500, "scope": "all"}, filtering=NO_FILTER
    )
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    crawler = model.crawlers[0]
    model.step()
    model.step()
    fresh = model.corpus.since(1)
    crawled = crawler.collect(fresh)
    assert len(crawled) == 1500
    assert crawled.step.min() >= 1
    visited = np.unique(crawled.site)
    # Budget spent site by site: every visited site but the last is taken whole.
    taken = np.bincount(crawled.site, minlength=60)[visited]
    available = np.bincount(fresh.site, minlength=60)[visited]
    assert (taken == available).sum() >= len(visited) - 1


def test_a_model_pickled_mid_run_continues_to_the_same_metrics():
    import pickle

    scenario = small_scenario(steps=8)
    straight = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    paused = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, 0))
    for _ in range(3):
        straight.step()
        paused.step()
    resumed = pickle.loads(pickle.dumps(paused))
    for _ in range(5):
        straight.step()
        resumed.step()
    pd.testing.assert_frame_equal(
        resumed.datacollector.get_model_vars_dataframe(),
        straight.datacollector.get_model_vars_dataframe(),
    )
    assert resumed.steps == 8 and resumed.generation == straight.generation == 4
