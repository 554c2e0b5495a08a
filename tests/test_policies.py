"""Filtering policies and training regimes: first without a model, then their effect on what
the models of a whole run train on."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.corpus import Documents
from simulation.model import WebEcosystem
from simulation.observation import model_topic_probs
from simulation.policies import (
    CrawlFilter,
    TrainingPool,
    flag_probability,
    passed_human_share,
    tail_share_weights,
)
from simulation.scenario import Filtering
from tests.conftest import NO_FILTER, mean_final, small_scenario, stepped


def docs(n, *, synthetic=0.5, topic=None, site=None, labeled=None, ai_fraction=None, seed=0):
    rng = np.random.default_rng(seed)
    syn = rng.random(n) < synthetic
    return Documents(
        topic=np.zeros(n, np.int32) if topic is None else np.asarray(topic, np.int32),
        tokens=rng.integers(5, size=(n, 4)).astype(np.uint16),
        site=np.zeros(n, np.int32) if site is None else np.asarray(site, np.int32),
        author=np.full(n, -1, np.int32),
        ai_author=np.where(syn, 0, -1).astype(np.int16),
        synthetic=syn,
        ai_fraction=(syn.astype(np.float32) if ai_fraction is None else ai_fraction),
        labeled=np.zeros(n, bool) if labeled is None else labeled,
        step=np.ones(n, np.int32),
    )


def make_filter(**cfg):
    return CrawlFilter(
        Filtering.model_validate(cfg), np.array([False, True]), np.array([True, False])
    )


@pytest.mark.parametrize("a,tpr,fpr", [(0.3, 0.8, 0.05), (0.74, 0.9, 0.1), (0.5, 0.5, 0.5)])
def test_detector_pass_through_matches_theory(a, tpr, fpr):
    n = 200_000
    crawl = docs(n, synthetic=a, seed=1)
    f = make_filter(detector={"tpr": tpr, "fpr": fpr}, provenance={"label_rate": 0.0})
    kept = f.apply(crawl, crawl.take(np.zeros(0, int)), np.random.default_rng(2)).kept
    human_share = 1 - kept.synthetic.mean()
    expected = passed_human_share(crawl.synthetic.mean(), tpr, fpr)
    p = expected
    se = np.sqrt(p * (1 - p) / len(kept))
    assert abs(human_share - expected) < 4 * se


def test_partly_assisted_human_text_is_flagged_more_often():
    p = flag_probability(np.array([False, False, False, True]), np.array([0, 0.5, 1, 1]), 0.8, 0.1)
    np.testing.assert_allclose(p, [0.1, 0.45, 0.8, 0.8])


def test_provenance_labels_drop_only_when_honored():
    crawl = docs(1000, synthetic=1.0, labeled=np.arange(1000) % 2 == 0)
    empty = crawl.take(np.zeros(0, int))
    rng = np.random.default_rng(0)
    honored = make_filter(detector=None, provenance={"honored": True}).apply(crawl, empty, rng)
    ignored = make_filter(detector=None, provenance={"honored": False}).apply(crawl, empty, rng)
    assert len(honored.kept) == 500 and not honored.kept.labeled.any()
    assert len(ignored.kept) == 1000


def test_human_reserve_swaps_a_share_for_archive_documents():
    crawl = docs(1000, synthetic=1.0)
    archive = docs(5000, synthetic=0.0, seed=3)
    out = make_filter(detector=None, provenance={"honored": False}, human_reserve=0.1).apply(
        crawl, archive, np.random.default_rng(0)
    )
    assert len(out.kept) == 1000
    assert out.kept.synthetic.sum() == 900


def test_tail_protection_rescues_and_weights_verified_tail_documents():
    # topic 1 is tail; site 0 is human (verified), site 1 a farm.
    crawl = docs(4, synthetic=0.0, topic=[1, 1, 0, 1], site=[0, 1, 0, 0])
    crawl.synthetic[:] = True  # every document flagged with tpr=1
    empty = crawl.take(np.zeros(0, int))
    f = make_filter(detector={"tpr": 1.0, "fpr": 0.0}, protect_tail=True)
    out = f.apply(crawl, empty, np.random.default_rng(0))
    assert out.kept.topic.tolist() == [1, 1] and out.kept.site.tolist() == [0, 0]
    assert out.weights.tolist() == [1.0, 1.0]  # an all-tail kept set cannot be moved to a share
    off = make_filter(detector={"tpr": 1.0, "fpr": 0.0}).apply(
        crawl, empty, np.random.default_rng(0)
    )
    assert len(off.kept) == 0


def batch(topic, n=10):
    d = docs(n, synthetic=0.0, topic=np.full(n, topic))
    return d, np.ones(n)


def test_training_regimes():
    rng = np.random.default_rng(0)
    pools = {
        r: TrainingPool(r, 3, 5, window=2, budget=10)
        for r in ("replace", "accumulate", "window", "subsample")
    }
    for topic in (0, 1, 2):
        for pool in pools.values():
            pool.add(*batch(topic))
    topic_counts = {r: p.training_set(rng).topic_counts.tolist() for r, p in pools.items()}
    assert topic_counts["replace"] == [0, 0, 10]
    assert topic_counts["accumulate"] == [10, 10, 10]
    assert topic_counts["window"] == [0, 10, 10]
    assert (
        sum(topic_counts["subsample"]) == 10 and len(np.nonzero(topic_counts["subsample"])[0]) >= 2
    )
    with pytest.raises(ValueError):
        TrainingPool("forget", 3, 5)


@pytest.mark.parametrize(
    "on,off",
    [
        ({"detector": {"tpr": 0.95, "fpr": 0.05}}, {"detector": None}),
        (
            {"detector": None, "provenance": {"label_rate": 0.8, "honored": True}},
            {"detector": None, "provenance": {"label_rate": 0.8, "honored": False}},
        ),
        ({**NO_FILTER, "human_reserve": 0.5}, NO_FILTER),
    ],
    ids=["detector", "provenance", "human_reserve"],
)
def test_filters_lower_synthetic_share_of_training_data(on, off):
    web = {"ai_share": 0.6}
    with_policy = mean_final(metric="train_synthetic_share", filtering=on, web=web)
    without = mean_final(metric="train_synthetic_share", filtering=off, web=web)
    assert with_policy < 0.8 * without


def model_tail_mass(model: WebEcosystem) -> float:
    return model_topic_probs(model)[:, model.is_tail].sum(axis=1).mean()


def test_tail_protection_holds_the_models_tail_mass_at_realitys_share():
    """Under `replace` a model's topic distribution is its last weighted crawl, whose tail
    share the policy sets to p*'s: exact whatever the detector let through."""
    common = {"web": {"ai_share": 0.7}, "models": {"regime": "replace"}, "steps": 12}
    detector = {"detector": {"tpr": 0.9, "fpr": 0.5}}
    scenario = small_scenario(filtering={**detector, "protect_tail": True}, **common)
    for rep in range(3):
        model = stepped(scenario, scenario.steps, replication=rep)
        reality = model.content.topic_probs[model.is_tail].sum()
        assert model_tail_mass(model) == pytest.approx(reality, rel=1e-9)
    plain = small_scenario(filtering=detector, **common)
    unprotected = [model_tail_mass(stepped(plain, 12, replication=rep)) for rep in range(3)]
    assert np.ptp(unprotected) > 0.01  # without the policy it drifts with each crawl


# --- bounded tail protection: a share of the training set, not a compounding multiplier ------


def test_tail_share_weights_give_the_tail_exactly_its_share_and_keep_the_total():
    on_tail = np.array([True, False, False, False, True, False, False, False, False, False])
    w = tail_share_weights(on_tail, 0.3)
    assert w[on_tail].sum() / w.sum() == pytest.approx(0.3, rel=1e-12)
    assert w.sum() == pytest.approx(on_tail.size)
    np.testing.assert_allclose(w[on_tail], 0.3 * 10 / 2)  # equal within the tail
    np.testing.assert_allclose(w[~on_tail], 0.7 * 10 / 8)
    # a crawl with no tail (or no head) cannot be moved to the share: weights 1
    assert tail_share_weights(np.zeros(4, bool), 0.3).tolist() == [1.0] * 4
    assert tail_share_weights(np.ones(3, bool), 0.3).tolist() == [1.0] * 3


def test_tail_share_reweights_what_protection_kept_reserve_included():
    # topic 1 is tail, site 0 human: the protected documents survive the detector, and the
    # final kept set (reserve swapped in) gives the tail exactly tail_share
    rng = np.random.default_rng(4)
    n = 2000
    crawl = docs(n, synthetic=0.5, topic=rng.integers(2, size=n), site=rng.integers(2, size=n))
    archive = docs(3000, synthetic=0.0, topic=rng.integers(2, size=3000), seed=5)
    f = make_filter(protect_tail=True, tail_share=0.25, human_reserve=0.2)
    out = f.apply(crawl, archive, np.random.default_rng(1))
    on_tail = out.kept.topic == 1
    assert out.weights[on_tail].sum() / out.weights.sum() == pytest.approx(0.25, rel=1e-12)
    assert out.weights.sum() == pytest.approx(len(out.kept))
    protected = (crawl.topic == 1) & (crawl.site == 0)
    assert out.flagged[protected].any()  # some protected documents were flagged and still kept
    assert np.count_nonzero((out.kept.topic == 1) & (out.kept.site == 0)) >= protected.sum() * 0.7


def test_tail_share_defaults_to_realitys_tail_share():
    f = CrawlFilter(
        Filtering(protect_tail=True), np.array([False, True]), np.array([True, False]), 0.17
    )
    assert f.tail_share == 0.17
    rng = np.random.default_rng(3)
    crawl = docs(1000, synthetic=0.0, topic=rng.integers(2, size=1000), site=np.zeros(1000, int))
    out = f.apply(crawl, crawl.take(np.zeros(0, int)), rng)
    on_tail = out.kept.topic == 1
    assert out.weights[on_tail].sum() / out.weights.sum() == pytest.approx(0.17, rel=1e-12)


def test_pool_token_share_counts_assisted_words_and_weights():
    d = docs(4, synthetic=0.0, ai_fraction=np.array([1.0, 0.5, 0.0, 0.25], np.float32))
    pool = TrainingPool("accumulate", 1, 5)
    pool.add(d, np.array([2.0, 1.0, 1.0, 0.0]))
    pool.add(d, np.ones(4))
    stats = pool.training_set(np.random.default_rng(0))
    # (2 + 0.5 + 0 + 0) + (1 + 0.5 + 0 + 0.25) over weights 4 + 4, tokens of length 4
    assert stats.model_token_share == pytest.approx((2.5 + 1.75) / 8)


def training_tail_share(model: WebEcosystem) -> list[float]:
    """Tail-topic share of the weight of each model's last training set."""
    return [
        float(ai.train_topic_counts[model.is_tail].sum() / ai.train_topic_counts.sum())
        for ai in model.ai_models
    ]


@pytest.mark.parametrize("share", [0.1, 0.4])
def test_tail_share_stays_at_the_policy_value_under_accumulate(share):
    """Over 15 generations of accumulate with feedback, the tail share of every training
    set is exactly the policy's value (each crawl is reweighted once, so nothing compounds)."""
    scenario = small_scenario(
        steps=30,
        web={"ai_share": 0.6},
        models={"regime": "accumulate", "retrain_every": 2},
        filtering={"protect_tail": True, "tail_share": share},
    )
    model = stepped(scenario)
    assert training_tail_share(model) == pytest.approx([share] * 2, rel=1e-9)
    for _ in range(scenario.steps):
        model.step()
        assert training_tail_share(model) == pytest.approx([share] * 2, rel=1e-9)
    # the models' topic mass on the tail is the same share: counted, not decoded
    probs = model_topic_probs(model)[:, model.is_tail].sum(axis=1)
    assert probs == pytest.approx([share] * 2, rel=1e-9)
