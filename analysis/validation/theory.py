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


@dataclass(frozen=True)
class OneStep:
    """Exact first and second moments of a model's topic distribution one fit ahead.

    The next training set holds fixed counts C (n_c documents kept from earlier crawls),
    a fresh crawl Y ~ Multinomial(n_new, q) from the current model q and, for the human
    reserve, W: n_reserve documents drawn without replacement from an archive with topic counts
    A. The model fits Q = C + Y + W, or a subsample of `budget` documents of it drawn without
    replacement; with no smoothing, T = 1 and top_p = 1 its topic distribution is the counts'
    shares.
    """

    mean: np.ndarray  # (K,) E[q']
    second: float  # E[Σ q'²]

    @property
    def spread(self) -> float:
        """E‖q' − E q'‖²: the one-step drift variance (H(q)/N for Wright–Fisher)."""
        return float(self.second - self.mean @ self.mean)

    @property
    def gini_simpson(self) -> float:
        """E[1 − Σ q'²]."""
        return float(1.0 - self.second)


def one_step(
    q: np.ndarray,
    n_new: int,
    kept: np.ndarray | None = None,
    archive: np.ndarray | None = None,
    n_reserve: int = 0,
    budget: int | None = None,
) -> OneStep:
    """`OneStep` moments: E[Y·Y] = n + n(n−1)q·q for the multinomial crawl; the hypergeometric
    second moment b(1 − π·π)(m − b)/(m − 1) + b²π·π for a draw of b from m with shares π
    (the reserve from the archive, and the subsample from the pool)."""
    q = np.asarray(q, dtype=np.float64)
    c = np.zeros_like(q) if kept is None else np.asarray(kept, dtype=np.float64)
    mean_q = c + n_new * q
    second = c @ c + 2 * n_new * (c @ q) + n_new + n_new * (n_new - 1) * (q @ q)
    if n_reserve:
        size = float(np.sum(archive))
        a = np.asarray(archive, dtype=np.float64) / size
        aa = float(a @ a)
        ww = n_reserve * (1 - aa) * (size - n_reserve) / (size - 1) + n_reserve**2 * aa
        second += 2 * n_reserve * (c @ a + n_new * (q @ a)) + ww
        mean_q = mean_q + n_reserve * a
    m = float(c.sum()) + n_new + n_reserve
    qq = second / m**2  # E[Σ π²] of the pool's shares π = Q/m
    if budget is not None and budget < m:
        b = float(budget)
        qq = ((1 - qq) * (m - b) / (m - 1) + b * qq) / b
    return OneStep(mean=mean_q / m, second=float(qq))


def accumulate_error(h_star: float, archive: int, docs: int, steps: int) -> np.ndarray:
    """E‖q_t − p*‖² of the model after fit t = 0..S under pure accumulate (AI share 1).

    The model is the pooled shares of an archive crawl of n_0 documents and t crawls of N
    documents, each drawn from the model before it. Its shares are a martingale around p*
    with orthogonal increments, so with D_t = E‖q_t − p*‖² and E[H(q_t)] = H* − D_t,
    D_0 = H*/n_0 and D_t = D_{t−1} + N(H* − D_{t−1})/(n_0 + tN)². With n_0 = N this is below
    (H*/N)·Σ_{k=1}^{t+1} 1/k² < (π²/6)·H*/N: the categorical form of Gerstgrasser et al.'s
    bound, against D_t = H*(1 − (1 − 1/N)^(t+1)) → H* when data are replaced.
    """
    out = np.empty(steps + 1)
    out[0] = h_star / archive
    for t in range(1, steps + 1):
        out[t] = out[t - 1] + docs * (h_star - out[t - 1]) / (archive + t * docs) ** 2
    return out


def model_error(loop: Loop) -> np.ndarray:
    """E‖q_t − p*‖² of the model after fit t = 0..S−1 of a loop with AI share 1 (any regime).

    With AI share 1 every regime keeps E[q_t] = p*, so E‖q_t − p*‖² = E[Σq_t²] − Σp*², and
    the corpus at step t + 1 has E[H] = (1 − 1/N)(1 − E[Σq_t²]) (`expected_gini_simpson`).
    """
    if np.any(loop.ai_share[1:] < 1) or loop.smoothing > 0:
        raise ValueError("the model-error identity needs AI share 1 and no smoothing")
    gs = expected_gini_simpson(loop)[1:]
    return 1.0 - gs / (1.0 - 1.0 / loop.docs) - float(loop.p_star @ loop.p_star)


def tail_cut_missing_mass(p: np.ndarray, k: int, n: int) -> float:
    """E[mass of p outside the support of a model fitted to n draws from p cut to its top k].

    Dohmatob et al.'s tail cutting: the generator keeps the k most probable entries
    (renormalised by P_k), a learner that keeps every entry it saw fits n draws of it. An entry
    of rank > k is never seen; one of rank i ≤ k is missed with probability (1 − p_i/P_k)^n:
    E[missing] = Σ_{i>k} p_i + Σ_{i≤k} p_i (1 − p_i/P_k)^n (p sorted decreasing).
    """
    p = np.sort(np.asarray(p, dtype=np.float64))[::-1]
    head = p[:k]
    return float(p[k:].sum() + head @ (1.0 - head / head.sum()) ** n)


def tempered(p: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised: the distribution a model at temperature T samples from."""
    z = np.log(np.asarray(p, dtype=np.float64)) / temperature
    w = np.exp(z - z.max())
    return w / w.sum()


def successive_inclusion(
    weights: np.ndarray, targets: np.ndarray, k: int, nodes: int = 400
) -> np.ndarray:
    """(len(targets), k + 1): P(rank(s) < j), j = 0..k, of each target site s when all sites
    are ordered by Efraimidis–Spirakis keys E_s / w_s, E_s ~ Exp(1) (sampling without
    replacement ∝ w, the `pagerank` visit order).

    A site's key is Exp(w_s); given it is x, every other site comes first independently with
    probability 1 − e^(−w_j x), so rank(s) is a Poisson-binomial count N_(−s)(x) and
    P(rank(s) < j) = ∫ w_s e^(−w_s x) P(N_(−s)(x) ≤ j − 1) dx. The count's distribution is
    built by convolution (truncated at k: higher counts never matter), once for the
    non-targets and per excluded target for the targets; the integral runs over ln x on a
    uniform grid (trapezoid: the integrand is smooth and vanishes at both ends, so the error
    falls exponentially once the grid resolves the step of P(N ≤ j − 1), of width about
    1/sqrt(k) in ln x: keep k small, ~50; `tests/test_validation_theory.py` checks it against
    an enumeration of every order).
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    targets = np.asarray(targets, dtype=np.int64)
    others = np.setdiff1d(np.arange(w.size), targets)
    u = np.linspace(np.log(1e-12 / w[targets].max()), np.log(60.0 / w[targets].min()), nodes)
    out = np.zeros((targets.size, k + 1))
    for chunk in np.array_split(u, max(1, nodes // 40)):
        x = np.exp(chunk)[:, None]
        pmf = np.zeros((x.size, k))
        pmf[:, 0] = 1.0
        for j in others:  # theory over sites, not a simulation path
            p = -np.expm1(-w[j] * x)
            pmf[:, 1:] = pmf[:, 1:] * (1 - p) + pmf[:, :-1] * p
            pmf[:, :1] *= 1 - p
        state = np.repeat(pmf[:, None, :], targets.size, axis=1)  # (X, T, k): target i excluded
        for i, j in enumerate(targets):
            p = -np.expm1(-w[j] * x)[:, :, None]
            kept = state[:, i].copy()
            state[:, :, 1:] = state[:, :, 1:] * (1 - p) + state[:, :, :-1] * p
            state[:, :, :1] *= 1 - p
            state[:, i] = kept
        below = np.concatenate([np.zeros((x.size, targets.size, 1)), state.cumsum(axis=2)], axis=2)
        density = w[targets] * np.exp(-w[targets] * x) * x  # dx = x d(ln x)
        out += np.einsum("xt,xtj->tj", density, below)
    return out * (u[1] - u[0])
