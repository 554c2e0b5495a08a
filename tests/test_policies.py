"""Filtering policies and training regimes: first without a model, then their effect on what
the models of a whole run train on."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import registry
from simulation.corpus import Documents
from simulation.model import WebEcosystem
from simulation.policies import CrawlFilter, TrainingPool, flag_probability, passed_human_share
from simulation.scenario import Filtering
from tests.conftest import NO_FILTER, mean_after_run, mean_final


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
    f = make_filter(detector={"tpr": 1.0, "fpr": 0.0}, protect_tail=True, tail_weight=3.0)
    out = f.apply(crawl, empty, np.random.default_rng(0))
    assert out.kept.topic.tolist() == [1, 1] and out.kept.site.tolist() == [0, 0]
    assert out.weights.tolist() == [3.0, 3.0]
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
    return registry.model_topic_probs(model)[:, model.is_tail].sum(axis=1).mean()


def test_tail_protection_raises_tail_mass_in_models():
    common = {"web": {"ai_share": 0.7}, "models": {"regime": "replace"}, "steps": 12}
    detector = {"detector": {"tpr": 0.9, "fpr": 0.5}}
    protected = mean_after_run(
        model_tail_mass, filtering={**detector, "protect_tail": True, "tail_weight": 4.0}, **common
    )
    plain = mean_after_run(model_tail_mass, filtering=detector, **common)
    assert protected > 1.5 * plain
