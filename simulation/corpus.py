"""Corpus: the web's documents as a columnar store of numpy arrays, one block per step.

Blocks are appended, never copied, so publishing costs O(new documents). Queries (a window of
recent steps, everything since a crawl) concatenate only the blocks they need.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass
class Documents:
    """A batch of documents as parallel arrays (one row per document)."""

    topic: np.ndarray  # (n,) int: topic id
    tokens: np.ndarray  # (n, L) uint16/uint32: word ids
    site: np.ndarray  # (n,) int32: site id
    author: np.ndarray  # (n,) int32: human index, or -1 for models and the archive
    ai_author: np.ndarray  # (n,) int16: index of the AI model that published it, or -1
    synthetic: np.ndarray  # (n,) bool: ground truth, published by an AI model
    ai_fraction: np.ndarray  # (n,) float32: share of words that came from a model
    labeled: np.ndarray  # (n,) bool: carries a machine-readable provenance label
    step: np.ndarray  # (n,) int32: publication step

    @classmethod
    def new(
        cls,
        topic: np.ndarray,
        tokens: np.ndarray,
        site: np.ndarray,
        step: int,
        *,
        author: np.ndarray | None = None,
        ai_author: int = -1,
        ai_fraction: np.ndarray | float = 0.0,
        labeled: np.ndarray | None = None,
    ) -> Documents:
        """A batch published at `step`, with each column in its storage type.

        Without `author` the documents have no human author (the archive, AI publications);
        `ai_author` >= 0 marks them as published by that AI model, hence synthetic.
        """
        n = len(topic)
        return cls(
            topic=np.asarray(topic).astype(np.int32),
            tokens=tokens,
            site=np.asarray(site).astype(np.int32),
            author=np.full(n, -1, dtype=np.int32) if author is None else author.astype(np.int32),
            ai_author=np.full(n, ai_author, dtype=np.int16),
            synthetic=np.full(n, ai_author >= 0),
            ai_fraction=np.broadcast_to(ai_fraction, (n,)).astype(np.float32),
            labeled=np.zeros(n, dtype=bool) if labeled is None else labeled,
            step=np.full(n, step, dtype=np.int32),
        )

    def __len__(self) -> int:
        return int(self.topic.shape[0])

    def take(self, index: np.ndarray) -> Documents:
        """Rows at `index` (an integer array or boolean mask)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)  # `take` by index is several times faster than a mask
        return Documents(
            **{f.name: getattr(self, f.name).take(index, axis=0) for f in fields(self)}
        )

    @classmethod
    def concat(cls, parts: list[Documents]) -> Documents:
        """Stack batches into one."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


class Corpus:
    """Published documents, block per step, with per-site counts for crawlers and views.

    Blocks no reader can reach any more may be dropped (`forget_before`); the per-site counts
    keep counting every document ever published.
    """

    def __init__(self, n_sites: int):
        self.n_sites = n_sites
        self._blocks: list[Documents] = []
        self._block_step: list[int] = []
        self.docs_per_site = np.zeros(n_sites, dtype=np.int64)
        self.synthetic_per_site = np.zeros(n_sites, dtype=np.int64)
        self._last_since: tuple[int, Documents | None] | None = None  # until the next publish
        self._last_site_counts: tuple[int, np.ndarray] | None = None  # the same

    def __len__(self) -> int:
        return int(self.docs_per_site.sum())

    def publish(self, docs: Documents, step: int) -> None:
        """Append a step's documents."""
        self._blocks.append(docs)
        self._block_step.append(step)
        self._last_since = self._last_site_counts = None
        self.docs_per_site += np.bincount(docs.site, minlength=self.n_sites)
        self.synthetic_per_site += np.bincount(
            docs.site, weights=docs.synthetic, minlength=self.n_sites
        ).astype(np.int64)

    def release(self) -> None:
        """Drop the documents `since` concatenated last (a crawl's candidates: 100 MB in the
        large benchmark); the next query concatenates anew."""
        self._last_since = self._last_site_counts = None

    def since(self, step: int) -> Documents | None:
        """Documents published at steps >= `step`, or None if there are none.

        Every crawler of a generation asks for the same steps: they share one concatenation.
        """
        if self._last_since is not None and self._last_since[0] == step:
            return self._last_since[1]
        parts = [b for b, s in zip(self._blocks, self._block_step, strict=True) if s >= step]
        docs = Documents.concat(parts) if parts else None
        self._last_since = (step, docs)
        return docs

    def site_counts_since(self, step: int) -> np.ndarray:
        """(sites,) documents per site among those published at steps >= `step`, counted once
        for every crawler of a generation."""
        if self._last_site_counts is None or self._last_site_counts[0] != step:
            docs = self.since(step)
            site = docs.site if docs is not None else np.zeros(0, dtype=np.int32)
            self._last_site_counts = (step, np.bincount(site, minlength=self.n_sites))
        return self._last_site_counts[1]

    def forget_before(self, step: int) -> None:
        """Drop the blocks of steps before `step`: their tokens are what fills memory."""
        keep = [i for i, s in enumerate(self._block_step) if s >= step]
        self._blocks = [self._blocks[i] for i in keep]
        self._block_step = [self._block_step[i] for i in keep]
        self._last_since = self._last_site_counts = None
