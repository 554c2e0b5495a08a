"""The closed loop at the level of the estimator, the training pool and the crawl filter.

The cases of this module's users step no `WebEcosystem`: they drive the public pieces every
model step is made of (`TopicWordModel.sample` → `Documents` → `CrawlFilter.apply` →
`TrainingPool.add` / `training_set` → `TopicWordModel.fit_counts`), so each check isolates one
mechanism and its theory is exact. `Chain` builds a loop from a resolved scenario;
`one_step` replays a single fit from one fixed state many times (conditional moments);
`run` steps independent chains (unconditional curves).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from simulation.content import zipf
from simulation.corpus import Documents
from simulation.generative import TopicWordModel
from simulation.policies import CrawlFilter, TrainingPool
from simulation.scenario import Scenario


def reality(sc: Scenario) -> TopicWordModel:
    """p*: Zipf topics and, per topic, the Zipf word law of the scenario's content section."""
    c = sc.content
    words = np.tile(zipf(c.n_words, c.word_zipf), (c.n_topics, 1))
    return TopicWordModel(c.n_topics, c.n_words).fit_counts(zipf(c.n_topics, c.topic_zipf), words)


def documents(model: TopicWordModel, n: int, length: int, rng: np.random.Generator) -> Documents:
    """`n` documents written by `model` (one site, marked as AI-written)."""
    topics, tokens = model.sample(n, length, rng)
    return Documents.new(topics, tokens, np.zeros(n, dtype=np.int32), 1, ai_author=0)


@dataclass
class Chain:
    """One loop: a training pool under the scenario's regime, the model it fitted last, and
    the topic counts of every crawl added so far (for the theory)."""

    sc: Scenario
    regime: str
    reserve: float = 0.0
    pool: TrainingPool = field(init=False)
    model: TopicWordModel = field(init=False)
    archive: Documents = field(init=False)
    crawls: list[np.ndarray] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        m, c = self.sc.models, self.sc.content
        self.pool = TrainingPool(
            self.regime, c.n_topics, c.n_words, window=m.window, budget=m.train_budget
        )
        filtering = self.sc.filtering.model_copy(update={"human_reserve": self.reserve})
        self.filter = CrawlFilter(filtering, np.zeros(c.n_topics, bool), np.zeros(1, bool))

    @property
    def counts(self) -> np.ndarray:
        """(K,) topic counts of the archive crawl as the theory's archive."""
        return self.crawls[0]

    def start(self, rng: np.random.Generator) -> Chain:
        """Crawl the archive (drawn from p*) and fit the first model on it."""
        sc = self.sc
        self.archive = documents(reality(sc), sc.web.archive_docs, sc.content.doc_length, rng)
        self._add(self.archive, np.ones(len(self.archive)), rng)
        return self

    def _add(self, docs: Documents, weights: np.ndarray, rng: np.random.Generator) -> None:
        k = self.sc.content.n_topics
        self.crawls.append(np.bincount(docs.topic, weights, minlength=k))
        self.pool.add(docs, weights)
        stats = self.pool.training_set(rng)
        m = self.sc.models
        self.model = TopicWordModel(
            k, self.sc.content.n_words, smoothing=m.smoothing, top_p=m.top_p, capacity=m.capacity
        ).fit_counts(stats.topic_counts, stats.word_counts)

    def step(self, rng: np.random.Generator) -> Chain:
        """One generation: the model writes N documents, the filter and the pool take them,
        and a new model is fitted."""
        sc = self.sc
        crawl = documents(self.model, sc.web.docs_per_step, sc.content.doc_length, rng)
        kept = self.filter.apply(crawl, self.archive, rng)
        self._add(kept.kept, kept.weights, rng)
        return self

    def kept_counts(self) -> np.ndarray:
        """(K,) topic counts of earlier crawls that the next fit still trains on."""
        k = self.sc.content.n_topics
        if self.regime == "replace" or not self.crawls:
            return np.zeros(k)
        if self.regime == "window":
            older = self.crawls[len(self.crawls) - self.sc.models.window + 1 :]
            return np.sum(older, axis=0) if older else np.zeros(k)
        return np.sum(self.crawls, axis=0)


def one_step(chain: Chain, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(R, K) topic distributions of the model one fit after `chain`'s state, replayed
    `replicates` times from the same state (the chain itself is left unchanged)."""
    out = np.empty((replicates, chain.sc.content.n_topics))
    for r in range(replicates):
        twin = copy.copy(chain)  # shares the archive and the filter, which a step only reads
        twin.pool = copy.deepcopy(chain.pool)
        twin.crawls = list(chain.crawls)
        out[r] = twin.step(rng).model.topic_probs_
    return out


def run(sc: Scenario, regime: str, rng: np.random.Generator) -> np.ndarray:
    """(R, S + 1, K) topic distributions of the model after fits 0..S of R independent chains
    (R = sc.replications, S = sc.steps)."""
    out = np.empty((sc.replications, sc.steps + 1, sc.content.n_topics))
    for r in range(sc.replications):
        chain = Chain(sc, regime).start(rng)
        out[r, 0] = chain.model.topic_probs_
        for t in range(1, sc.steps + 1):
            out[r, t] = chain.step(rng).model.topic_probs_
    return out
