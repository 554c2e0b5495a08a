"""SiteNetwork: scale-free human sites, a farm cluster weakly linked from them, topic profiles,
placement by topic, PageRank and the reading matrix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from simulation.network import FARM_TO_FARM, FARM_TO_HUMAN, SiteNetwork, scale_free_arcs
from simulation.scenario import Web

WEB = Web(n_sites=60, links_per_site=2, farm_share=0.1)
ZIPF = np.arange(1, 41) ** -1.1 / (np.arange(1, 41) ** -1.1).sum()  # a p* over 40 topics


def network(
    seed: int = 0, n_models: int = 2, web: Web = WEB, topic_probs: np.ndarray | None = ZIPF
) -> SiteNetwork:
    return SiteNetwork(web, n_models, np.random.default_rng(seed), topic_probs=topic_probs)


def blocks(net: SiteNetwork) -> dict[str, np.ndarray]:
    """Arc counts by (source kind, target kind), per target site: hh, hf, fh, ff."""
    dense = net.adjacency.toarray() > 0
    human, farm = net.is_human_site(), ~net.is_human_site()
    return {
        "hh": dense[np.ix_(human, human)].sum(axis=0),
        "hf": dense[np.ix_(human, farm)].sum(axis=0),
        "fh": dense[np.ix_(farm, human)].sum(axis=1),
        "ff": dense[np.ix_(farm, farm)].sum(axis=1),
    }


def test_scale_free_arcs_point_newer_to_older_and_half_are_reciprocated():
    arcs = scale_free_arcs(200, 2, np.random.default_rng(0))
    older = arcs[arcs[:, 0] > arcs[:, 1]]
    assert len(older) == 2 * (200 - 2)  # Barabási–Albert: m(n − m) edges, each newer → older
    back = len(arcs) - len(older)
    assert abs(back - len(older) / 2) < 4 * np.sqrt(len(older) / 4)
    assert len(np.unique(arcs, axis=0)) == len(arcs)
    assert scale_free_arcs(1, 3, np.random.default_rng(0)).shape == (0, 2)
    assert len(scale_free_arcs(3, 5, np.random.default_rng(0))) >= 2  # m capped at n − 1


def test_sites_links_and_the_human_graph_is_scale_free():
    net = network()
    assert net.n_sites == 60 and net.graph.number_of_nodes() == 60
    arcs = set(zip(*net.adjacency.nonzero(), strict=True))
    assert arcs == set(net.graph.edges())
    assert not any(u == v for u, v in arcs)
    assert nx.is_weakly_connected(net.graph)
    # Human → human arcs are the Barabási–Albert graph on the human sites, oldest first.
    humans = net.human_sites
    position = np.full(60, -1)
    position[humans] = np.arange(len(humans))
    hh = [(position[u], position[v]) for u, v in arcs if position[u] >= 0 and position[v] >= 0]
    assert sum(u > v for u, v in hh) == 2 * (len(humans) - 2)
    # Every farm has its out-links to farms and to human sites (duplicates merged).
    b = blocks(net)
    assert np.all(b["ff"] <= FARM_TO_FARM * 2) and np.all(b["fh"] <= FARM_TO_HUMAN * 2)
    assert np.all(b["fh"] >= 1)


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


@pytest.mark.parametrize("farm_links", [0.0, 0.1, 0.5, 1.0])
def test_farm_in_links_from_human_sites_match_the_knob(farm_links):
    # The human → farm count is Poisson with mean farm_links · (hh arcs / n_h) · n_farms; over
    # independent networks the ratio of per-site in-links farm / human estimates farm_links
    # with SE sqrt(Σ λ) / Σ (hh arcs / n_h · n_farms). A wrong placement (farms linked like
    # human sites: ratio 1) is about 30 SE away at farm_links = 0.5.
    web = Web(n_sites=400, links_per_site=3, farm_share=0.1, farm_links=farm_links)
    hf, expected = 0, 0.0
    for seed in range(10):
        b = blocks(network(seed, web=web))
        hf += b["hf"].sum()
        expected += b["hh"].mean() * len(b["hf"])
    ratio = hf / expected
    assert abs(ratio - farm_links) <= 4 * np.sqrt(max(farm_links, 1e-12) * expected) / expected
    if farm_links == 0:
        assert hf == 0


def test_farms_are_a_dense_cluster_low_in_pagerank():
    for seed in range(3):
        net = network(seed, web=Web(n_sites=1000, links_per_site=3, farm_share=0.1))
        dense = net.adjacency.toarray() > 0
        human, farm = net.is_human_site(), ~net.is_human_site()
        assert dense[np.ix_(farm, farm)].mean() > 5 * dense[np.ix_(human, human)].mean()
        # Farms leak rank to human sites and get little back: well below a human site.
        assert net.pagerank[farm].mean() < 0.6 * net.pagerank[human].mean()


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
    # New human sites link to older ones: the first human sites collect the rank.
    rank = net.pagerank[net.human_sites]
    assert rank[:10].mean() > 2 * rank[30:].mean()


def test_site_profiles_mix_to_p_star():
    # Profile slots are i.i.d. p*: pooled over sites and seeds, topic counts are multinomial
    # with mean n·p*; a Pearson χ² with K − 1 = 39 d.f. has mean 39 and s.d. sqrt(78).
    web = Web(n_sites=400, links_per_site=2, site_topics=3)
    counts = sum(
        np.bincount(network(s, web=web).site_topics.ravel(), minlength=40) for s in range(5)
    )
    expected = counts.sum() * ZIPF
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 39 + 4 * np.sqrt(78)
    assert network(web=web).site_topics.shape == (400 - 40, 3)


@pytest.mark.parametrize("focus", [0.0, 0.6, 1.0])
def test_place_draws_sites_by_profile_with_probability_focus(focus):
    # P(site s | topic k) = φ·c_sk/C_k + (1 − φ)/n_h: the share of items landing on a site
    # holding the topic is φ + (1 − φ)·(holders/n_h), binomial over the draws.
    net = network(web=Web(n_sites=200, links_per_site=2, topic_focus=focus))
    rng = np.random.default_rng(1)
    for topic in (0, 5):
        holders = np.unique(net.human_sites[np.flatnonzero((net.site_topics == topic).any(1))])
        assert holders.size > 0
        n = 20000
        sites = net.place(np.full(n, topic), rng)
        assert np.isin(sites, net.human_sites).all() and sites.dtype == np.int32
        p = focus + (1 - focus) * holders.size / net.human_sites.size
        got = np.isin(sites, holders).mean()
        assert abs(got - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    # A topic no site holds is placed uniformly.
    missing = np.setdiff1d(np.arange(40), net.site_topics)
    if missing.size:
        sites = net.place(np.full(4000, missing[0]), rng)
        assert np.unique(sites).size > 0.9 * net.human_sites.size


def test_home_sites_follow_the_strongest_interest():
    net = network(web=Web(n_sites=200, links_per_site=2, topic_focus=1.0))
    rng = np.random.default_rng(2)
    topics = rng.choice(40, size=(500, 3), p=ZIPF)
    weights = rng.dirichlet(np.ones(3), size=500)
    sites = net.home_sites(topics, weights, rng)
    strongest = topics[np.arange(500), np.argmax(weights, axis=1)]
    profile = np.zeros((200, 40), dtype=bool)
    profile[np.repeat(net.human_sites, 3), net.site_topics.ravel()] = True
    held = profile.any(axis=0)[strongest]
    assert np.all(profile[sites, strongest][held])  # focus 1: always a site that holds it


def test_without_p_star_sites_hold_no_topics_and_placement_is_uniform():
    net = network(topic_probs=None)
    assert net.site_topics.shape == (len(net.human_sites), 0)
    sites = net.place(np.zeros(6000, dtype=np.int64), np.random.default_rng(0))
    counts = np.bincount(sites, minlength=60)[net.human_sites]
    n_h = len(net.human_sites)
    chi2 = ((counts - 6000 / n_h) ** 2 / (6000 / n_h)).sum()
    assert chi2 < (n_h - 1) + 4 * np.sqrt(2 * (n_h - 1))


def test_same_seed_same_network_other_seed_other_network():
    a, b, c = network(3), network(3), network(4)
    assert (a.adjacency != b.adjacency).nnz == 0
    assert np.array_equal(a.farm_owner, b.farm_owner)
    assert np.array_equal(a.pagerank, b.pagerank)
    assert np.array_equal(a.site_topics, b.site_topics)
    assert (a.adjacency != c.adjacency).nnz > 0
    assert not np.array_equal(a.farm_owner, c.farm_owner)
