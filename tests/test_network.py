"""SiteNetwork: the scale-free site graph, its farms, PageRank and reading matrix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from simulation.network import SiteNetwork
from simulation.scenario import Web

WEB = Web(n_sites=60, links_per_site=2, farm_share=0.1)


def network(seed: int = 0, n_models: int = 2, web: Web = WEB) -> SiteNetwork:
    return SiteNetwork(web, n_models, np.random.default_rng(seed))


def test_sites_and_links():
    net = network()
    assert net.n_sites == 60 and net.graph.number_of_nodes() == 60
    assert net.adjacency.shape == (60, 60)
    arcs = set(zip(*net.adjacency.nonzero(), strict=True))
    assert arcs == set(net.graph.edges())
    # Barabási–Albert: m(n − m) links, each kept newer → older, about half also reciprocated.
    links = 2 * (60 - 2)
    older = [(u, v) for u, v in arcs if u > v]
    assert len(older) == links
    assert links < len(arcs) < 2 * links
    assert not any(u == v for u, v in arcs)
    assert nx.is_weakly_connected(net.graph)


@pytest.mark.parametrize(
    "web,n_models,n_farms",
    [
        (WEB, 2, 6),  # round(0.1 · 60)
        (WEB, 4, 6),
        (Web(n_sites=60, links_per_site=2, farm_share=0.02), 4, 4),  # round(1.2) < 4 models
        (Web(n_sites=60, links_per_site=2, farm_share=0.5), 3, 30),
    ],
)
def test_farms_are_dealt_round_robin_to_the_models(web, n_models, n_farms):
    net = network(n_models=n_models, web=web)
    owner = net.farm_owner
    assert owner.dtype == np.int16
    assert np.count_nonzero(owner >= 0) == n_farms
    assert set(owner[owner >= 0]) == set(range(n_models))
    per_model = np.bincount(owner[owner >= 0], minlength=n_models)
    assert per_model.max() - per_model.min() <= 1
    for m in range(n_models):
        assert np.array_equal(np.sort(net.farm_sites[m]), np.flatnonzero(owner == m))
    assert np.array_equal(net.human_sites, np.flatnonzero(owner == -1))
    assert np.array_equal(net.is_human_site(), owner == -1)
    assert len(net.human_sites) == 60 - n_farms


def test_reading_matrix_weighs_the_site_and_its_links_equally():
    net = network()
    reading = net.reading.toarray()
    np.testing.assert_allclose(reading.sum(axis=1), 1.0, rtol=1e-14)
    assert np.all(np.diag(reading) > 0)
    for i in range(60):
        around = sorted({i, *net.graph.successors(i)})
        expected = np.zeros(60)
        expected[around] = 1 / len(around)
        np.testing.assert_allclose(reading[i], expected, rtol=1e-14)


def test_pagerank_is_a_distribution_favouring_old_hubs():
    net = network()
    assert net.pagerank.shape == (60,)
    assert net.pagerank.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(net.pagerank > 0)
    reference = nx.pagerank(net.graph)
    np.testing.assert_allclose(net.pagerank, [reference[i] for i in range(60)], rtol=1e-12)
    # New sites link to older ones: the first sites collect the rank.
    assert net.pagerank[:10].mean() > 2 * net.pagerank[30:].mean()


def test_same_seed_same_network_other_seed_other_network():
    a, b, c = network(3), network(3), network(4)
    assert (a.adjacency != b.adjacency).nnz == 0
    assert np.array_equal(a.farm_owner, b.farm_owner)
    assert np.array_equal(a.pagerank, b.pagerank)
    assert (a.adjacency != c.adjacency).nnz > 0
    assert not np.array_equal(a.farm_owner, c.farm_owner)
