"""The vectorised hot path is exact: alias tables, the nucleus and crawl collection."""

from __future__ import annotations

import numpy as np

from simulation.generative import AliasTable, nucleus
from simulation.model import WebEcosystem
from tests.conftest import small_scenario


def stable_sort_nucleus(p: np.ndarray, top_p: float) -> np.ndarray:
    """Reference nucleus: a stable descending argsort per row."""
    order = np.argsort(-p, axis=1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=1)
    before = np.cumsum(sorted_p, axis=1) - sorted_p
    keep_sorted = before < top_p * sorted_p.sum(axis=1, keepdims=True) - 1e-12
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, p, 0.0)


def count_like(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """Row-normalised Poisson counts over a Zipf vocabulary: sparse, with many ties."""
    rate = np.arange(1, n + 1.0) ** -1.0 * np.exp(rng.standard_normal((rows, n))) * 20
    counts = rng.poisson(rate).astype(np.float64)
    counts[:, 0] += 1
    return counts / counts.sum(axis=1, keepdims=True)


def test_alias_tables_exact_on_large_sparse_tables():
    rng = np.random.default_rng(5)
    p = count_like(rng, 40, 5000)
    p[3] = 1.0 / 5000  # a uniform row: every entry sits at q = 1 up to rounding
    table = AliasTable.build(p)
    assert table.alias.dtype == np.uint16
    assert np.abs(table.implied() - p).max() < 1e-12
    assert np.all((table.prob >= 0) & (table.prob <= 1))


def test_alias_all_zero_row_becomes_uniform():
    p = np.array([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(AliasTable.build(p).implied(), [[0.25] * 4, p[1]], atol=1e-15)


def test_nucleus_matches_stable_argsort_reference_including_ties():
    rng = np.random.default_rng(9)
    p = count_like(rng, 30, 2000)
    for top_p in (0.3, 0.9, 0.95, 0.999):
        assert np.array_equal(nucleus(p, top_p), stable_sort_nucleus(p, top_p))
    ties = np.full((2, 6), 1 / 6)
    ties[1] = [0.3, 0.1, 0.1, 0.1, 0.1, 0.3]
    assert np.array_equal(nucleus(ties, 0.5), stable_sort_nucleus(ties, 0.5))
    assert nucleus(ties, 0.5)[1].tolist() == [0.3, 0.0, 0.0, 0.0, 0.0, 0.3]


def test_collect_equals_a_stable_sort_of_documents_by_visit_rank():
    scenario = small_scenario(steps=1, crawlers={"budget": 700})
    model = WebEcosystem(scenario, rng=3)
    model.step()
    crawler, fresh = model.crawlers[0], model.corpus.since(1)
    order = np.random.default_rng(1).permutation(60)[:45]  # 15 sites unreachable
    crawler.visit_order = lambda: order
    rank = np.full(60, 60)
    rank[order] = np.arange(45)
    doc_rank = rank[fresh.site]
    reachable = np.flatnonzero(doc_rank < 45)
    expected = np.sort(reachable[np.argsort(doc_rank[reachable], kind="stable")[:700]])
    got = crawler.collect(fresh)
    assert len(got) == 700
    for column in ("site", "topic", "author", "step"):
        assert np.array_equal(getattr(got, column), getattr(fresh, column)[expected])
