"""The content network: human sites in a scale-free graph, content farms in a dense cluster
weakly linked from it, topic profiles of the human sites, PageRank and the reading matrix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from simulation.scenario import Web

# Out-links of every farm, in units of `links_per_site`: to other farms (a link farm) and to
# popular human sites (to look legitimate). Farms leak rank to human sites, so the cluster does
# not trap the random surfer and stays low in PageRank while few human sites link to it.
FARM_TO_FARM = 2
FARM_TO_HUMAN = 1


def scale_free_arcs(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Arcs (k, 2) of a directed Barabási–Albert graph on nodes 0…n−1 (0 is the oldest).

    Every edge points from the newer node to the older one (attachment links go to established
    sites) and is reciprocated with probability 1/2, so the graph stays well connected. `m` is
    capped at n − 1; a single node has no arcs.
    """
    m = min(m, n - 1)
    if m < 1:
        return np.zeros((0, 2), dtype=np.int64)
    undirected = nx.barabasi_albert_graph(n, m, seed=int(rng.integers(2**31)))
    edges = np.array(undirected.edges(), dtype=np.int64).reshape(-1, 2)
    edges.sort(axis=1)
    back = edges[rng.random(len(edges)) < 0.5]
    return np.concatenate([edges[:, ::-1], back])


class SiteNetwork:
    """Human sites and content farms, linked as on the real web; human sites hold topics.

    Human sites form a scale-free (Barabási–Albert) graph. Farms link densely among themselves
    and to popular human sites, but human sites link to a farm only `farm_links` times as often
    as to a human site, so farms sit low in PageRank. Each human site has a profile of
    `site_topics` topics drawn from p*; `place` puts documents and writers of a topic on sites
    whose profile holds it, so what a crawler reaches through links depends on topic.
    """

    def __init__(
        self,
        config: Web,
        n_models: int,
        rng: np.random.Generator,
        topic_probs: np.ndarray | None = None,
    ):
        n = config.n_sites
        # Content farms: a random set of sites, dealt round-robin to the models.
        n_farms = max(n_models, round(config.farm_share * n))
        farms = rng.choice(n, size=n_farms, replace=False)
        self.farm_owner = np.full(n, -1, dtype=np.int16)
        self.farm_owner[farms] = np.arange(n_farms) % n_models
        self.human_sites = np.flatnonzero(self.farm_owner < 0)
        self.farm_sites = [farms[np.arange(n_farms) % n_models == m] for m in range(n_models)]
        self.topic_focus = config.topic_focus
        arcs = self._arcs(config, farms, rng)
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(range(n))
        self.graph.add_edges_from(map(tuple, arcs.tolist()))
        self.adjacency = sp.csr_matrix((np.ones(len(arcs)), (arcs[:, 0], arcs[:, 1])), shape=(n, n))
        rank = nx.pagerank(self.graph)  # once: it is a power iteration over the whole graph
        self.pagerank = np.array([rank[i] for i in range(n)])
        # Reading: a site's own documents plus those of the sites it links to, equally weighted.
        reach = self.adjacency + sp.identity(n, format="csr")
        self.reading = sp.diags(1.0 / np.asarray(reach.sum(axis=1)).ravel()) @ reach
        self._profiles(config.site_topics, topic_probs, rng)

    def _arcs(self, config: Web, farms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Every arc (k, 2) of the web, without self-loops or duplicates.

        Human → human: the scale-free graph. Human → farm: a Poisson number with mean
        `farm_links` × (mean human in-links of a human site) × n_farms, sources and targets
        uniform. Farm → farm: FARM_TO_FARM·m to uniform farms. Farm → human: FARM_TO_HUMAN·m
        to human sites ∝ (human in-degree + 1), i.e. the popular ones.
        """
        humans, m = self.human_sites, config.links_per_site
        local = scale_free_arcs(len(humans), m, rng)
        in_links = np.bincount(local[:, 1], minlength=len(humans))
        k = int(rng.poisson(config.farm_links * len(local) / len(humans) * len(farms)))
        to_farms = np.column_stack([rng.choice(humans, size=k), rng.choice(farms, size=k)])
        farm_farm = np.column_stack(
            [
                np.repeat(farms, FARM_TO_FARM * m),
                rng.choice(farms, size=FARM_TO_FARM * m * len(farms)),
            ]
        )
        popular = (in_links + 1) / (in_links + 1).sum()
        farm_human = np.column_stack(
            [
                np.repeat(farms, FARM_TO_HUMAN * m),
                rng.choice(humans, size=FARM_TO_HUMAN * m * len(farms), p=popular),
            ]
        )
        arcs = np.concatenate([humans[local], to_farms, farm_farm, farm_human])
        return np.unique(arcs[arcs[:, 0] != arcs[:, 1]], axis=0)

    def _profiles(
        self, size: int, topic_probs: np.ndarray | None, rng: np.random.Generator
    ) -> None:
        """Each human site's topic profile: `size` topics i.i.d. from p*, so the web's mix of
        profiles is p* in expectation. Without p* the sites hold no topics (uniform placement).

        The profile slots are indexed by topic (`_slot_site`, `_slot_start`) so that `place`
        finds the sites holding a topic without a loop.
        """
        if topic_probs is None:
            self.site_topics = np.zeros((len(self.human_sites), 0), dtype=np.int32)
            self._slot_start = None
            return
        n_topics = len(topic_probs)
        self.site_topics = rng.choice(
            n_topics, size=(len(self.human_sites), size), p=topic_probs
        ).astype(np.int32)
        flat = self.site_topics.ravel()
        order = np.argsort(flat, kind="stable")
        self._slot_site = order // size  # index into human_sites, a site once per slot
        self._slot_start = np.searchsorted(flat[order], np.arange(n_topics + 1))

    @property
    def n_sites(self) -> int:
        return self.adjacency.shape[0]

    def is_human_site(self) -> np.ndarray:
        """Boolean mask of human-owned (verified) sites."""
        return self.farm_owner < 0

    def place(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A human site for each item of the given topics (documents or writers).

        With probability `topic_focus` the site is drawn from the profile slots holding the
        topic (a site holding it twice is twice as likely); otherwise, or when no profile holds
        it, uniformly from the human sites. So P(site s | topic k) = φ·c_sk/C_k + (1 − φ)/n_h.
        """
        n, n_human = len(topics), len(self.human_sites)
        uniform = rng.integers(n_human, size=n)
        if self._slot_start is None:
            return self.human_sites[uniform].astype(np.int32)
        start = self._slot_start[topics]
        holders = self._slot_start[topics + 1] - start
        focused = (rng.random(n) < self.topic_focus) & (holders > 0)
        slot = start + (rng.random(n) * holders).astype(np.int64)
        chosen = np.where(focused, self._slot_site[np.where(focused, slot, 0)], uniform)
        return self.human_sites[chosen].astype(np.int32)

    def home_sites(
        self, topics: np.ndarray, weights: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Each writer's home site, placed (`place`) by their strongest interest: writers live
        on sites about what they write, so their documents follow the sites' topics."""
        strongest = topics[np.arange(len(topics)), np.argmax(weights, axis=1)]
        return self.place(strongest, rng)
