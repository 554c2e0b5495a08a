"""The AI agents: WebCrawler (visit order, budget, scope, hand-over to the pool) and AIModel
(publishing to its farms, retraining on its pool)."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import metrics as M
from simulation.generative import lookup
from simulation.policies import TrainingPool
from simulation.runner import run_one
from tests.conftest import NO_FILTER, small_scenario, stepped


def test_crawl_respects_budget_and_scope():
    scenario = small_scenario(
        steps=2, crawlers={"budget": 1500, "scope": "all"}, filtering=NO_FILTER
    )
    model = stepped(scenario, 2)
    crawler = model.crawlers[0]
    fresh = model.corpus.since(1)
    crawled = crawler.collect(fresh)
    assert len(crawled) == 1500
    assert crawled.step.min() >= 1
    visited = np.unique(crawled.site)
    # Budget spent site by site: every visited site but the last is taken whole.
    taken = np.bincount(crawled.site, minlength=60)[visited]
    available = np.bincount(fresh.site, minlength=60)[visited]
    assert (taken == available).sum() >= len(visited) - 1


def test_collect_equals_a_stable_sort_of_documents_by_visit_rank():
    model = stepped(small_scenario(steps=1, crawlers={"budget": 700}), 1)
    crawler, fresh = model.crawlers[0], model.corpus.since(1)
    order = np.random.default_rng(1).permutation(60)[:45]  # 15 sites unreachable
    crawler.visit_order = lambda: order
    rank = np.full(60, 60)
    rank[order] = np.arange(45)
    doc_rank = rank[fresh.site]
    reachable = np.flatnonzero(doc_rank < 45)
    expected = np.sort(reachable[np.argsort(doc_rank[reachable], kind="stable")[:700]])
    got = crawler.collect(fresh)
    assert len(got) == 700
    for column in ("site", "topic", "author", "step"):
        assert np.array_equal(getattr(got, column), getattr(fresh, column)[expected])


def test_collect_takes_everything_under_the_budget():
    model = stepped(small_scenario(steps=1, crawlers={"budget": 10**6}), 1)
    fresh = model.corpus.since(1)
    got = model.crawlers[0].collect(fresh)  # random order visits every site
    assert len(got) == len(fresh) == model.config.web.docs_per_step
    assert np.array_equal(np.sort(got.site), np.sort(fresh.site))


@pytest.mark.parametrize("strategy", ["random", "pagerank"])
def test_random_and_pagerank_orders_visit_every_site_once(strategy):
    model = stepped(small_scenario(crawlers={"strategy": strategy}))
    order = model.crawlers[0].visit_order()
    assert np.array_equal(np.sort(order), np.arange(60))


def test_pagerank_order_starts_at_a_site_with_probability_its_pagerank():
    model = stepped(small_scenario(crawlers={"strategy": "pagerank"}))
    crawler, rank = model.crawlers[0], model.network.pagerank
    draws = 4000
    first = np.array([crawler.visit_order()[0] for _ in range(draws)])
    for site in (int(np.argmax(rank)), int(np.argsort(rank)[30])):
        p = rank[site] / rank.sum()
        assert abs(np.mean(first == site) - p) < 4 * np.sqrt(p * (1 - p) / draws)


def test_bfs_order_visits_reachable_sites_by_hops_from_the_seeds():
    from scipy.sparse.csgraph import shortest_path

    model = stepped(small_scenario(crawlers={"strategy": "bfs", "seeds": 3}))
    crawler, net = model.crawlers[0], model.network
    order = crawler.visit_order()
    assert len(np.unique(order)) == len(order)
    seeds = order[:3]
    hops = shortest_path(net.adjacency, directed=True, unweighted=True, indices=seeds).min(axis=0)
    assert np.all(hops[seeds] == 0)
    assert np.all(np.diff(hops[order]) >= 0)  # breadth first: never back to fewer hops
    assert np.array_equal(np.sort(order), np.flatnonzero(np.isfinite(hops)))


def test_pagerank_crawl_collects_less_synthetic_text_than_a_random_crawl():
    # One step's fresh documents, crawled to half of them many times in each order on the
    # same web: farms are weakly linked from human sites (web.farm_links = 0.1), so they sit
    # low in PageRank and a PageRank crawl reaches them late. The paired mean difference in
    # synthetic share is tested against 4 SE of the draws (measured: 0.06, SE 0.006). With
    # farms linked like human sites (farm_links = 1) the dense farm cluster gathers rank and
    # the difference turns to −0.10, which this test would flag.
    draws = 150
    for rep in range(2):
        scenario = small_scenario(
            steps=1,
            web={"n_sites": 300, "ai_share": 0.5, "farm_share": 0.1},
            crawlers={"budget": 1000},
        )
        model = stepped(scenario, 1, replication=rep)
        crawler, fresh = model.crawlers[0], model.corpus.since(1)
        shares = {}
        for strategy in ("pagerank", "random"):
            crawler.config = scenario.crawlers.model_copy(update={"strategy": strategy})
            shares[strategy] = np.array(
                [crawler.collect(fresh).synthetic.mean() for _ in range(draws)]
            )
        diff = shares["random"] - shares["pagerank"]
        se = diff.std(ddof=1) / np.sqrt(draws)
        assert diff.mean() > 4 * se
        assert diff.mean() > 0.03  # a clear effect, not only a detectable one
        # A random order is unbiased: its share is the fresh documents' synthetic share.
        spread = shares["random"].std(ddof=1) / np.sqrt(draws)
        assert abs(shares["random"].mean() - fresh.synthetic.mean()) < 4 * spread + 0.01


def test_pagerank_crawl_collects_a_topic_mix_of_its_own_while_a_random_crawl_does_not():
    # Sites specialise (web.site_topics, topic_focus), so which sites a crawl reaches decides
    # which topics it collects. Averaged over many crawls of the same documents, a random order
    # converges to their topic mix (every topic within 4 SE), while a PageRank order keeps a
    # bias of its own, the same at every crawl: the topics of the well-linked sites (measured
    # total variation 0.05–0.06 against 0.007–0.009 for random, 150 crawls, no AI).
    draws = 150
    scenario = small_scenario(
        steps=1, web={"n_sites": 300, "ai_share": 0.0}, crawlers={"budget": 1000}
    )
    model = stepped(scenario, 1)
    crawler, fresh = model.crawlers[0], model.corpus.since(1)
    k = model.content.n_topics
    truth = np.bincount(fresh.topic, minlength=k) / len(fresh)
    tv = {}
    for strategy in ("pagerank", "random"):
        crawler.config = scenario.crawlers.model_copy(update={"strategy": strategy})
        mixes = np.array(
            [np.bincount(crawler.collect(fresh).topic, minlength=k) / 1000 for _ in range(draws)]
        )
        mean, se = mixes.mean(axis=0), mixes.std(axis=0, ddof=1) / np.sqrt(draws)
        tv[strategy] = 0.5 * np.abs(mean - truth).sum()
        if strategy == "random":
            assert np.all(np.abs(mean - truth) <= 4 * se + 1e-12)
    assert tv["pagerank"] > 0.03
    assert tv["pagerank"] > 4 * tv["random"]


@pytest.mark.parametrize("scope,first_step", [("fresh", 3), ("all", 0)])
def test_crawl_scope_fresh_takes_documents_since_the_last_crawl(scope, first_step, monkeypatch):
    # Keep every block, so that what the crawler asks for is what it gets.
    monkeypatch.setattr("simulation.corpus.Corpus.forget_before", lambda self, step: None)
    scenario = small_scenario(crawlers={"scope": scope, "budget": 10**6}, filtering=NO_FILTER)
    model = stepped(scenario, 2)
    crawler = model.crawlers[0]
    seen = []
    original = crawler.collect
    monkeypatch.setattr(
        crawler, "collect", lambda docs, *counts: seen.append(docs) or original(docs, *counts)
    )
    model.step()
    model.step()  # step 4: a generation boundary
    (candidates,) = seen
    assert candidates.step.min() == first_step and candidates.step.max() == 4
    assert crawler.last_crawl == 4
    web = scenario.web
    expected = {"fresh": 2 * web.docs_per_step, "all": web.archive_docs + 4 * web.docs_per_step}
    assert len(candidates) == expected[scope]


def test_a_crawl_given_the_site_counts_takes_what_it_takes_without_them(small_model):
    fresh = small_model.corpus.since(0)
    counts = small_model.corpus.site_counts_since(0)
    assert np.array_equal(counts, np.bincount(fresh.site, minlength=small_model.network.n_sites))
    crawler = small_model.crawlers[0]
    state = crawler.rng.bit_generator.state
    given = crawler.collect(fresh, counts)
    crawler.rng.bit_generator.state = state  # the same visit order
    counted = crawler.collect(fresh)
    assert np.array_equal(given.topic, counted.topic) and np.array_equal(given.site, counted.site)
    assert len(given) == crawler.config.budget


def test_crawl_hands_what_passes_the_filter_to_the_target_pool():
    scenario = small_scenario(
        crawlers={"budget": 1500}, filtering=NO_FILTER, models={"regime": "replace"}
    )
    model = stepped(scenario, 2)
    crawler, ai = model.crawlers[1], model.ai_models[1]
    assert crawler.target is ai
    assert crawler.flagged.shape == crawler.synthetic.shape == (1500,)
    assert not crawler.flagged.any()  # no detector
    stats = ai.pool.training_set(np.random.default_rng(0))
    assert stats.total_weight == 1500
    assert stats.synthetic_weight == crawler.synthetic.sum()
    assert ai.train_synthetic_share == pytest.approx(crawler.synthetic.mean())


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


def test_publish_puts_labelled_synthetic_documents_on_the_models_farms():
    scenario = small_scenario(filtering={"provenance": {"label_rate": 0.3}})
    model = stepped(scenario)
    ai = model.ai_models[1]
    n = 4000
    docs = ai.publish(n, step=5, doc_length=16)
    assert len(docs) == n and docs.tokens.shape == (n, 16)
    assert np.isin(docs.site, ai.farms).all()
    assert (model.network.farm_owner[docs.site] == 1).all()
    assert (docs.ai_author == 1).all() and docs.synthetic.all()
    assert (docs.ai_fraction == 1.0).all() and (docs.step == 5).all() and (docs.author == -1).all()
    # Every word is one the model can decode for the document's topic.
    rows = np.broadcast_to(docs.topic[:, None], docs.tokens.shape)
    assert np.all(lookup(ai.generator.word_probs_, rows, docs.tokens) > 0)
    se = np.sqrt(0.3 * 0.7 / n)
    assert abs(docs.labeled.mean() - 0.3) < 4 * se


def topic_shares_within_4_se(topics: np.ndarray, p: np.ndarray) -> None:
    """Every topic's share of `topics` is within 4 binomial standard errors of `p`, and the
    topics of probability 0 are never drawn."""
    n = topics.size
    freq = np.bincount(topics, minlength=p.size) / n
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) <= 4 * se)


def test_farm_topics_follow_human_demand():
    model = stepped(small_scenario(), 3)  # humans have read, copied and forgotten by now
    ai, humans = model.ai_models[0], model.humans
    # Demand, summed slot by slot: each human's slot weights added to the slot's topic.
    demand = np.zeros(model.content.n_topics)
    np.add.at(demand, humans.topics.ravel(), humans.weights.ravel())
    demand /= demand.sum()
    n = 400_000
    docs = ai.publish(n, step=3, doc_length=1)
    topic_shares_within_4_se(docs.topic, demand)
    # Power: the model's own topic distribution is far from demand, many SEs on some topic.
    se = np.sqrt(demand * (1 - demand) / n) + 1e-12
    assert np.max(np.abs(ai.generator.topic_probs_ - demand) / se) > 20
    # The words are still the model's: decoded from its word distribution of each topic.
    assert np.all(lookup(ai.generator.word_probs_, docs.topic, docs.tokens[:, 0]) > 0)


def test_farm_topics_model_follow_the_fitted_topic_distribution():
    model = stepped(small_scenario(models={"farm_topics": "model"}), 2)
    ai = model.ai_models[1]
    docs = ai.publish(400_000, step=2, doc_length=1)
    topic_shares_within_4_se(docs.topic, ai.generator.topic_probs_)


def test_retrain_fits_the_pool_and_keeps_the_model_when_it_is_empty(small_model):
    model = small_model
    ai = model.ai_models[0]
    batch = model.archive.take(np.arange(30))
    batch.topic[:] = 3
    batch.synthetic[:10] = True  # weights: 10 synthetic × 2, 20 human × 1 → half synthetic
    weights = np.where(batch.synthetic, 2.0, 1.0)
    ai.pool = TrainingPool("replace", model.content.n_topics, model.content.n_words)
    ai.pool.add(batch, weights)
    ai.refit(ai.training_set())
    assert ai.train_synthetic_share == 0.5
    expected_topics = np.zeros(model.content.n_topics)
    expected_topics[3] = 1.0
    assert np.array_equal(ai.generator.topic_probs_, expected_topics)
    held_out = (model.held_out_topics, model.held_out_tokens)
    score = M.smoothed_cross_entropy(ai.generator.topic_probs_, ai.generator.word_probs_, *held_out)
    assert ai.cross_entropy == score
    fitted = ai.generator.word_probs_.copy()
    ai.pool.add(batch.take(np.zeros(0, dtype=np.int64)), np.zeros(0))  # all filtered out
    assert ai.training_set() is None  # nothing to refit on: the model keeps its fit
    assert (ai.generator.word_probs_ != fitted).nnz == 0
    assert ai.train_synthetic_share == 0.5
    assert ai.cross_entropy == score
