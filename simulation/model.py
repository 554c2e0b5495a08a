"""WebEcosystem: the Mesa model. It wires content, network, agents and metrics; the agents act.

Step order (docs/ODD.md, "Process overview"): humans read and update → humans and AI models
publish → at a generation boundary, crawlers crawl and filter, then AI models retrain → metrics
are collected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial

import mesa
import numpy as np
from mesa.agentset import AbstractAgentSet

from simulation import registry
from simulation.agents import AIModel, WebCrawler
from simulation.corpus import Corpus, Documents
from simulation.humans import HumanPopulation
from simulation.network import SiteNetwork
from simulation.policies import CrawlFilter
from simulation.scenario import Scenario, ScenarioError
from simulation.threads import run_each, signalling
from simulation.world import world_of


def publishing_quotas(
    n_docs: int, ai_share: float, n_models: int, rng: np.random.Generator
) -> tuple[int, np.ndarray]:
    """How many of a step's `n_docs` new documents humans write, and how many each AI model
    publishes: a binomial AI total at `ai_share`, split evenly in expectation over the models."""
    n_ai = int(rng.binomial(n_docs, ai_share))
    per_model = rng.multinomial(n_ai, np.full(n_models, 1 / n_models))
    return n_docs - n_ai, per_model


class WebEcosystem(mesa.Model):
    """Human writers, AI models and crawlers on a content network; see docs/ODD.md."""

    def __init__(self, scenario: Scenario, rng: int | np.random.SeedSequence | None = None):
        if rng is None:  # as replication 0 of `ouroboros run`, not the world's own stream
            rng = np.random.SeedSequence(scenario.seed, spawn_key=(0, 0))
        super().__init__(rng=rng)
        self.config = scenario
        world = world_of(scenario)  # built once per process, shared read-only
        self.content = world.content
        self.held_out_topics, self.held_out_tokens = world.held_out_topics, world.held_out_tokens
        self.is_tail = self.content.tail_topics(scenario.metrics.tail_fraction)
        self.network = SiteNetwork(
            scenario.web, scenario.models.count, self.rng, topic_probs=self.content.topic_probs
        )
        self.corpus = Corpus(self.network.n_sites)
        self.generation = 0

        HumanPopulation(
            self,
            scenario.humans,
            self.content,
            self.network,
            n_assistants=scenario.models.count,
            ai_assist_at=scenario.ai_assist_at,
        )
        for m in range(scenario.models.count):
            AIModel(
                self,
                m,
                scenario.models,
                self.content.n_topics,
                self.content.n_words,
                self.network.farm_sites[m],
            )
        crawl_filter = CrawlFilter(
            scenario.filtering,
            self.is_tail,
            self.network.is_human_site(),
            reality_tail_share=float(self.content.topic_probs[self.is_tail].sum()),
        )
        for ai in self.ai_models:
            WebCrawler(self, scenario.crawlers, self.network, crawl_filter, ai)

        self.archive = self._make_archive()
        self.corpus.publish(self.archive, step=0)
        self.crawl_and_retrain()
        if not all(ai.fitted for ai in self.ai_models):
            raise ScenarioError(
                [
                    f"{scenario.name}: filtering removed every document of the first crawl of the "
                    "pre-AI archive, so a model has nothing to learn from; lower "
                    "filtering.detector.fpr or set filtering.protect_tail"
                ]
            )
        self.recent = self.archive
        self.datacollector = mesa.DataCollector(
            model_reporters={"generation": "generation", **registry.reporters()}
        )
        self.datacollector.collect(self)

    @property
    def humans(self) -> HumanPopulation:
        """The human writers (one vectorised agent set)."""
        return self.agents_by_type[HumanPopulation][0]

    @property
    def ai_models(self) -> AbstractAgentSet:
        """The AI models, in index order."""
        return self.agents_by_type[AIModel]

    @property
    def crawlers(self) -> AbstractAgentSet:
        """The web crawlers, one per AI model, in the models' order."""
        return self.agents_by_type[WebCrawler]

    def interest_mix(self) -> np.ndarray:
        """The humans' interest mix (`HumanPopulation.mix`) as they publish this step: every
        farm under `farm_topics: demand` reads it, so it is computed once per step (humans
        change their interests only when they read, at the start of a step)."""
        cached = getattr(self, "_interest_mix", None)
        if cached is None or cached[0] != self.steps:
            cached = self._interest_mix = (self.steps, self.humans.mix())
        return cached[1]

    @property
    def ai_share(self) -> float:
        """AI share of the new documents scheduled for the current step."""
        return self.config.ai_share_at(max(self.steps, 1))

    def _make_archive(self) -> Documents:
        """The pre-AI web: `archive_docs` real documents on human sites, placed by topic
        (`SiteNetwork.place`: mostly on sites whose profile holds the document's topic)."""
        n = self.config.web.archive_docs
        topics, tokens = self.content.sample_real(n, self.rng)
        return Documents.new(topics, tokens, self.network.place(topics, self.rng), 0)

    def step(self) -> None:
        """One publishing round, in the ODD's order."""
        cfg, t = self.config, self.steps
        self.humans.read(self.corpus.since(t - cfg.humans.reading_window))

        n_human, per_model = publishing_quotas(
            cfg.web.docs_per_step, self.ai_share, cfg.models.count, self.rng
        )
        length = cfg.content.doc_length
        batches = [
            ai.publish(int(k), t, length)
            for ai, k in zip(self.ai_models, per_model, strict=True)
            if k > 0
        ]
        batches.append(self.humans.write(n_human, t, self.ai_models))
        self.corpus.publish(Documents.concat(batches), step=t)

        if t % cfg.models.retrain_every == 0:
            self.crawl_and_retrain()
            self.generation += 1

        self.recent = self.corpus.since(t - cfg.metrics.window + 1)
        self._forget_unreachable()
        self.datacollector.collect(self)
        if t >= cfg.steps:
            self.running = False

    def crawl_and_retrain(self) -> None:
        """Every crawler crawls, then every model retrains on its pool.

        The random draws are made on this thread, agent after agent: every crawl (visit
        order, detector decisions, reserve picks), then every training set (subsample picks).
        Meanwhile the models' turns, which draw nothing, run on `threads.run_each`: each crawl
        is counted into its model's pool, and a model refits as soon as its pool holds its
        crawl, while the others still count. The same results on any number of threads.
        """
        counted: dict[AIModel, threading.Event] = {}

        def turns() -> Iterator[Callable[[], None]]:
            for crawler in self.crawlers:
                kept = crawler.crawl()
                if kept is not None:
                    counted[crawler.target] = done = threading.Event()
                    yield signalling(partial(crawler.deliver, kept), done)
            self.corpus.release()  # the crawls' shared candidates: every crawl is drawn
            for ai in self.ai_models:
                if ai in counted:
                    counted[ai].wait()  # its crawl counted: the pool is complete
                stats = ai.training_set()
                if stats is not None:
                    yield partial(ai.refit, stats)

        run_each(turns())

    def _forget_unreachable(self) -> None:
        """Under fresh crawls, drop corpus blocks that no later reader, metric or crawl reaches.

        Later steps read only the next reading and metrics windows and what the next crawl
        collects (the archive for the human reserve is kept apart).
        """
        cfg, t = self.config, self.steps
        if cfg.crawlers.scope != "fresh":
            return
        next_metrics_window = t - cfg.metrics.window + 2
        next_reading_window = t - cfg.humans.reading_window + 1
        next_crawl_from = min(c.last_crawl for c in self.crawlers) + 1
        self.corpus.forget_before(min(next_metrics_window, next_reading_window, next_crawl_from))
