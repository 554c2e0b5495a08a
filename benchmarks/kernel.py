"""The bare kernel: sample and count a simulator's tokens with plain numpy alias tables.

The fastest plain-numpy way to do what every simulator step must do at least: draw docs/step
topics and their words from a K x V distribution (Walker/Vose alias tables, two gathers per
token into preallocated buffers) and count topics and words with `bincount`. It imports numpy
only, so that run as a script it is the kernel's whole run: process start, numpy, a random
K x V distribution and its tables, every step, exit. It prints the seconds of the step loop
alone (the step-only reference) as JSON:

    python benchmarks/kernel.py N_TOPICS N_WORDS DOCS_PER_STEP DOC_LENGTH STEPS
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def alias_tables(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alias tables for every row of `p` (row sums > 0), flat: (keep, alias).

    A draw from row r takes a uniform column c and keeps it with probability keep[r*n + c],
    else takes alias[r*n + c]. Vose's pairing, vectorised as one merge: each small column
    (scaled mass q < 1) borrows its deficit from the large column whose stretch of the
    cumulative-excess tape holds the start of its stretch of the cumulative-deficit tape; a
    large whose excess runs out inside a small's deficit gives that small all of it and borrows
    the shortfall from the next large of its row. Row offsets make all tapes sort as one.
    """
    rows, n = p.shape
    q = p * (n / p.sum(axis=1))[:, None]
    small = q < 1.0
    small[np.arange(rows), q.argmax(axis=1)] = False  # every row keeps a large (rounding)
    smalls, larges = np.flatnonzero(small), np.flatnonzero(~small)
    n_large = n - np.count_nonzero(small, axis=1)
    offset = np.arange(rows)[:, None] * (2.0 * n + 2.0)
    tape = np.subtract(1.0, q)  # the deficit tape; both are built in place (no temporaries)
    deficit = tape.ravel()[smalls]
    np.maximum(tape, 0.0, out=tape)
    np.cumsum(tape, axis=1, out=tape)
    tape += offset
    d_end = tape.ravel()[smalls]
    d_start = d_end - deficit
    q -= 1.0  # now the excess tape
    np.maximum(q, 0.0, out=q)
    np.cumsum(q, axis=1, out=q)
    q += offset
    e_end = q.ravel()[larges]
    del q
    # Stable merge, stretch ends first on ties; each tape keeps its own order in it, so a
    # position minus its rank counts the other tape's entries before it.
    is_large = np.argsort(np.concatenate([e_end, d_start]), kind="stable") < e_end.size
    lender = np.flatnonzero(~is_large) - np.arange(smalls.size)
    straddler = np.flatnonzero(is_large) - np.arange(1, larges.size + 1)
    last_large = np.cumsum(n_large) - 1
    np.minimum(lender, np.repeat(last_large, n - n_large), out=lender)
    keep = tape.ravel()
    keep.fill(1.0)
    keep[smalls] = 1.0 - deficit
    alias = np.tile(np.arange(n, dtype=np.uint16 if n <= 2**16 else np.uint32), rows)
    alias[smalls] = larges[lender] % n
    fail = np.flatnonzero(straddler >= 0)
    shortfall = d_end[straddler[fail]] - e_end[fail]
    borrows = (shortfall > 0) & (fail < last_large[larges[fail] // n])
    fail, shortfall = fail[borrows], shortfall[borrows]
    keep[larges[fail]] = np.maximum(1.0 - shortfall, 0.0)
    alias[larges[fail]] = larges[fail + 1] % n
    return keep, alias


def run(k: int, v: int, n: int, length: int, steps: int) -> float:
    """Build tables over a random K x V distribution, then sample and count `steps` steps of
    `n` documents of `length` words; returns the seconds of the step loop alone."""
    rng = np.random.default_rng(0)
    word_keep, word_alias = alias_tables(rng.dirichlet(np.ones(v), size=k))
    topic_keep, topic_alias = alias_tables(rng.dirichlet(np.ones(k))[None, :])
    index = np.int32 if k * v < 2**31 else np.int64
    u = np.empty((n, length))
    col = np.empty((n, length), dtype=index)
    flat = np.empty((n, length), dtype=index)
    keep_p = np.empty((n, length))
    keep = np.empty((n, length), dtype=bool)
    tokens = np.empty((n, length), dtype=word_alias.dtype)
    start = time.perf_counter()
    for _ in range(steps):
        doc_topic = draw(topic_keep, topic_alias, n, rng)
        rng.random(out=u)
        u *= v
        np.copyto(col, u, casting="unsafe")  # truncation: the column
        u -= col  # what is left: the coin for keeping it
        np.minimum(col, v - 1, out=col)
        np.add(col, (doc_topic.astype(index) * v)[:, None], out=flat)
        np.take(word_keep, flat, out=keep_p)
        np.less(u, keep_p, out=keep)
        np.take(word_alias, flat, out=tokens)
        np.copyto(tokens, col, casting="unsafe", where=keep)
        np.bincount(doc_topic, minlength=k)
        np.bincount(tokens.ravel(), minlength=v)
    return time.perf_counter() - start


def draw(keep: np.ndarray, alias: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` draws from a one-row alias table (the topic of each document)."""
    u = rng.random(size) * keep.size
    col = np.minimum(u.astype(np.int64), keep.size - 1)
    return np.where(u - col < keep[col], col, alias[col])


def main(argv: list[str]) -> int:
    k, v, n, length, steps = (int(arg) for arg in argv)
    print(json.dumps({"kernel_s": run(k, v, n, length, steps)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
