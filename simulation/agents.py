"""Agents of the web ecosystem: HumanWriter, AIModel and WebCrawler.

Human writers are many, so their state lives in one `HumanPopulation` of numpy arrays and each
`HumanWriter` is a thin Mesa agent viewing one row; a step is a few array operations, not one
Python call per human. Models and crawlers are few and act as ordinary agents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulation.corpus import Documents
from simulation.generative import TopicWordModel
from simulation.metrics import mean_cosine_similarity
from simulation.policies import CrawlFilter, TrainingPool, TrainingStats
from simulation.scenario import Crawlers, Humans, Models

if TYPE_CHECKING:
    from simulation.content import ContentSpace
    from simulation.corpus import Corpus
    from simulation.network import SiteNetwork


class HumanPopulation:
    """State of all human writers: sparse topic interests, assist share, site, assistant."""

    def __init__(
        self,
        config: Humans,
        content: ContentSpace,
        sites: np.ndarray,
        n_models: int,
        rng: np.random.Generator,
    ):
        n, k = config.count, config.interests
        self.config = config
        self.n_topics = content.n_topics
        # Interests are drawn from p*, so rare topics have few experts.
        self.topics = rng.choice(content.n_topics, size=(n, k), p=content.topic_probs).astype(
            np.int32
        )
        self.weights = rng.dirichlet(np.ones(k), size=n)
        self.assist = np.full(n, config.ai_assist)
        self.site = rng.choice(sites, size=n).astype(np.int32)
        self.assistant = rng.integers(n_models, size=n).astype(np.int16)

    def __len__(self) -> int:
        return self.topics.shape[0]

    def read_and_update(
        self,
        exposure: np.ndarray,
        fading: np.ndarray,
        corpus_topic_share: np.ndarray,
        models: list[AIModel],
        rng: np.random.Generator,
    ) -> None:
        """Copy model patterns in proportion to AI-shaped reading; forget fading topics.

        `exposure` (per site) is the model-written share of what is read around each site;
        `fading` (per topic) is how far the corpus has fallen below reality on each topic.
        """
        cfg = self.config
        e = exposure[self.site]
        self.assist += cfg.copy_rate * e * (1.0 - self.assist)
        copying = rng.random(len(self)) < cfg.copy_rate * e
        if copying.any():
            # The weakest interest is replaced by a topic the assistant writes about, taken up
            # with an average weight: the mixture moves toward the model's topic distribution.
            weakest = np.argmin(self.weights, axis=1)
            for m, model in enumerate(models):
                who = np.flatnonzero(copying & (self.assistant == m))
                if who.size:
                    self.topics[who, weakest[who]] = model.generator.sample_topics(who.size, rng)
            who = np.flatnonzero(copying)
            self.weights[who, weakest[who]] = 1.0 / self.weights.shape[1]
            self.weights[who] /= self.weights[who].sum(axis=1, keepdims=True)
        forget = rng.random(self.topics.shape) < cfg.forget_rate * fading[self.topics]
        n_forget = int(np.count_nonzero(forget))
        if n_forget and corpus_topic_share.sum() > 0:
            self.topics[forget] = rng.choice(self.n_topics, size=n_forget, p=corpus_topic_share)

    def write(
        self,
        n: int,
        step: int,
        content: ContentSpace,
        models: list[AIModel],
        rng: np.random.Generator,
    ) -> Documents:
        """`n` human documents: random authors, topics from their interests, words from p*,
        with a model writing `assist_words` of the words when the author drafts with AI."""
        authors = rng.integers(len(self), size=n)
        cum = np.cumsum(self.weights[authors], axis=1)
        slot = np.minimum(
            (cum < rng.random(n)[:, None] * cum[:, -1:]).sum(axis=1), cum.shape[1] - 1
        )
        topics = self.topics[authors, slot]
        assisted = rng.random(n) < self.assist[authors]
        n_model_words = int(round(self.config.assist_words * content.doc_length))
        if n_model_words == 0:
            assisted[:] = False
        ai_fraction = np.where(assisted, n_model_words / content.doc_length, 0.0)
        # Real words are drawn only where no model writes them.
        plain = np.flatnonzero(~assisted)
        drafted = np.flatnonzero(assisted)
        tokens = np.empty((n, content.doc_length), dtype=content.token_dtype)
        tokens[plain] = content.sample_real_words(topics[plain], content.doc_length, rng)
        if drafted.size:
            tokens[drafted, n_model_words:] = content.sample_real_words(
                topics[drafted], content.doc_length - n_model_words, rng
            )
            for m, model in enumerate(models):
                docs = drafted[self.assistant[authors[drafted]] == m]
                if docs.size:
                    words = model.generator.sample_words(topics[docs], n_model_words, rng)
                    tokens[docs, :n_model_words] = words
        return Documents(
            topic=topics.astype(np.int32),
            tokens=tokens,
            site=self.site[authors],
            author=authors.astype(np.int32),
            model=np.full(n, -1, dtype=np.int16),
            synthetic=np.zeros(n, dtype=bool),
            ai_fraction=ai_fraction.astype(np.float32),
            labeled=np.zeros(n, dtype=bool),
            step=np.full(n, step, dtype=np.int32),
        )

    def homogenization(self) -> float:
        """Mean pairwise cosine similarity of the humans' topic mixtures."""
        return mean_cosine_similarity(self.topics, self.weights, self.n_topics)


class HumanWriter(mesa.Agent):
    """A human writer: a view on one row of the HumanPopulation arrays."""

    def __init__(self, model: mesa.Model, population: HumanPopulation, index: int):
        super().__init__(model)
        self.population = population
        self.index = index

    @property
    def assist(self) -> float:
        """Share of documents this writer drafts with a model."""
        return float(self.population.assist[self.index])

    @property
    def interests(self) -> dict[int, float]:
        """Topic id → weight of this writer's interests (slots on the same topic add up)."""
        row = self.index
        mixture: dict[int, float] = {}
        for t, w in zip(self.population.topics[row], self.population.weights[row], strict=True):
            mixture[int(t)] = mixture.get(int(t), 0.0) + float(w)
        return mixture

    @property
    def site(self) -> int:
        return int(self.population.site[self.index])


class AIModel(mesa.Agent):
    """A generative model: publishes to its content farms, retrains on its crawler's data."""

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
        self.generation = 0
        self.train_synthetic_share = 0.0
        self.cross_entropy = float("nan")

    def publish(self, n: int, step: int, label_rate: float, doc_length: int) -> Documents:
        """`n` synthetic documents on this model's farms; a share carries a provenance label."""
        rng = self.model.rng
        topics, tokens = self.generator.sample(n, doc_length, rng)
        return Documents(
            topic=topics.astype(np.int32),
            tokens=tokens,
            site=rng.choice(self.farms, size=n).astype(np.int32),
            author=np.full(n, -1, dtype=np.int32),
            model=np.full(n, self.index, dtype=np.int16),
            synthetic=np.ones(n, dtype=bool),
            ai_fraction=np.ones(n, dtype=np.float32),
            labeled=rng.random(n) < label_rate,
            step=np.full(n, step, dtype=np.int32),
        )

    def retrain(self) -> None:
        """Refit on the pool's training set; an empty set (all filtered out) keeps the model.

        The cross-entropy on the world's held-out documents changes only here, so it is scored
        once per fit rather than once per step.
        """
        stats: TrainingStats = self.pool.training_set(self.model.rng)
        if stats.total_weight <= 0:
            return
        self.generator.fit_counts(stats.topic_counts, stats.word_counts)
        self.cross_entropy = self.generator.score(self.model.test_topics, self.model.test_tokens)
        self.train_synthetic_share = stats.synthetic_share
        self.generation += 1


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
        self.flagged = np.zeros(0, dtype=bool)
        self.synthetic = np.zeros(0, dtype=bool)

    def visit_order(self) -> np.ndarray:
        """Sites in the order this crawl visits them."""
        rng = self.model.rng
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

    def collect(self, candidates: Documents) -> Documents:
        """Visit sites in order and take their documents until the budget is spent."""
        order = self.visit_order()
        per_site = np.bincount(candidates.site, minlength=self.network.n_sites)[order]
        # The first `full` sites fit the budget whole; the next gives its first documents.
        full = int(np.searchsorted(np.cumsum(per_site), self.config.budget, side="right"))
        rank = np.full(self.network.n_sites, order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        doc_rank = rank[candidates.site]
        take = doc_rank < full
        if full < order.size:
            left = self.config.budget - int(per_site[:full].sum())
            take[np.flatnonzero(doc_rank == full)[:left]] = True
        return candidates.take(take)

    def crawl(self, corpus: Corpus, archive: Documents) -> None:
        """Crawl (fresh documents since the last crawl, or the whole web), filter, hand over."""
        step = self.model.steps
        first = 0 if self.config.scope == "all" else self.last_crawl + 1
        candidates = corpus.since(first if step > 0 else 0)
        self.last_crawl = step
        if candidates is None or len(candidates) == 0:
            return
        crawled = self.collect(candidates)
        result = self.filter.apply(crawled, archive, self.model.rng)
        self.flagged, self.synthetic = result.flagged, result.synthetic
        self.target.pool.add(result.kept, result.weights)
