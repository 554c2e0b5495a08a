"""The human writers: one vectorised agent set, as in mesa-frames.

Ouroboros has up to 10^5 human writers, and every step each of them may read, adopt, copy,
forget and write. `HumanPopulation` holds their state as numpy arrays (one row per writer) and
acts on all of them in a few array operations; it is registered as one Mesa agent, so the model
reaches it through `agents_by_type` like its other agents, while a step never makes one Python
call per human. docs/ODD.md (2.4, 7.4-7.7) describes the writers' behaviour row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    """Every human writer: sparse topic interests, adoption, style, home site and assistant.

    Rows are writers. `topics` and `weights` (n, interests) are each writer's interest slots,
    `assist` (n,) the chance they draft a document with AI (adoption), `style` (n,) the share
    of their own words that follow their assistant's word patterns (copying), `site` (n,) the
    site they write on and read around, `assistant` (n,) the AI model they read and draft with.
    `reference` (K,) is the population's interest mix at step 0, the pre-AI culture against
    which topics fade and to which forgotten interests return. `ai_assist_at(t)` is the
    background level of drafting with AI at step `t` (`Scenario.ai_assist_at`: a constant or a
    schedule, the diffusion of AI tools).
    """

    def __init__(
        self,
        model: mesa.Model,
        config: Humans,
        content: ContentSpace,
        network: SiteNetwork,
        n_assistants: int,
        ai_assist_at: Callable[[int], float],
    ):
        super().__init__(model)
        n, k = config.count, config.interests
        rng = self.rng
        self.config = config
        self.content = content
        self.network = network
        self.ai_assist_at = ai_assist_at
        # Interests are drawn from p*, so rare topics have few experts.
        self.topics = rng.choice(content.n_topics, size=(n, k), p=content.topic_probs).astype(
            np.int32
        )
        self.weights = rng.dirichlet(np.ones(k), size=n)
        self.assist = np.full(n, ai_assist_at(0))
        self.style = np.zeros(n)
        self.site = network.home_sites(self.topics, self.weights, rng)
        self.assistant = rng.integers(n_assistants, size=n).astype(np.int16)
        self.reference = self.mix()

    def __len__(self) -> int:
        return self.topics.shape[0]

    def mix(self) -> np.ndarray:
        """The population's interest mix (K,): the mean of the writers' mixtures, which is the
        expected topic share of what they write (authors are uniform, slots chosen by weight)."""
        total = np.bincount(
            self.topics.ravel(), weights=self.weights.ravel(), minlength=self.content.n_topics
        )
        return total / len(self)

    def read(self, docs: Documents) -> None:
        """Read `docs` (the reading window), then adopt, copy and forget.

        Exposure is the model-written word share of what is read around each home site; the
        window's topic share and its model-written word share are sensed web-wide (ODD 7.4).
        Reading needs no model: copying acts when writing, through `style`.
        """
        n_sites = self.network.n_sites
        reading = self.network.reading
        ai_words = np.bincount(docs.site, weights=docs.ai_fraction, minlength=n_sites)
        n_read = np.bincount(docs.site, minlength=n_sites).astype(np.float64)
        num, den = reading @ ai_words, reading @ n_read
        exposure = np.divide(num, den, out=np.zeros(n_sites), where=den > 0)[self.site]
        counts = np.bincount(docs.topic, minlength=self.content.n_topics)
        share = counts / max(counts.sum(), 1)
        web_exposure = float(ai_words.sum() / max(n_read.sum(), 1.0))
        self._adopt(exposure)
        self._copy(exposure)
        self._forget(web_exposure, share)

    def _adopt(self, exposure: np.ndarray) -> None:
        """Adoption: `assist` moves at `adopt_rate` toward `b + (1 − b)·e`, `b` the background
        level `ai_assist` at this step, so it rises with exposure and falls back to `b` when
        exposure falls (7.5)."""
        level = self.ai_assist_at(self.model.steps)
        target = level + (1.0 - level) * exposure
        self.assist += self.config.adopt_rate * (target - self.assist)

    def _copy(self, exposure: np.ndarray) -> None:
        """Copying: `style` rises at `copy_rate · e` toward 1 and decays at `unlearn_rate` (7.5).
        Both terms are at most 1, so `style` stays in [0, 1]."""
        cfg = self.config
        self.style += cfg.copy_rate * exposure * (1.0 - self.style) - cfg.unlearn_rate * self.style

    def _forget(self, exposure: float, share: np.ndarray) -> None:
        """Forgetting (7.6): slot (i, j) on topic k is forgotten with probability
        `forget_rate · ē · deficit_k`, `deficit_k = clip(1 − share_k / reference_k, 0, 1)`, with
        `ē` the web's model-written word share (`exposure`); the new topic comes from what is
        read (`share`) with probability `ē`, else from `reference`.

        Without model-written text nothing is forgotten, so the population keeps its pre-AI mix:
        a deficit keyed on the read share alone would also react to the sampling noise of the
        humans' own writing (rare topics most), a neutral drift that loses rare topics.
        """
        rng, ref = self.rng, self.reference
        ratio = np.divide(share, ref, out=np.ones_like(ref), where=ref > 0)
        deficit = np.clip(1.0 - ratio, 0.0, 1.0)
        prob = self.config.forget_rate * exposure * deficit[self.topics]
        forget = rng.random(self.topics.shape) < prob
        n_forget = int(np.count_nonzero(forget))
        if n_forget == 0:
            return
        from_read = rng.random(n_forget) < exposure
        n_topics, n_read = self.content.n_topics, int(np.count_nonzero(from_read))
        new = np.empty(n_forget, dtype=self.topics.dtype)
        new[from_read] = rng.choice(n_topics, size=n_read, p=share)
        new[~from_read] = rng.choice(n_topics, size=n_forget - n_read, p=ref)
        self.topics[forget] = new

    def write(self, n: int, step: int, assistants: Sequence[AIModel]) -> Documents:
        """`n` human documents: random authors, topics from their interests. When the author
        drafts with AI, the assistant writes the first words (`drafted`), or every word with
        probability `pure_ai`; each of the author's own words follows the assistant's pattern
        with probability `style`, else comes from p*. `ai_fraction` is the share of words
        written in model patterns (ODD 7.7)."""
        content, rng = self.content, self.rng
        length = content.doc_length
        authors = rng.integers(len(self), size=n)
        cum = np.cumsum(self.weights[authors], axis=1)
        slot = np.minimum(
            (cum < rng.random(n)[:, None] * cum[:, -1:]).sum(axis=1), cum.shape[1] - 1
        )
        topics = self.topics[authors, slot]
        assisted = np.flatnonzero(rng.random(n) < self.assist[authors])
        by_model = rng.random((n, length)) < self.style[authors][:, None]
        by_model[assisted] |= np.arange(length) < self.drafted(assisted.size, length)[:, None]
        if self.config.pure_ai > 0:
            by_model[assisted[rng.random(assisted.size) < self.config.pure_ai]] = True
        tokens = np.empty((n, length), dtype=content.token_dtype)
        flat = tokens.ravel()  # a view: words are written by flat position
        patterned_words = by_model.sum(axis=1)
        own_topics = np.repeat(topics, length - patterned_words)  # each document's own words
        # A mask writes in document order, as `own_topics` runs (faster than flat indices).
        tokens[~by_model] = content.sample_real_words(own_topics, 1, rng)[:, 0]
        patterned = np.flatnonzero(by_model)
        rows = patterned // length
        helper = self.assistant[authors[rows]]
        for m, ai in enumerate(assistants):
            mine = helper == m
            if mine.any():
                words = ai.generator.sample_words(topics[rows[mine]], 1, rng)[:, 0]
                flat[patterned[mine]] = words
        return Documents.new(
            topics,
            tokens,
            self.site[authors],
            step,
            author=authors,
            ai_fraction=patterned_words / length,
        )

    def drafted(self, k: int, length: int) -> np.ndarray:
        """How many leading words the model drafts in each of `k` assisted documents of
        `length` words: `round(assist_words·L)`, or with `assist_spread` (κ) `round(s·L)` with
        `s ~ Beta(κ·assist_words, κ·(1 − assist_words))` i.i.d. per document, so that assisted
        pages range from a few drafted words to nearly all (7.7). A fixed share draws nothing."""
        cfg = self.config
        if cfg.assist_spread is None:
            return np.full(k, round(cfg.assist_words * length))
        kappa, mean = cfg.assist_spread, cfg.assist_words
        share = self.rng.beta(kappa * mean, kappa * (1.0 - mean), size=k)
        return np.rint(share * length).astype(np.int64)

    def homogenization(self) -> float:
        """Mean pairwise cosine similarity of the humans' topic mixtures."""
        return mean_cosine_similarity(self.topics, self.weights, self.content.n_topics)
