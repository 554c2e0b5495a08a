"""The exact validation theory itself, against closed forms and an independent Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.validation import theory as th
from simulation.content import zipf
from simulation.generative import as_csr, nucleus

P = zipf(12, 1.1)


def loop(**kw) -> th.Loop:
    base = dict(
        p_star=P, fresh=P, ai_share=np.ones(9), docs=50, archive=50, budget=50, regime="replace"
    )
    return th.Loop(**{**base, **kw})


def chain_gini_simpson(lp: th.Loop, reps: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Independent Monte Carlo of the idealised loop (crawl = whole step, budget ≥ N).

    Returns per-step mean and standard error of the corpus Gini–Simpson index (steps 1..S).
    """
    rng = np.random.default_rng(seed)
    k, n, alpha = lp.p_star.size, lp.docs, lp.smoothing
    crawls = [rng.multinomial(lp.crawl_size(0), lp.p_star, size=reps).astype(float)]
    gs = np.empty((reps, lp.steps))
    for t in range(lp.steps):
        pool = sum(crawls[i] for i in lp.pool(t))
        if lp.regime == "subsample" and pool.sum(axis=1)[0] > lp.train_budget:
            pool = np.array(
                [
                    rng.multivariate_hypergeometric(row.astype(np.int64), lp.train_budget)
                    for row in pool
                ]
            ).astype(float)
        q = (pool + alpha) / (pool.sum(axis=1, keepdims=True) + k * alpha)
        a = lp.ai_share[t + 1]
        corpus = rng.multinomial(n, a * q + (1 - a) * lp.fresh).astype(float)
        gs[:, t] = 1 - ((corpus / n) ** 2).sum(axis=1)
        crawls.append(corpus)
    return gs.mean(axis=0), gs.std(axis=0, ddof=1) / np.sqrt(reps)


def test_replace_theory_is_the_wright_fisher_closed_form():
    lp = loop(docs=40, archive=40, budget=40)
    h_star = 1 - P @ P
    t = np.arange(1, lp.steps + 1)
    expected = h_star * (1 - 1 / 40) ** (t + 1)
    np.testing.assert_allclose(th.expected_gini_simpson(lp)[1:], expected, rtol=1e-12)
    assert th.expected_gini_simpson(lp)[0] == pytest.approx(h_star * (1 - 1 / 40))


def test_replace_theory_with_budget_below_and_archive_above_n():
    lp = loop(docs=60, archive=500, budget=30)
    t = np.arange(1, lp.steps + 1)
    expected = (1 - P @ P) * (1 - 1 / 30) * (1 - 1 / 30) ** (t - 1) * (1 - 1 / 60)
    np.testing.assert_allclose(th.expected_gini_simpson(lp)[1:], expected, rtol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"regime": "accumulate"},
        {"regime": "window", "window": 3},
        {"regime": "subsample", "train_budget": 60},
        {"smoothing": 0.3},
        {"ai_share": np.r_[1.0, np.full(8, 0.7)], "fresh": zipf(12, 0.5)},
        {"regime": "accumulate", "smoothing": 0.2, "ai_share": np.full(9, 0.8)},
    ],
)
def test_second_moment_recursion_matches_independent_monte_carlo(kw):
    lp = loop(**kw)
    mean, se = chain_gini_simpson(lp, reps=4000)
    theory = th.expected_gini_simpson(lp)[1:]
    assert np.all(np.abs(mean - theory) <= 4 * se), (mean, theory, se)


def test_regimes_are_ordered_in_theory():
    gs = {
        r: th.expected_gini_simpson(loop(regime=r, train_budget=50))[-1]
        for r in ("replace", "subsample", "accumulate")
    }
    assert gs["replace"] < gs["subsample"] < gs["accumulate"]


def test_richness_theory_matches_monte_carlo():
    lp = loop(docs=30, archive=30, budget=30)
    rng = np.random.default_rng(3)
    counts = rng.multinomial(30, P, size=20000)
    rich = []
    for _ in range(lp.steps):
        counts = rng.multinomial(30, counts / 30)
        rich.append((counts > 0).sum(axis=1))
    rich = np.array(rich)
    se = rich.std(axis=1) / np.sqrt(rich.shape[1])
    theory = th.expected_richness_replace(lp)[1:]
    assert np.all(np.abs(rich.mean(axis=1) - theory) <= 4 * se)
    assert np.all(np.diff(theory) < 0)


def test_richness_theory_refuses_other_regimes():
    with pytest.raises(ValueError, match="replace"):
        th.expected_richness_replace(loop(regime="accumulate"))


def test_nucleus_set_by_hand_and_against_the_model():
    assert th.nucleus_set(np.array([0.2, 0.5, 0.3]), 0.7).tolist() == [False, True, True]
    assert th.nucleus_set(np.array([0.2, 0.5, 0.3]), 0.85).tolist() == [True, True, True]
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.dirichlet(np.ones(15))
        top_p = rng.uniform(0.3, 0.99)
        kept = nucleus(as_csr(p[None]), top_p).toarray()[0] > 0
        assert np.array_equal(th.nucleus_set(p, top_p), kept)


def test_tempered_curve():
    assert np.allclose(th.tempered_gini_simpson(P, 1.0, 5)[1:], 1 - P @ P)
    curve = th.tempered_gini_simpson(P, 0.8, 6)[1:]
    assert np.all(np.diff(curve) < 0)
    assert curve[0] == pytest.approx(th.gini_simpson(P**1.25))


# ---------------------------------------------------------------- one-step and accumulate theory


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"kept": np.array([30.0, 10, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0])},
        {"kept": np.full(12, 10.0), "budget": 60},
        {"archive": np.array([40.0, 20, 10, 10, 5, 5, 4, 3, 1, 1, 1, 0]), "n_reserve": 10},
    ],
)
def test_one_step_moments_match_independent_monte_carlo(kw):
    rng = np.random.default_rng(5)
    q, n, reps = P, 40, 40000
    theory = th.one_step(q, n, **kw)
    pool = rng.multinomial(n, q, size=reps).astype(float)
    if "kept" in kw:
        pool += kw["kept"]
    if "n_reserve" in kw:
        pool += rng.multivariate_hypergeometric(kw["archive"].astype(np.int64), 10, size=reps)
    if "budget" in kw:
        rows = pool[:8000].astype(np.int64)
        pool = np.array([rng.multivariate_hypergeometric(r, kw["budget"]) for r in rows], float)
        reps = rows.shape[0]
    shares = pool / pool.sum(axis=1, keepdims=True)
    spread = ((shares - theory.mean) ** 2).sum(axis=1)
    se_mean = shares.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(shares.mean(axis=0) - theory.mean) <= 4 * se_mean + 1e-12)
    assert abs(spread.mean() - theory.spread) <= 4 * spread.std(ddof=1) / np.sqrt(reps)


def test_one_step_replace_is_wright_fisher():
    step = th.one_step(P, 50)
    assert step.spread == pytest.approx((1 - P @ P) / 50, rel=1e-12)
    assert step.gini_simpson == pytest.approx((1 - P @ P) * (1 - 1 / 50), rel=1e-12)


def test_accumulate_error_closed_form_equals_the_general_recursion_and_bound():
    h_star = 1 - P @ P
    closed = th.accumulate_error(h_star, 30, 30, 20)
    lp = loop(docs=30, archive=30, budget=30, regime="accumulate", ai_share=np.ones(22))
    np.testing.assert_allclose(th.model_error(lp), closed, rtol=1e-10)
    k = np.arange(1, 22)
    assert np.all(closed <= h_star / 30 * np.cumsum(1 / k**2) + 1e-15)
    assert closed[-1] < np.pi**2 / 6 * h_star / 30


def test_tail_cut_missing_mass_matches_monte_carlo_and_the_uncut_law():
    p = zipf(200, 1.5)
    assert th.tail_cut_missing_mass(p, 200, 300) == pytest.approx(p @ (1 - p) ** 300)
    rng = np.random.default_rng(2)
    head = p[:20] / p[:20].sum()
    seen = np.array(
        [np.bincount(rng.choice(20, 50, p=head), minlength=200) > 0 for _ in range(20000)]
    )
    missing = ((~seen) * p).sum(axis=1)
    se = missing.std(ddof=1) / np.sqrt(missing.size)
    assert abs(missing.mean() - th.tail_cut_missing_mass(p, 20, 50)) <= 4 * se


def test_tempered_is_the_power_law():
    np.testing.assert_allclose(th.tempered(P, 0.5), P**2 / (P**2).sum(), rtol=1e-12)


def test_successive_inclusion_matches_an_enumeration_of_every_order():
    """P(rank(s) < j) under Efraimidis–Spirakis keys against the exact successive-sampling
    probability of each of the 6! orders."""
    import itertools

    rng = np.random.default_rng(1)
    w = rng.random(6) + 0.1
    targets = np.array([1, 4])
    exact = np.zeros((2, 4))
    for perm in itertools.permutations(range(6)):
        prob, left = 1.0, w.sum()
        for s in perm:
            prob *= w[s] / left
            left -= w[s]
        for i, t in enumerate(targets):
            exact[i, perm.index(t) + 1 :] += prob
    np.testing.assert_allclose(th.successive_inclusion(w, targets, 3), exact, atol=1e-7)
