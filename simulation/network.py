"""The content network: a scale-free directed graph of sites, its PageRank and reading matrix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from simulation.scenario import Web


class SiteNetwork:
    """Sites linked by preferential attachment; each site is a human site or a model's farm.

    New sites link to established ones (Barabási–Albert); each such link is reciprocated with
    probability 1/2, so the graph is directed but well connected.
    """

    def __init__(self, config: Web, n_models: int, rng: np.random.Generator):
        n = config.n_sites
        undirected = nx.barabasi_albert_graph(
            n, config.links_per_site, seed=int(rng.integers(2**31))
        )
        edges = np.array(undirected.edges(), dtype=np.int64).reshape(-1, 2)
        edges.sort(axis=1)
        newer_to_older = edges[:, ::-1]
        back = edges[rng.random(len(edges)) < 0.5]
        arcs = np.concatenate([newer_to_older, back])
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(range(n))
        self.graph.add_edges_from(map(tuple, arcs.tolist()))
        self.adjacency = sp.csr_matrix((np.ones(len(arcs)), (arcs[:, 0], arcs[:, 1])), shape=(n, n))
        rank = nx.pagerank(self.graph)  # once: it is a power iteration over the whole graph
        self.pagerank = np.array([rank[i] for i in range(n)])
        # Content farms: a random set of sites, dealt round-robin to the models.
        n_farms = max(n_models, round(config.farm_share * n))
        farms = rng.choice(n, size=n_farms, replace=False)
        self.farm_owner = np.full(n, -1, dtype=np.int16)
        self.farm_owner[farms] = np.arange(n_farms) % n_models
        self.human_sites = np.flatnonzero(self.farm_owner < 0)
        self.farm_sites = [farms[np.arange(n_farms) % n_models == m] for m in range(n_models)]
        # Reading: a site's own documents plus those of the sites it links to, equally weighted.
        reach = self.adjacency + sp.identity(n, format="csr")
        self.reading = sp.diags(1.0 / np.asarray(reach.sum(axis=1)).ravel()) @ reach

    @property
    def n_sites(self) -> int:
        return self.adjacency.shape[0]

    def is_human_site(self) -> np.ndarray:
        """Boolean mask of human-owned (verified) sites."""
        return self.farm_owner < 0
