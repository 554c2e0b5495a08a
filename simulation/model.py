"""WebEcosystem: the Mesa model that wires content, network, agents, policies and metrics.

Step order: humans read and update → humans and models publish → crawlers crawl and filter
(at generation boundaries) → models retrain → metrics collected.
"""

from __future__ import annotations

import ctypes

import mesa
import numpy as np

from simulation import metrics as M
from simulation.agents import AIModel, HumanPopulation, HumanWriter, WebCrawler
from simulation.content import ContentSpace
from simulation.corpus import Corpus, Documents
from simulation.network import SiteNetwork
from simulation.policies import CrawlFilter
from simulation.scenario import Scenario, ScenarioError

METRIC_COLUMNS = (
    "ai_share",
    "topic_richness",
    "topic_hill1",
    "topic_hill2",
    "word_hill1",
    "tail_mass",
    "tail_survival",
    "js_divergence",
    "hellinger",
    "model_cross_entropy",
    "synthetic_share",
    "train_synthetic_share",
    "detector_precision",
    "detector_recall",
    "human_ai_assist",
    "human_homogenization",
)
TEST_DOCS = 500


def keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of returning them to the OS (Linux only).

    Every model refit allocates K x V temporaries; fresh pages for each cost page faults that
    were half of a medium run's time (see benchmarks/PROFILE.md). No effect on results.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: blocks up to 1 GiB come from the heap
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap for reuse


def world_rng(scenario: Scenario) -> np.random.Generator:
    """The stream that draws reality (p*) and the held-out test documents.

    It depends only on the root seed, so every replication and design point shares one world.
    """
    return np.random.default_rng(np.random.SeedSequence(scenario.seed))


class WebEcosystem(mesa.Model):
    """Human writers, AI models and crawlers on a content network; see docs/ODD.md."""

    def __init__(self, scenario: Scenario, rng: int | np.random.SeedSequence | None = None):
        if rng is None:  # as replication 0 of `ouroboros run`, not the world's own stream
            rng = np.random.SeedSequence(scenario.seed, spawn_key=(0, 0))
        super().__init__(rng=rng)
        keep_freed_memory()
        self.config = scenario
        world = world_rng(scenario)
        self.content = ContentSpace(scenario.content, world)
        self.test_topics, self.test_tokens = self.content.sample_real(TEST_DOCS, world)
        self.is_tail = self.content.tail_topics(scenario.metrics.tail_fraction)
        self.network = SiteNetwork(scenario.web, scenario.models.count, self.rng)
        self.corpus = Corpus(self.network.n_sites)
        self.generation = 0

        self.population = HumanPopulation(
            scenario.humans,
            self.content,
            self.network.human_sites,
            scenario.models.count,
            self.rng,
        )
        for i in range(len(self.population)):
            HumanWriter(self, self.population, i)
        self.ai_models = [
            AIModel(
                self,
                m,
                scenario.models,
                self.content.n_topics,
                self.content.n_words,
                self.network.farm_sites[m],
            )
            for m in range(scenario.models.count)
        ]
        crawl_filter = CrawlFilter(scenario.filtering, self.is_tail, self.network.is_human_site())
        self.crawlers = [
            WebCrawler(self, scenario.crawlers, self.network, crawl_filter, model)
            for model in self.ai_models
        ]

        self.archive = self._make_archive()
        self.corpus.publish(self.archive, step=0)
        for crawler in self.crawlers:
            crawler.crawl(self.corpus, self.archive)
        for model in self.ai_models:
            model.retrain()
            model.generation = 0
        if not all(hasattr(m.generator, "topic_probs_") for m in self.ai_models):
            raise ScenarioError(
                [
                    f"{scenario.name}: filtering removed every document of the first crawl of the "
                    "pre-AI archive, so a model has nothing to learn from; lower "
                    "filtering.detector.fpr or set filtering.protect_tail"
                ]
            )

        self.latest: dict[str, float] = {}
        self.recent: Documents = self.archive
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "generation": "generation",
                **{name: (lambda m, key=name: m.latest[key]) for name in METRIC_COLUMNS},
            }
        )
        self._measure()
        self.datacollector.collect(self)

    def _make_archive(self) -> Documents:
        """The pre-AI web: `archive_docs` real documents spread over human sites."""
        n = self.config.web.archive_docs
        topics, tokens = self.content.sample_real(n, self.rng)
        return Documents(
            topic=topics.astype(np.int32),
            tokens=tokens,
            site=self.rng.choice(self.network.human_sites, size=n).astype(np.int32),
            author=np.full(n, -1, dtype=np.int32),
            model=np.full(n, -1, dtype=np.int16),
            synthetic=np.zeros(n, dtype=bool),
            ai_fraction=np.zeros(n, dtype=np.float32),
            labeled=np.zeros(n, dtype=bool),
            step=np.zeros(n, dtype=np.int32),
        )

    @property
    def ai_share(self) -> float:
        """AI share of the new documents scheduled for the current step."""
        return self.config.ai_share_at(max(self.steps, 1))

    def step(self) -> None:
        """One publishing round."""
        cfg = self.config
        t = self.steps
        self._humans_read()

        n_docs = cfg.web.docs_per_step
        n_ai = int(self.rng.binomial(n_docs, self.ai_share))
        per_model = self.rng.multinomial(n_ai, np.full(cfg.models.count, 1 / cfg.models.count))
        label_rate = cfg.filtering.provenance.label_rate
        batches = [
            model.publish(int(k), t, label_rate, cfg.content.doc_length)
            for model, k in zip(self.ai_models, per_model, strict=True)
            if k > 0
        ]
        batches.append(
            self.population.write(n_docs - n_ai, t, self.content, self.ai_models, self.rng)
        )
        self.corpus.publish(Documents.concat(batches), step=t)

        if t % cfg.models.retrain_every == 0:
            for crawler in self.crawlers:
                crawler.crawl(self.corpus, self.archive)
            for model in self.ai_models:
                model.retrain()
            self.generation += 1

        self.recent = self.corpus.since(t - cfg.metrics.window + 1)
        if cfg.crawlers.scope == "fresh":
            # Later steps read only the next metrics window and what the next crawl collects
            # (the archive for the human reserve is kept apart), so older blocks can go.
            next_crawl_from = min(c.last_crawl for c in self.crawlers) + 1
            self.corpus.forget_before(min(t - cfg.metrics.window + 2, next_crawl_from))
        self._measure()
        self.datacollector.collect(self)
        if t >= cfg.steps:
            self.running = False

    def _humans_read(self) -> None:
        """Humans read the recent window around their sites and update."""
        docs = self.recent
        n_sites = self.network.n_sites
        ai_words = np.bincount(docs.site, weights=docs.ai_fraction, minlength=n_sites)
        n_read = np.bincount(docs.site, minlength=n_sites).astype(np.float64)
        num, den = self.network.reading @ ai_words, self.network.reading @ n_read
        exposure = np.divide(num, den, out=np.zeros(n_sites), where=den > 0)
        share = self.corpus_topic_share
        fading = np.clip(1.0 - share / self.content.topic_probs, 0.0, 1.0)
        self.population.read_and_update(exposure, fading, share, self.ai_models, self.rng)

    @property
    def corpus_topic_share(self) -> np.ndarray:
        """Topic distribution of the recent corpus window."""
        counts = np.bincount(self.recent.topic, minlength=self.content.n_topics)
        return counts / max(counts.sum(), 1)

    def model_topic_probs(self) -> np.ndarray:
        """(models, topics) sampling distributions of the models' topics."""
        return np.stack([m.generator.topic_probs_ for m in self.ai_models])

    def topic_distributions(self) -> dict[str, np.ndarray]:
        """Reality, the recent corpus and the average model over topics (for rank-frequency)."""
        return {
            "reality": self.content.topic_probs,
            "corpus": self.corpus_topic_share,
            "models": self.model_topic_probs().mean(axis=0),
        }

    def _measure(self) -> None:
        """Compute every metric of the step from counts into `self.latest`."""
        docs, content = self.recent, self.content
        topic_counts = np.bincount(docs.topic, minlength=content.n_topics)
        word_counts = np.bincount(docs.tokens.ravel(), minlength=content.n_words)
        flagged = np.concatenate([c.flagged for c in self.crawlers])
        synthetic = np.concatenate([c.synthetic for c in self.crawlers])
        precision, recall = M.precision_recall(flagged, synthetic)
        self.latest = {
            "ai_share": self.ai_share if self.steps > 0 else 0.0,
            "topic_richness": M.hill_number(topic_counts, 0),
            "topic_hill1": M.hill_number(topic_counts, 1),
            "topic_hill2": M.hill_number(topic_counts, 2),
            "word_hill1": M.hill_number(word_counts, 1),
            "tail_mass": M.tail_mass(topic_counts, content.topic_probs, self.is_tail),
            "tail_survival": M.tail_survival(self.model_topic_probs(), self.is_tail),
            "js_divergence": M.js_divergence(topic_counts, content.topic_probs),
            "hellinger": M.hellinger(topic_counts, content.topic_probs),
            "model_cross_entropy": float(np.mean([m.cross_entropy for m in self.ai_models])),
            "synthetic_share": float(docs.synthetic.mean()) if len(docs) else float("nan"),
            "train_synthetic_share": float(
                np.mean([m.train_synthetic_share for m in self.ai_models])
            ),
            "detector_precision": precision,
            "detector_recall": recall,
            "human_ai_assist": float(self.population.assist.mean()),
            "human_homogenization": self.population.homogenization(),
        }
