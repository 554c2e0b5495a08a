"""The human writers: one vectorised agent set, as in mesa-frames.

Ouroboros has up to 10^5 human writers, and every step each of them may read, copy, forget and
write. `HumanPopulation` holds their state as numpy arrays (one row per writer) and acts on all
of them in a few array operations; it is registered as one Mesa agent, so the model reaches it
through `agents_by_type` like its other agents, while a step never makes one Python call per
human. docs/ODD.md describes the writers' behaviour row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulation.corpus import Documents
from simulation.metrics import mean_cosine_similarity
from simulation.scenario import Humans

if TYPE_CHECKING:
    from simulation.agents import AIModel
    from simulation.content import ContentSpace
    from simulation.network import SiteNetwork


class HumanPopulation(mesa.Agent):
    """Every human writer: sparse topic interests, AI-assist share, home site and assistant.

    Rows are writers. `topics` and `weights` (n, interests) are each writer's interest slots,
    `assist` (n,) the chance they draft a document with AI, `site` (n,) the site they write on
    and read around, `assistant` (n,) the AI model they draft with.
    """

    def __init__(
        self,
        model: mesa.Model,
        config: Humans,
        content: ContentSpace,
        network: SiteNetwork,
        n_assistants: int,
    ):
        super().__init__(model)
        n, k = config.count, config.interests
        rng = self.rng
        self.config = config
        self.content = content
        self.network = network
        # Interests are drawn from p*, so rare topics have few experts.
        self.topics = rng.choice(content.n_topics, size=(n, k), p=content.topic_probs).astype(
            np.int32
        )
        self.weights = rng.dirichlet(np.ones(k), size=n)
        self.assist = np.full(n, config.ai_assist)
        self.site = rng.choice(network.human_sites, size=n).astype(np.int32)
        self.assistant = rng.integers(n_assistants, size=n).astype(np.int16)

    def __len__(self) -> int:
        return self.topics.shape[0]

    def read(self, docs: Documents, assistants: Sequence[AIModel]) -> None:
        """Read `docs` (the reading window) around each home site, then copy and forget.

        Reading exposure is the model-written share of what is read around each site; a topic
        fades by how far its share of `docs` has fallen below reality.
        """
        n_sites = self.network.n_sites
        reading = self.network.reading
        ai_words = np.bincount(docs.site, weights=docs.ai_fraction, minlength=n_sites)
        n_read = np.bincount(docs.site, minlength=n_sites).astype(np.float64)
        num, den = reading @ ai_words, reading @ n_read
        exposure = np.divide(num, den, out=np.zeros(n_sites), where=den > 0)
        counts = np.bincount(docs.topic, minlength=self.content.n_topics)
        share = counts / max(counts.sum(), 1)
        fading = np.clip(1.0 - share / self.content.topic_probs, 0.0, 1.0)
        self._copy(exposure[self.site], assistants)
        self._forget(fading, share)

    def _copy(self, exposure: np.ndarray, assistants: Sequence[AIModel]) -> None:
        """Copy model patterns in proportion to each writer's AI-shaped reading."""
        cfg, rng = self.config, self.rng
        self.assist += cfg.copy_rate * exposure * (1.0 - self.assist)
        copying = rng.random(len(self)) < cfg.copy_rate * exposure
        if not copying.any():
            return
        # The weakest interest is replaced by a topic the assistant writes about, taken up with
        # an average weight: the mixture moves toward the model's topic distribution.
        weakest = np.argmin(self.weights, axis=1)
        for m, ai in enumerate(assistants):
            who = np.flatnonzero(copying & (self.assistant == m))
            if who.size:
                self.topics[who, weakest[who]] = ai.generator.sample_topics(who.size, rng)
        who = np.flatnonzero(copying)
        self.weights[who, weakest[who]] = 1.0 / self.weights.shape[1]
        self.weights[who] /= self.weights[who].sum(axis=1, keepdims=True)

    def _forget(self, fading: np.ndarray, share: np.ndarray) -> None:
        """Interest slots on fading topics are replaced by topics drawn from what is read."""
        rng = self.rng
        forget = rng.random(self.topics.shape) < self.config.forget_rate * fading[self.topics]
        n_forget = int(np.count_nonzero(forget))
        if n_forget and share.sum() > 0:
            self.topics[forget] = rng.choice(self.content.n_topics, size=n_forget, p=share)

    def write(self, n: int, step: int, assistants: Sequence[AIModel]) -> Documents:
        """`n` human documents: random authors, topics from their interests, words from p*,
        with a model writing `assist_words` of the words when the author drafts with AI."""
        content, rng = self.content, self.rng
        length = content.doc_length
        authors = rng.integers(len(self), size=n)
        cum = np.cumsum(self.weights[authors], axis=1)
        slot = np.minimum(
            (cum < rng.random(n)[:, None] * cum[:, -1:]).sum(axis=1), cum.shape[1] - 1
        )
        topics = self.topics[authors, slot]
        assisted = rng.random(n) < self.assist[authors]
        n_model_words = int(round(self.config.assist_words * length))
        if n_model_words == 0:
            assisted[:] = False
        ai_fraction = np.where(assisted, n_model_words / length, 0.0)
        # Real words are drawn only where no model writes them.
        plain = np.flatnonzero(~assisted)
        drafted = np.flatnonzero(assisted)
        tokens = np.empty((n, length), dtype=content.token_dtype)
        tokens[plain] = content.sample_real_words(topics[plain], length, rng)
        if drafted.size:
            tokens[drafted, n_model_words:] = content.sample_real_words(
                topics[drafted], length - n_model_words, rng
            )
            for m, ai in enumerate(assistants):
                docs = drafted[self.assistant[authors[drafted]] == m]
                if docs.size:
                    words = ai.generator.sample_words(topics[docs], n_model_words, rng)
                    tokens[docs, :n_model_words] = words
        return Documents.new(
            topics,
            tokens,
            self.site[authors],
            step,
            author=authors,
            ai_fraction=ai_fraction,
        )

    def homogenization(self) -> float:
        """Mean pairwise cosine similarity of the humans' topic mixtures."""
        return mean_cosine_similarity(self.topics, self.weights, self.content.n_topics)
