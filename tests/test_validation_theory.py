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


def test_truncation_course_reaches_a_fixed_point():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    course = th.truncation_course(p, 0.75)
    # fit 0: {0.4, 0.3, 0.2}; renormalised 0.44, 0.33, 0.22 -> {0.44, 0.33}; then stable.
    # Closest call: in fit 1 the mass before 0.22 is 0.7/0.9, just above 0.75.
    assert [s.tolist() for s in course.sets] == [
        [True, True, True, False],
        [True, True, False, False],
    ]
    assert course.generations == 1
    assert course.margin == pytest.approx(0.7 / 0.9 - 0.75)
    assert th.truncation_course(p, 1.0).survivors.all()


def test_tempered_curve():
    assert np.allclose(th.tempered_gini_simpson(P, 1.0, 5)[1:], 1 - P @ P)
    curve = th.tempered_gini_simpson(P, 0.8, 6)[1:]
    assert np.all(np.diff(curve) < 0)
    assert curve[0] == pytest.approx(th.gini_simpson(P**1.25))
