"""Sampling tables: many discrete distributions at once, each draw in O(1) expected time.

Walker/Vose alias tables suit dense distributions (such as reality's): every draw is one
uniform, one compare and one gather. Guide tables (Chen & Asau 1974) over each row's support
suit sparse ones (such as a model fitted to counts): building them is a cumulative sum over
the support, where an alias table needs every cell. `sampler` picks between them. Both store
all rows flat and are exact: `implied()` returns the distributions they sample from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp

from simulation.generative.sparse import ROW_BLOCK, _row_sums, row_blocks
from simulation.threads import parts, run_each

DENSE_FILL = 0.5  # distributions at least this full get alias tables, sparser ones guide tables
ALIAS_BLOCK_CELLS = 1 << 21  # cells per block of an alias build: ~100 MB of temporaries
GUIDE_SLOTS = 4  # guide slots per entry of a guide table: fewer walking draws, 16 bytes more


@dataclass(frozen=True)
class AliasTable:
    """Row-wise alias tables for a (rows, n) matrix of distributions, stored flat."""

    prob: np.ndarray  # (rows*n,) float64: probability of keeping the column itself
    alias: np.ndarray  # (rows*n,) int: the column used otherwise
    n: int

    @classmethod
    def build(cls, p: np.ndarray) -> AliasTable:
        """Build tables for every row of `p` (all-zero rows become uniform).

        Vectorised Vose: smalls (q<1) take their deficit from the large whose stretch of
        the cumulative-excess "tape" holds the start of their own cumulative deficit; a large
        whose excess runs out mid-way becomes small and borrows from the next large. The
        pairing is one stable merge of the two sorted tapes. Rows are built in blocks of
        about `ALIAS_BLOCK_CELLS` cells, which bounds the temporaries (a few times the
        block's size) whatever the matrix; each row's table is the same in any block. The
        blocks are built side by side on the model threads (`threads.run_each`): p*'s tables
        are most of the time it takes to draw a world.
        """
        p = np.atleast_2d(np.asarray(p, dtype=np.float64))
        rows, n = p.shape
        prob = np.empty(rows * n)
        alias = np.empty(rows * n, dtype=np.uint16 if n <= 65536 else np.uint32)
        block = max(1, ALIAS_BLOCK_CELLS // n)

        def build_block(first: int) -> None:
            cells = slice(first * n, min(first + block, rows) * n)
            prob[cells], alias[cells] = cls._build_block(p[first : first + block], first)

        run_each([partial(build_block, first) for first in range(0, rows, block)])
        return cls(prob=prob, alias=alias, n=n)

    @staticmethod
    def _build_block(p: np.ndarray, first_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Keep-probabilities and aliases of the rows of `p`, which start at row `first_row`
        of the whole matrix (its row offsets place every row's tapes the same way)."""
        rows, n = p.shape
        total = p.sum(axis=1)
        q = p * (n / np.where(total > 0, total, 1.0))[:, None]
        q[total <= 0] = 1.0
        small = q < 1.0
        small[np.arange(rows), np.argmax(q, axis=1)] = False  # every row keeps a large
        flat_small = np.flatnonzero(small)
        flat_large = np.flatnonzero(~small)
        n_large = n - np.count_nonzero(small, axis=1)  # per row
        del small
        # Row offsets (rows 2n+2 apart, tapes at most n long) make the per-row cumulative
        # tapes one globally sorted sequence.
        offset = (np.arange(first_row, first_row + rows, dtype=np.float64) * (2.0 * n + 2.0))[
            :, None
        ]
        tape = np.subtract(1.0, q)
        deficit = tape.ravel()[flat_small]
        np.maximum(tape, 0.0, out=tape)
        np.cumsum(tape, axis=1, out=tape)
        tape += offset
        d_end = tape.ravel()[flat_small]
        d_start = d_end - deficit
        q -= 1.0
        np.maximum(q, 0.0, out=q)
        np.cumsum(q, axis=1, out=q)
        q += offset
        e_end = q.ravel()[flat_large]
        del q
        # Merge the tapes (stretch ends first on ties): each small learns how many stretches
        # end at or before its deficit starts; each large, how many deficits start before
        # its stretch ends.
        order = np.argsort(np.concatenate([e_end, d_start]), kind="stable")
        is_large = order < e_end.size
        del order
        # Both tapes keep their own order in the merge, so position minus rank counts the other.
        j = np.flatnonzero(~is_large)
        j -= np.arange(j.size)
        straddler = np.flatnonzero(is_large)  # the last small starting before the end, or -1
        straddler -= np.arange(1, straddler.size + 1)
        del is_large
        last_large = np.cumsum(n_large) - 1  # per row: index of its last large
        np.minimum(j, np.repeat(last_large, n - n_large), out=j)
        cols = np.tile(np.arange(n, dtype=np.uint16 if n <= 65536 else np.uint32), rows)
        large_col = cols[flat_large]
        own = tape.ravel()
        own.fill(1.0)
        own[flat_small] = 1.0 - deficit
        cols[flat_small] = large_col[j]
        # A large whose stretch ends inside a small's deficit gives that small all of it and
        # borrows the shortfall from the next large of its row.
        fail = np.flatnonzero(straddler >= 0)
        shortfall = d_end[straddler[fail]] - e_end[fail]
        ok = (shortfall > 0) & (fail < last_large[flat_large[fail] // n])
        fail, shortfall = fail[ok], shortfall[ok]
        own[flat_large[fail]] = np.maximum(1.0 - shortfall, 0.0)
        cols[flat_large[fail]] = large_col[fail + 1]
        return own, cols

    def sample(self, rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `size` columns for each entry of `rows`: shape (len(rows), size).

        The uniforms are drawn here at once; the lookups, which draw nothing, run in parts
        on the model's threads (`threads.run_each`): the same columns on any number of threads.
        """
        rows = np.asarray(rows, dtype=np.intp)  # `take`'s own index type, as in `_look_up`
        x = rng.random((len(rows), size))
        out = np.empty(x.shape, dtype=self.alias.dtype)
        run_each([partial(self._look_up, rows[p], x[p], out[p]) for p in parts(len(rows), size)])
        return out

    def _look_up(self, rows: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        """Write into `out` the columns that uniforms `x` (one row per entry of `rows`) draw;
        `x` is overwritten."""
        x *= self.n
        col = x.astype(np.intp)  # truncation: the column, and what is left is the coin
        x -= col
        np.minimum(col, self.n - 1, out=col)
        flat = col + (rows * self.n)[:, None]  # intp, `take`'s own index type
        # `take`: faster than indexing by an array; "clip": no bounds check (none is out of
        # bounds), nor a buffered copy of `out`.
        keep = x < self.prob.take(flat, mode="clip")
        self.alias.take(flat, out=out, mode="clip")
        np.copyto(out, col, casting="unsafe", where=keep)

    def implied(self) -> np.ndarray:
        """The distributions the tables sample from (rows, n): for testing exactness."""
        rows = self.prob.size // self.n
        out = self.prob.reshape(rows, self.n).copy()
        give = (1.0 - self.prob).reshape(rows, self.n)
        row_idx = np.repeat(np.arange(rows), self.n)
        np.add.at(out, (row_idx, self.alias.astype(np.int64)), give.ravel())
        return out / self.n


@dataclass(frozen=True)
class GuideTable:
    """Row-wise discrete distributions over each row's support, sampled by indexed search.

    Row r owns its n_r entries from `start[r]` on, and `slots[r]` = GUIDE_SLOTS·n_r slots.
    Each entry holds its column and the upper edge of its interval on [0, slots[r]), whose
    widths are the probabilities scaled by slots[r]. A draw x = u·slots[r] starts at the guide
    slot floor(x), which names the first entry whose edge passes it (Chen & Asau 1974), and
    walks on while the entry's edge is ≤ x: about one draw in ten takes a step. Building is a
    cumulative sum and a repeat over the support, no sort. A slot names its entry counted from
    the row's start, so that it fits 16 bits when rows do (n_cols ≤ 65,536): half the memory
    of global entry numbers (200 MB less for the large benchmark's ten models).
    """

    start: np.ndarray  # (rows,) int: first entry of each row
    slots: np.ndarray  # (rows,) float64: guide slots of each row
    cols: np.ndarray  # (entries,) uint16/uint32: the column each entry draws
    edge: np.ndarray  # (entries,) float64: upper edge of each entry's interval in its row
    guide: np.ndarray  # (slots,) uint16/uint32: guide[GUIDE_SLOTS·start[r] + j] = first entry
    # of row r (counted from start[r]) whose edge passes j
    n_cols: int

    @classmethod
    def build(cls, p: sp.csr_array) -> GuideTable:
        """Tables for every row of a non-negative CSR matrix (empty rows cannot be sampled)."""
        n_cols = p.shape[1]
        indptr = p.indptr.astype(np.int64)
        n = np.diff(indptr)
        slots = n * float(GUIDE_SLOTS)
        total = _row_sums(p)
        scale = np.divide(slots, total, out=np.zeros_like(slots), where=total > 0)
        width = np.repeat(scale, n)
        width *= p.data  # sums to slots[r] within row r
        # Row-local cumulative sums from one global pass: each row start subtracts the previous
        # row's nominal total, and the residual rounding is then removed per row.
        nonempty = np.flatnonzero(n)
        first, last = indptr[nonempty], indptr[nonempty + 1] - 1
        width_first = width[first]
        width[first[1:]] -= slots[nonempty[:-1]]
        edge = np.cumsum(width)  # into a new array: accumulating in place holds the GIL
        del width
        edge -= np.repeat(edge[first] - width_first, n[nonempty])
        np.minimum(edge, np.repeat(slots, n), out=edge)
        edge[last] = slots[nonempty]
        dtype = np.uint16 if n_cols <= 65536 else np.uint32  # holds a column and a row's entry
        guide = np.empty(GUIDE_SLOTS * edge.size, dtype=dtype)
        for low_row, high_row in row_blocks(indptr, ROW_BLOCK):  # temporaries stay in cache
            low, high = indptr[low_row], indptr[high_row]
            guide[GUIDE_SLOTS * low : GUIDE_SLOTS * high] = cls._guide_block(
                edge[low:high], indptr[low_row : high_row + 1] - low, dtype
            )
        start = indptr[:-1].astype(np.intp)  # `take`'s own index type, as in `_look_up`
        return cls(start, slots, p.indices.astype(dtype), edge, guide, n_cols)

    @staticmethod
    def _guide_block(edge: np.ndarray, indptr: np.ndarray, dtype: type) -> np.ndarray:
        """The guide slots of a block of whole rows, from their entries' `edge`s and the
        block's row pointers: each entry's number within its row, once per slot it fills.

        Entry e fills the slots from the previous entry's ceil (0 at a row's start) to its
        own; the ceil of a tiny negative rounding is 0.
        """
        n = np.diff(indptr)
        filled = np.ceil(edge)
        filled[1:] -= filled[:-1].copy()
        first = indptr[:-1][n > 0]
        filled[first] = np.ceil(edge[first])
        local = np.arange(edge.size, dtype=np.int64)
        local -= np.repeat(indptr[:-1], n)
        return np.repeat(local.astype(dtype), filled.astype(np.intp))

    def sample(self, rows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `size` columns for each entry of `rows`: shape (len(rows), size); the lookups
        run in parts on the model's threads, as `AliasTable.sample`'s."""
        rows = np.asarray(rows, dtype=np.int64)
        x = rng.random((rows.size, size))
        out = np.empty(x.shape, dtype=self.cols.dtype)
        run_each([partial(self._look_up, rows[p], x[p], out[p]) for p in parts(rows.size, size)])
        return out

    def _look_up(self, rows: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        """Write into `out` the columns that uniforms `x` (one row per entry of `rows`) draw;
        `x` is overwritten."""
        x *= self.slots.take(rows)[:, None]
        start = self.start.take(rows)[:, None]
        slot = x.astype(np.intp)  # x < slots[r] for every u < 1: floor stays in row
        slot += start * GUIDE_SLOTS
        entry = np.add(self.guide.take(slot, mode="clip"), start)  # "clip": as in AliasTable
        flat_entry, flat_x = entry.ravel(), x.ravel()
        walk = np.flatnonzero(self.edge.take(flat_entry, mode="clip") <= flat_x)
        while walk.size:
            flat_entry[walk] += 1
            walk = walk[self.edge[flat_entry[walk]] <= flat_x[walk]]
        self.cols.take(entry, out=out, mode="clip")

    def implied(self) -> np.ndarray:
        """The distributions the tables sample from (rows, n_cols): for testing exactness."""
        n = (self.slots / GUIDE_SLOTS).astype(np.int64)
        rows = np.repeat(np.arange(n.size), n)
        lower = np.empty_like(self.edge)
        lower[1:] = self.edge[:-1]
        lower[self.start[n > 0]] = 0.0
        out = np.zeros((n.size, self.n_cols))
        np.add.at(out, (rows, self.cols.astype(np.int64)), (self.edge - lower) / self.slots[rows])
        return out


def sampler(p: sp.csr_array) -> AliasTable | GuideTable:
    """Alias tables for dense distributions (the fastest draws), guide tables for sparse ones
    (built with a cumulative sum over the support, where an alias table needs every cell)."""
    rows, n = p.shape
    if p.nnz >= DENSE_FILL * rows * n:
        return AliasTable.build(p.toarray())
    return GuideTable.build(p)
