"""Alias and guide sampling tables (simulation.generative.tables): exact distributions,
sampling frequencies, and `sampler`'s choice between them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.generative import AliasTable, GuideTable, as_csr, sampler, tables
from simulation.generative.tables import GUIDE_SLOTS


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    sparsity=st.floats(0.0, 0.9),
)
def test_guide_tables_reproduce_distribution_exactly(rows, n, seed, sparsity):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n, 0.5), size=rows) * (rng.random((rows, n)) >= sparsity)
    p[:, 0] += 1e-3
    p /= p.sum(axis=1, keepdims=True)
    table = GuideTable.build(as_csr(p))
    assert np.abs(table.implied() - p).max() < 1e-12
    # Every row's guide covers its own entries only, and the edges rise to the row's slots.
    assert table.edge.size == np.count_nonzero(p)
    assert table.guide.size == GUIDE_SLOTS * table.edge.size
    for r in range(rows):
        n = np.count_nonzero(p[r])
        own = table.guide[GUIDE_SLOTS * table.start[r] : GUIDE_SLOTS * (table.start[r] + n)]
        assert np.all(own < n)  # entries counted from the row's start
        edges = table.edge[table.start[r] : table.start[r] + n]
        assert np.all(np.diff(edges) >= 0) and edges[-1] == table.slots[r] == GUIDE_SLOTS * n


@pytest.mark.parametrize("block", [1, 7, 50])
def test_guide_tables_built_in_blocks_of_rows_are_the_tables_built_at_once(block, monkeypatch):
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.full(120, 0.2), size=30) * (rng.random((30, 120)) < 0.3)
    p[4] = 0.0  # an empty row
    whole = GuideTable.build(as_csr(p))
    monkeypatch.setattr(tables, "ROW_BLOCK", block)
    blocked = GuideTable.build(as_csr(p))
    for name in ("start", "slots", "cols", "edge", "guide"):
        assert np.array_equal(getattr(blocked, name), getattr(whole, name)), name
    rows = np.flatnonzero(p.sum(axis=1) > 0)  # an empty row cannot be sampled
    assert np.array_equal(
        blocked.sample(rows, 1000, np.random.default_rng(9)),
        whole.sample(rows, 1000, np.random.default_rng(9)),
    )


def test_alias_tables_built_in_blocks_on_threads_are_the_tables_built_at_once(monkeypatch):
    from simulation import threads

    p = np.random.default_rng(4).dirichlet(np.full(50, 0.3), size=40)
    whole = AliasTable.build(p)
    monkeypatch.setattr(tables, "ALIAS_BLOCK_CELLS", 3 * 50)  # 14 blocks of 3 rows
    for count in (1, 4):
        with threads.using_threads(count):
            blocked = AliasTable.build(p)
        assert np.array_equal(blocked.prob, whole.prob)
        assert np.array_equal(blocked.alias, whole.alias)


def build_table(kind: str, p: np.ndarray):
    return AliasTable.build(p) if kind == "alias" else GuideTable.build(as_csr(p))


@pytest.mark.parametrize("kind", ["alias", "guide"])
def test_sampling_frequencies_match_within_sampling_error(kind):
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(50), size=3)
    p[1, ::3] = 0.0  # a sparse row
    p /= p.sum(axis=1, keepdims=True)
    draws = build_table(kind, p).sample(np.array([0, 1, 2, 1]), 200_000, rng)
    assert draws.shape == (4, 200_000) and draws.dtype == np.uint16
    for i, row in enumerate([0, 1, 2, 1]):
        freq = np.bincount(draws[i], minlength=50) / 200_000
        se = np.sqrt(p[row] * (1 - p[row]) / 200_000)
        assert np.all(np.abs(freq - p[row]) < 5 * se + 1e-12)


@pytest.mark.parametrize("kind", ["alias", "guide"])
def test_zero_probability_words_are_never_sampled(kind):
    p = np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
    draws = build_table(kind, p).sample(np.array([0, 1]), 10_000, np.random.default_rng(0))
    assert set(np.unique(draws[0])) == {0, 2}
    assert set(np.unique(draws[1])) == {3}


def test_sampler_picks_alias_tables_when_dense_and_guide_tables_when_sparse():
    assert isinstance(sampler(as_csr(np.full((3, 8), 1 / 8))), AliasTable)
    assert isinstance(sampler(as_csr(np.eye(8)[:3])), GuideTable)
    half = np.zeros((2, 8))
    half[:, :4] = 0.25  # exactly DENSE_FILL full: alias
    assert isinstance(sampler(as_csr(half)), AliasTable)
