"""ContentSpace: the real world's topics and words (p*), and the pre-AI archive drawn from it."""

from __future__ import annotations

import math
from functools import cached_property, lru_cache

import numpy as np

from simulation.generative import AliasTable
from simulation.scenario import Content


def three_significant_digits(freq: float) -> float:
    """`freq` rounded to three significant digits, as `wordfreq.word_frequency` reports it."""
    return round(freq, math.floor(-math.log(freq, 10)) + 3)


@lru_cache(maxsize=8)
def wordfreq_base(n_words: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The `n_words` most frequent English words and their frequencies (bundled, offline).

    The frequencies are `wordfreq.word_frequency`'s, read from its frequency table: a word of
    the top list is its own single token, so the table's entry rounded as `word_frequency`
    rounds it is the same number (tests/test_content.py checks), without re-tokenising
    every word (a second at 20,000 words).
    """
    import wordfreq

    words = tuple(wordfreq.top_n_list("en", n_words))
    if len(words) < n_words:
        raise ValueError(f"wordfreq has only {len(words)} English words; asked for {n_words}")
    table = wordfreq.get_frequency_dict("en")
    freq = np.array([three_significant_digits(table[w]) for w in words], dtype=np.float64)
    return words, freq / freq.sum()


def zipf(n: int, exponent: float) -> np.ndarray:
    """Normalised Zipf law p(r) ∝ r^(−exponent), r = 1..n."""
    p = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return p / p.sum()


def decoded(p: np.ndarray) -> np.ndarray:
    """The word distributions a `TopicWordModel` fitted to the rows of `p` (every entry
    positive) samples from: each row scaled by the inverse of its sum twice (on fitting and
    on decoding), the sums taken as its sparse rows take them (`np.add.reduceat`)."""
    rows, n = p.shape
    starts = np.arange(0, rows * n, n)
    for _ in range(2):
        p = p * (1.0 / np.add.reduceat(p.ravel(), starts))[:, None]
    return p


class ContentSpace:
    """Topics with Zipf popularity and per-topic word distributions: the truth p*.

    Each topic reweights a shared base vocabulary (English frequencies or a Zipf law) by a
    log-normal factor per word, so topics share function words but differ in their content.
    """

    def __init__(self, config: Content, rng: np.random.Generator):
        self._configure(config)
        if config.vocabulary == "wordfreq-en":
            self.words, base = wordfreq_base(config.n_words)
        else:
            self.words = tuple(f"w{i}" for i in range(config.n_words))
            base = zipf(config.n_words, config.word_zipf)
        self.topic_probs = zipf(config.n_topics, config.topic_zipf)
        boost = rng.standard_normal((config.n_topics, config.n_words))
        boost *= config.topic_specificity
        np.exp(boost, out=boost)
        boost *= base
        boost /= boost.sum(axis=1, keepdims=True)
        self.word_probs = boost
        # Sampling tables of p*: the distributions a `TopicWordModel` fitted to p* samples
        # from (built here without its sparse copy of p*: 1.5 GB less at the peak of a
        # large world), so every real document is drawn exactly as such a model draws it.
        self.topic_table = AliasTable.build(self.topic_probs * (1.0 / self.topic_probs.sum()))
        self.word_table = AliasTable.build(decoded(self.word_probs))

    def _configure(self, config: Content) -> None:
        self.config = config
        self.n_topics = config.n_topics
        self.n_words = config.n_words
        self.doc_length = config.doc_length
        self.token_dtype = np.uint16 if config.n_words <= 65536 else np.uint32

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything drawn or built for this space, by name (`from_arrays` takes it back)."""
        return {
            "words": np.array(self.words),
            "topic_probs": self.topic_probs,
            "word_probs": self.word_probs,
            "topic_keep": self.topic_table.prob,
            "topic_alias": self.topic_table.alias,
            "word_keep": self.word_table.prob,
            "word_alias": self.word_table.alias,
        }

    @classmethod
    def from_arrays(cls, config: Content, arrays: dict[str, np.ndarray]) -> ContentSpace:
        """The space of `config` whose `arrays()` these are, without drawing it again (a world
        kept on disk, `simulation.world_cache`)."""
        space = cls.__new__(cls)
        space._configure(config)
        space.words = tuple(arrays["words"].tolist())
        space.topic_probs, space.word_probs = arrays["topic_probs"], arrays["word_probs"]
        space.topic_table = AliasTable(arrays["topic_keep"], arrays["topic_alias"], config.n_topics)
        space.word_table = AliasTable(arrays["word_keep"], arrays["word_alias"], config.n_words)
        return space

    @cached_property
    def word_prob_sums(self) -> np.ndarray:
        """(K,) each topic's total of `word_probs` as stored (1 up to rounding): what the
        missing mass of every fit subtracts from (`metrics.missing_mass`), summed once."""
        return self.word_probs.sum(axis=1)

    def tail_topics(self, fraction: float) -> np.ndarray:
        """Boolean mask of the rarest topics that together hold at most `fraction` of p*.

        At least one topic is always in the tail.
        """
        order = np.argsort(self.topic_probs, kind="stable")
        mass = np.cumsum(self.topic_probs[order])
        n_tail = max(1, int(np.searchsorted(mass, fraction, side="right")))
        mask = np.zeros(self.n_topics, dtype=bool)
        mask[order[:n_tail]] = True
        return mask

    def sample_real(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` real documents from p*: (topics, tokens)."""
        topics = self.topic_table.sample(np.zeros(1, dtype=np.int64), n, rng)[0]
        return topics, self.sample_real_words(topics, self.doc_length, rng)

    def sample_real_words(
        self, topics: np.ndarray, length: int, rng: np.random.Generator
    ) -> np.ndarray:
        """`length` real (human) words for each document on the given topics."""
        return self.word_table.sample(topics, length, rng)
