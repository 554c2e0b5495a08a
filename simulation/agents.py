"""The AI agents of the web ecosystem: AIModel (a generative model and its content farms) and
WebCrawler (collects and filters the web for one AIModel).

They are few, so each is an ordinary Mesa agent acting with its own `rng` (Mesa's agent stream).
The many human writers are one vectorised agent set, `simulation.humans.HumanPopulation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulation.corpus import Documents
from simulation.generative import TopicWordModel
from simulation.metrics import smoothed_cross_entropy
from simulation.policies import CrawlFilter, FilterResult, TrainingPool, TrainingStats
from simulation.scenario import Crawlers, Models

if TYPE_CHECKING:
    from simulation.network import SiteNetwork


class AIModel(mesa.Agent):
    """A generative model: publishes to its content farms, retrains on its crawler's data.

    `index` is its position among the AI models (documents record it as `ai_author`, sites as
    `farm_owner`); `generator` is the fitted `TopicWordModel` it samples from; `farm_topics`
    says who picks the topics of its farm documents (`models.farm_topics`).
    """

    def __init__(
        self,
        model: mesa.Model,
        index: int,
        config: Models,
        n_topics: int,
        n_words: int,
        farms: np.ndarray,
    ):
        super().__init__(model)
        self.index = index
        self.farms = farms
        self.farm_topics = config.farm_topics
        self.generator = TopicWordModel(
            n_topics,
            n_words,
            smoothing=config.smoothing,
            temperature=config.temperature,
            top_p=config.top_p,
            capacity=config.capacity,
        )
        self.pool = TrainingPool(
            config.regime, n_topics, n_words, window=config.window, budget=config.train_budget
        )
        # The training set of the last fit, as the metrics read it (its counts are freed).
        self.train_synthetic_share = 0.0
        self.train_token_share = float("nan")
        self.train_topic_counts = np.zeros(n_topics)
        self.cross_entropy = float("nan")

    def publish(self, n: int, step: int, doc_length: int) -> Documents:
        """`n` synthetic documents on this model's farms; a share carries a provenance label
        (`filtering.provenance.label_rate` at `step`: a rate or a schedule).

        The topic of a document is asked for, not decoded: under `farm_topics: demand` it is
        drawn from the humans' current interest mix (`HumanPopulation.mix`: what people read
        and search for, the traffic a farm chases), under `model` from the model's fitted
        topic distribution. The words are then decoded from the model's word distribution of
        that topic.
        """
        rng = self.rng
        if self.farm_topics == "demand":
            demand = self.model.interest_mix()
            topics = rng.choice(demand.size, size=n, p=demand / demand.sum())
        else:
            topics = self.generator.sample_topics(n, rng)
        tokens = self.generator.sample_words(topics, doc_length, rng)
        site = rng.choice(self.farms, size=n)
        labeled = rng.random(n) < self.model.config.label_rate_at(step)
        return Documents.new(
            topics, tokens, site, step, ai_author=self.index, ai_fraction=1.0, labeled=labeled
        )

    def training_set(self) -> TrainingStats | None:
        """What the next fit learns from (a subsample draws from this agent's `rng`), or None
        if the model keeps its fit: an empty set (all filtered out) keeps the model, and with
        `models.feedback` off a fitted model never refits: it stays the fit on the pre-AI
        archive (the no-feedback counterfactual), while its crawler still crawls, so the
        detector metrics go on. Retraining is `refit(training_set())`, in two halves so that
        the models' refits, which draw nothing, run side by side."""
        if self.fitted and not self.model.config.models.feedback:
            return None
        stats: TrainingStats = self.pool.training_set(self.rng)
        return stats if stats.total_weight > 0 else None

    def refit(self, stats: TrainingStats) -> None:
        """Fit the generator to `stats` (no random draws), then score it on the world's
        held-out documents (`score_held_out`): the score changes only here, so it is computed
        once per fit, on the refit's thread, rather than once per step."""
        self.generator.fit_counts(stats.topic_counts, stats.word_counts)
        self.score_held_out()
        self.train_synthetic_share = stats.synthetic_share
        self.train_token_share = stats.model_token_share
        self.train_topic_counts = stats.topic_counts

    def score_held_out(self) -> None:
        """`cross_entropy`: the generator's smoothed cross-entropy on the world's held-out
        documents (`metrics.smoothed_cross_entropy`), whose mean over the models is the
        `model_cross_entropy` metric."""
        generator, world = self.generator, self.model
        self.cross_entropy = smoothed_cross_entropy(
            generator.topic_probs_,
            generator.word_probs_,
            world.held_out_topics,
            world.held_out_tokens,
        )

    @property
    def fitted(self) -> bool:
        """Whether the model has been fitted at least once (it can generate)."""
        return hasattr(self.generator, "topic_probs_")


class WebCrawler(mesa.Agent):
    """Walks the site network with a budget, filters what it collects, feeds one model."""

    def __init__(
        self,
        model: mesa.Model,
        config: Crawlers,
        network: SiteNetwork,
        crawl_filter: CrawlFilter,
        target: AIModel,
    ):
        super().__init__(model)
        self.config = config
        self.network = network
        self.filter = crawl_filter
        self.target = target
        self.last_crawl = 0
        # The last crawl's documents, before filtering: the detector's decisions, the ground
        # truth and the model-written share of each (what the crawl metrics read).
        self.flagged = np.zeros(0, dtype=bool)
        self.synthetic = np.zeros(0, dtype=bool)
        self.ai_fraction = np.zeros(0, dtype=np.float32)

    def visit_order(self) -> np.ndarray:
        """Sites in the order this crawl visits them."""
        rng = self.rng
        net = self.network
        if self.config.strategy == "random":
            return rng.permutation(net.n_sites)
        if self.config.strategy == "pagerank":
            # Weighted random order ∝ PageRank (Efraimidis–Spirakis keys).
            return np.argsort(rng.exponential(size=net.n_sites) / net.pagerank, kind="stable")
        from scipy.sparse.csgraph import shortest_path

        seeds = rng.choice(net.n_sites, size=min(self.config.seeds, net.n_sites), replace=False)
        dist = shortest_path(net.adjacency, directed=True, unweighted=True, indices=seeds)
        hops = dist.min(axis=0)
        order = np.lexsort((rng.random(net.n_sites), hops))
        return order[np.isfinite(hops[order])]

    def collect(self, candidates: Documents, site_counts: np.ndarray | None = None) -> Documents:
        """Visit sites in order and take their documents until the budget is spent.

        `site_counts`, the candidates' documents per site, may be passed when known (every
        crawler of a generation crawls the same candidates: `Corpus.site_counts_since`).
        """
        order = self.visit_order()
        if site_counts is None:
            site_counts = np.bincount(candidates.site, minlength=self.network.n_sites)
        per_site = site_counts[order]
        # The first `full` sites fit the budget whole; the next gives its first documents.
        full = int(np.searchsorted(np.cumsum(per_site), self.config.budget, side="right"))
        whole = np.zeros(self.network.n_sites, dtype=bool)
        whole[order[:full]] = True
        take = whole[candidates.site]
        if full < order.size:
            left = self.config.budget - int(per_site[:full].sum())
            take[np.flatnonzero(candidates.site == order[full])[:left]] = True
        return candidates.take(take)

    def crawl(self) -> FilterResult | None:
        """Crawl (fresh documents since the last crawl, or the whole web) and filter; the
        archive feeds the human reserve. Returns what passes, for `deliver` (None when there
        was nothing to crawl)."""
        step, corpus, archive = self.model.steps, self.model.corpus, self.model.archive
        first = 0 if self.config.scope == "all" or step == 0 else self.last_crawl + 1
        candidates = corpus.since(first)
        self.last_crawl = step
        if candidates is None or len(candidates) == 0:
            return None
        crawled = self.collect(candidates, corpus.site_counts_since(first))
        result = self.filter.apply(crawled, archive, self.rng)
        self.flagged, self.synthetic = result.flagged, result.synthetic
        self.ai_fraction = crawled.ai_fraction
        return result

    def deliver(self, result: FilterResult) -> None:
        """Hand a crawl's filtered documents to the target model's training pool, which counts
        them (no random draws)."""
        self.target.pool.add(result.kept, result.weights)
