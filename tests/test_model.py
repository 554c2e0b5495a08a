"""WebEcosystem: wiring, step order, invariants, pickling and reproducibility; and the collapse
mechanisms that only the whole loop (publish, crawl, filter, retrain) produces.

The tests of each module's agents and objects are in the file named for the module.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from simulation import registry
from simulation.agents import AIModel, WebCrawler
from simulation.humans import HumanPopulation
from simulation.model import WebEcosystem, publishing_quotas
from simulation.runner import run_one
from simulation.scenario import ScenarioError
from tests.conftest import NO_FILTER, finals, mean_final, small_scenario, stepped


def test_agents_counts_and_conservation():
    scenario = small_scenario(steps=5, crawlers={"scope": "all"})
    model = stepped(scenario, 5)
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


def test_wiring_shares_one_world_between_agents(small_model):
    model = small_model
    assert [ai.index for ai in model.ai_models] == [0, 1]
    assert [c.target for c in model.crawlers] == list(model.ai_models)
    for ai in model.ai_models:
        assert np.array_equal(ai.farms, model.network.farm_sites[ai.index])
        assert ai.fitted  # the first crawl of the archive trained every model
    assert model.humans.network is model.network and model.humans.content is model.content
    assert all(c.network is model.network for c in model.crawlers)
    # Step 0: the archive is the whole corpus, on human sites only, and the metrics window.
    assert model.steps == 0 and model.generation == 0
    assert len(model.corpus) == len(model.archive) == model.config.web.archive_docs
    assert model.recent is model.archive
    assert (model.network.farm_owner[model.archive.site] == -1).all()
    assert not model.archive.synthetic.any() and (model.archive.step == 0).all()
    assert model.is_tail.sum() == model.content.tail_topics(0.2).sum()


def test_step_order_read_publish_crawl_retrain_collect(small_model, monkeypatch):
    model = small_model
    calls: list[str] = []
    read_steps: list[np.ndarray] = []

    def spy(obj, method: str, label: str, record=None) -> None:
        original = getattr(obj, method)

        def wrapper(*args, **kwargs):
            calls.append(label)
            if record is not None:
                record(*args)
            return original(*args, **kwargs)

        monkeypatch.setattr(obj, method, wrapper)

    spy(model.humans, "read", "read", lambda docs: read_steps.append(np.unique(docs.step)))
    spy(model.humans, "write", "write")
    for ai in model.ai_models:
        spy(ai, "publish", f"publish{ai.index}")
        spy(ai, "training_set", f"train{ai.index}")
        spy(ai, "refit", f"refit{ai.index}")
    for crawler in model.crawlers:
        spy(crawler, "crawl", f"crawl{crawler.target.index}")
        spy(crawler, "deliver", f"deliver{crawler.target.index}")
    spy(model.datacollector, "collect", "collect")

    model.step()  # step 1: no generation boundary (retrain_every = 2)
    assert calls == ["read", "publish0", "publish1", "write", "collect"]
    calls.clear()
    model.step()  # step 2: crawl and retrain after everyone published
    assert calls[:4] == ["read", "publish0", "publish1", "write"] and calls[-1] == "collect"
    turns = calls[4:-1]  # the models' turns run on threads: only their order within is fixed
    assert sorted(turns) == sorted(
        f"{c}{i}" for c in ("crawl", "deliver", "train", "refit") for i in (0, 1)
    )
    at = turns.index
    assert at("crawl0") < at("crawl1") < at("train0") < at("train1")  # draws: crawls, then sets
    for i in (0, 1):  # a model trains on its own crawl once counted, then refits
        assert at(f"crawl{i}") < at(f"deliver{i}") < at(f"train{i}") < at(f"refit{i}")
    # Humans read the window before the step's own documents are published (window 1).
    assert [s.tolist() for s in read_steps] == [[0], [1]]
    assert model.generation == 1 and model.crawlers[0].last_crawl == 2


def test_publishing_quotas_split_the_step_binomially():
    rng = np.random.default_rng(3)
    n, share, n_models, draws = 1000, 0.3, 3, 2000
    quotas = [publishing_quotas(n, share, n_models, rng) for _ in range(draws)]
    humans = np.array([h for h, _ in quotas])
    per_model = np.array([m for _, m in quotas])
    assert per_model.shape == (draws, n_models)
    assert np.array_equal(humans + per_model.sum(axis=1), np.full(draws, n))
    # AI total ~ Binomial(n, share); each model ~ Binomial(n, share / n_models).
    ai = per_model.sum(axis=1)
    assert abs(ai.mean() - n * share) < 4 * np.sqrt(n * share * (1 - share) / draws)
    assert ai.var() == pytest.approx(n * share * (1 - share), rel=0.15)
    p = share / n_models
    se = np.sqrt(n * p * (1 - p) / draws)
    assert np.all(np.abs(per_model.mean(axis=0) - n * p) < 4 * se)
    assert publishing_quotas(50, 0.0, 2, rng)[0] == 50
    assert publishing_quotas(50, 1.0, 2, rng)[0] == 0


def test_fresh_scope_forgets_unreachable_blocks_without_changing_results(monkeypatch):
    scenario = small_scenario(steps=9, metrics={"window": 2})
    model = stepped(scenario, 9)
    # Last crawl at step 8; the next window (steps 9–10) and crawl (steps 9–10) need step 9 on.
    assert model.corpus.since(0).step.min() == 9
    assert len(model.corpus) == scenario.web.archive_docs + 9 * scenario.web.docs_per_step
    forgetting = run_one(scenario).metrics
    monkeypatch.setattr("simulation.corpus.Corpus.forget_before", lambda self, step: None)
    keeping = run_one(scenario).metrics
    pd.testing.assert_frame_equal(forgetting, keeping)


def test_a_first_crawl_filtered_to_nothing_is_a_scenario_error():
    everything_flagged = {"detector": {"tpr": 1.0, "fpr": 1.0}}
    with pytest.raises(ScenarioError, match="filtering removed every document"):
        stepped(small_scenario(filtering=everything_flagged))


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
    a = stepped(scenario, replication=0)
    b = stepped(scenario, replication=1)
    assert np.array_equal(a.content.word_probs, b.content.word_probs)
    assert not np.array_equal(a.archive.topic, b.archive.topic)


def test_default_rng_is_replication_zero(small):
    implicit = WebEcosystem(small)
    explicit = stepped(small)
    assert np.array_equal(implicit.archive.tokens, explicit.archive.tokens)
    assert np.array_equal(implicit.network.farm_owner, explicit.network.farm_owner)


def test_a_model_pickled_mid_run_continues_to_the_same_metrics():
    scenario = small_scenario(steps=8)
    straight = stepped(scenario, 3)
    paused = stepped(scenario, 3)
    resumed = pickle.loads(pickle.dumps(paused))
    for _ in range(5):
        straight.step()
        resumed.step()
    pd.testing.assert_frame_equal(
        resumed.datacollector.get_model_vars_dataframe(),
        straight.datacollector.get_model_vars_dataframe(),
    )
    assert resumed.steps == 8 and resumed.generation == straight.generation == 4


# Collapse mechanisms: each model setting moves the metric it should, the way it should. They
# need the whole loop (models publish, crawlers collect, models retrain on what they published).

COLLAPSE = {"web": {"ai_share": 0.95}, "filtering": NO_FILTER, "steps": 30}


def test_replace_loses_tail_faster_than_accumulate():
    harsh = {**COLLAPSE, "crawlers": {"budget": 300}}
    one = {"top_p": 1.0, "count": 1, "retrain_every": 1}
    replace = finals(**harsh, models={"regime": "replace", **one})
    accumulate = finals(**harsh, models={"regime": "accumulate", **one})
    assert replace["tail_survival"].mean() < accumulate["tail_survival"].mean() - 0.1
    assert replace["model_cross_entropy"].mean() > accumulate["model_cross_entropy"].mean()


def test_truncation_cuts_the_word_tail_not_the_topics():
    """top_p acts on words given the topic (ODD 7.2): the corpus' words narrow and the models
    lose p* mass, while every topic stays in the models' topic distribution."""
    truncated = finals(models={"top_p": 0.8}, **COLLAPSE)
    full = finals(models={"top_p": 1.0}, **COLLAPSE)
    assert truncated["word_hill1"].mean() < 0.5 * full["word_hill1"].mean()
    assert truncated["missing_mass"].mean() > full["missing_mass"].mean() + 0.05
    assert (truncated["tail_survival"] == 1.0).all()


def test_low_temperature_narrows_the_words():
    cold = mean_final(metric="word_hill1", models={"temperature": 0.5, "top_p": 1.0}, **COLLAPSE)
    warm = mean_final(metric="word_hill1", models={"temperature": 1.0, "top_p": 1.0}, **COLLAPSE)
    assert cold < 0.5 * warm


def test_smoothing_keeps_every_tail_topic_alive():
    smooth = finals(3, models={"smoothing": 0.5, "top_p": 1.0, "regime": "replace"}, **COLLAPSE)
    assert (smooth["tail_survival"] == 1.0).all()


def test_small_capacity_raises_cross_entropy():
    small = mean_final(3, metric="model_cross_entropy", models={"capacity": 10})
    full = mean_final(3, metric="model_cross_entropy", models={"capacity": None})
    assert small > full + 1.0
