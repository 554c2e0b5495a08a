"""Exact theory for the validation cases: what the simulator must reproduce in expectation.

The degenerate loop (one model, retrained every step, topic distributions only) is a
Wright–Fisher-type chain. Crawl t is M_t documents drawn from the mixture
m_t = a_t·q_{t−1} + (1 − a_t)·r of the last model q_{t−1} and the human writers' fixed topic
distribution r; the model q_t is the (smoothed) empirical distribution of its training pool.
Every quantity the Gini–Simpson index needs is then an inner product of crawl count vectors,
and their expectations obey a closed linear recursion: this module solves it exactly for the
replace, window, accumulate and subsample regimes. Nucleus truncation and temperature are
nonlinear; for them the module gives the deterministic (infinite-N) map instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom


@dataclass(frozen=True)
class Loop:
    """The resolved settings of a degenerate loop that the theory needs.

    Assumes one model retrained every step, a crawl that is a uniform sample of the step's
    documents (AI share 1, or a budget of at least N), and T = 1, top_p = 1.
    """

    p_star: np.ndarray  # (K,) reality's topic distribution (the archive is drawn from it)
    fresh: np.ndarray  # (K,) topic distribution of human-written documents
    ai_share: np.ndarray  # (steps + 1,) AI share of the documents published at each step
    docs: int  # N: documents published per step
    archive: int  # documents in the archive
    budget: int  # crawl budget
    regime: str  # replace | window | accumulate | subsample
    window: int = 4
    train_budget: int = 60000
    smoothing: float = 0.0

    @property
    def steps(self) -> int:
        return self.ai_share.size - 1

    def crawl_size(self, t: int) -> int:
        """Documents in crawl t: the archive crawl at t = 0, the step's fresh documents after."""
        return min(self.budget, self.archive if t == 0 else self.docs)

    def pool(self, t: int) -> range:
        """Crawls the model fitted at step t trains on."""
        if self.regime == "replace":
            return range(t, t + 1)
        if self.regime == "window":
            return range(max(0, t - self.window + 1), t + 1)
        return range(t + 1)


def gini_simpson(p: np.ndarray) -> float:
    """1 − Σ p² of a distribution."""
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    return float(1.0 - p @ p)


def expected_gini_simpson(loop: Loop) -> np.ndarray:
    """E[Gini–Simpson] of the corpus topic shares at steps 0..S (step 0 is the archive).

    Tracks G[s, u] = E[Y_s·Y_u] and g[s] = E[Y_s·r] for crawl count vectors Y_s. For a model
    on pool counts P (n documents; a subsample of b ≤ n when the regime subsamples) with
    smoothing α, q = (Z + α)/(b + Kα), E[Z | P] = bP/n, and the multivariate hypergeometric
    gives E[Z·Z | P] = b(1 − P·P/n²)(n − b)/(n − 1) + b²P·P/n².
    """
    k = loop.p_star.size
    r = loop.fresh
    rr = float(r @ r)
    alpha = loop.smoothing
    steps = loop.steps
    sizes = np.array([loop.crawl_size(t) for t in range(steps + 1)], dtype=np.float64)
    gram = np.zeros((steps + 1, steps + 1))
    to_fresh = np.zeros(steps + 1)
    m0 = sizes[0]
    gram[0, 0] = m0 + m0 * (m0 - 1) * float(loop.p_star @ loop.p_star)
    to_fresh[0] = m0 * float(loop.p_star @ r)
    out = np.empty(steps + 1)
    out[0] = (1.0 - 1.0 / loop.archive) * gini_simpson(loop.p_star)
    n_docs = loop.docs
    for t in range(steps):
        idx = np.fromiter(loop.pool(t), dtype=np.int64)
        n = sizes[idx].sum()
        pp = gram[np.ix_(idx, idx)].sum()
        p_r = to_fresh[idx].sum()
        p_y = gram[idx, : t + 1].sum(axis=0)  # E[P·Y_s], s = 0..t
        b = min(float(loop.train_budget), n) if loop.regime == "subsample" else n
        zz = pp if b >= n else b * (1 - pp / n**2) * (n - b) / (n - 1) + b**2 * pp / n**2
        den = b + k * alpha
        qq = (zz + 2 * alpha * b + k * alpha**2) / den**2
        q_r = (b / n * p_r + alpha) / den
        q_y = (b / n * p_y + alpha * sizes[: t + 1]) / den
        a = float(loop.ai_share[t + 1])
        mm = a * a * qq + 2 * a * (1 - a) * q_r + (1 - a) ** 2 * rr
        out[t + 1] = (1.0 - 1.0 / n_docs) * (1.0 - mm)
        m = sizes[t + 1]
        gram[t + 1, t + 1] = m + m * (m - 1) * mm
        gram[t + 1, : t + 1] = gram[: t + 1, t + 1] = m * (a * q_y + (1 - a) * to_fresh[: t + 1])
        to_fresh[t + 1] = m * (a * q_r + (1 - a) * rr)
    return out


def expected_richness_replace(loop: Loop) -> np.ndarray:
    """E[number of topics in the corpus] at steps 1..S (index 0 is NaN) under pure replace.

    Each topic's count in the model's training crawl is marginally a binomial Wright–Fisher
    chain: c_0 ~ Bin(M_0, p*_i), c_t ~ Bin(M, c_{t−1}/M_{t−1}); the corpus at step t holds
    N draws from the model, so the topic appears with probability 1 − (1 − c_{t−1}/M_{t−1})^N.
    """
    if loop.regime != "replace" or loop.smoothing > 0 or np.any(loop.ai_share[1:] < 1):
        raise ValueError("the richness theory holds for replace, no smoothing, AI share 1")
    m0, m = loop.crawl_size(0), loop.crawl_size(1)
    dist = binom.pmf(np.arange(m0 + 1)[None, :], m0, loop.p_star[:, None])  # (K, M_0 + 1)
    first = binom.pmf(np.arange(m + 1)[None, :], m, (np.arange(m0 + 1) / m0)[:, None])
    step = binom.pmf(np.arange(m + 1)[None, :], m, (np.arange(m + 1) / m)[:, None])
    out = np.full(loop.steps + 1, np.nan)
    for t in range(1, loop.steps + 1):
        size = m0 if t == 1 else m
        seen = 1.0 - (1.0 - np.arange(size + 1) / size) ** loop.docs
        out[t] = float((dist @ seen).sum())
        dist = dist @ (first if t == 1 else step)
    return out


def nucleus_set(p: np.ndarray, top_p: float) -> np.ndarray:
    """Mask of the smallest set of most probable entries whose mass reaches `top_p`.

    An entry is kept when the mass strictly ranked before it is still below `top_p`.
    """
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]
    keep = np.zeros(p.size, dtype=bool)
    keep[order[before < top_p - 1e-12]] = True
    return keep & (p > 0)


@dataclass(frozen=True)
class Truncation:
    """The deterministic course of nucleus truncation on reality's topic distribution."""

    sets: list[np.ndarray]  # support of the model after fits 0, 1, … until it stops changing
    margin: float  # smallest distance of a kept/dropped decision from the top_p threshold

    @property
    def survivors(self) -> np.ndarray:
        return self.sets[-1]

    @property
    def generations(self) -> int:
        """Fits after the first one until the support is final."""
        return len(self.sets) - 1


def truncation_course(p_star: np.ndarray, top_p: float) -> Truncation:
    """Iterate S_{t+1} = nucleus(p* restricted to S_t) to its fixed point (infinite N).

    With many documents per generation the model's topic distribution is p* renormalised on
    its support, so every fit drops the topics outside the nucleus of the previous support.
    """
    support = np.ones(p_star.size, dtype=bool)
    sets: list[np.ndarray] = []
    margin = np.inf
    while True:
        p = np.where(support, p_star, 0.0)
        p = p / p.sum()
        order = np.argsort(-p, kind="stable")
        before = (np.cumsum(p[order]) - p[order])[p[order] > 0]
        margin = min(margin, float(np.min(np.abs(before - top_p))))
        nxt = nucleus_set(p, top_p)
        sets.append(nxt)
        if np.array_equal(nxt, support):
            return Truncation(sets=sets[:-1] or sets, margin=margin)
        support = nxt


def tempered_gini_simpson(p_star: np.ndarray, temperature: float, steps: int) -> np.ndarray:
    """Deterministic (infinite-N) Gini–Simpson of the corpus at steps 1..S with temperature T.

    Each fit raises the previous distribution to the power 1/T, so the model after fit t
    is p*^(T^−(t+1)) renormalised, and the corpus at step t is drawn from the model of fit t−1.
    """
    logp = np.log(np.asarray(p_star, dtype=np.float64))
    out = np.full(steps + 1, np.nan)
    for t in range(1, steps + 1):
        z = logp * temperature ** (-t)
        p = np.exp(z - z.max())
        out[t] = gini_simpson(p)
    return out
