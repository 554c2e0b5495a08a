"""Documents (columns, take, concat) and Corpus (blocks per step, queries, forgetting)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from simulation.corpus import Corpus, Documents

N_SITES = 5


def batch(n: int, step: int, *, ai_author: int = -1, seed: int = 0, **columns) -> Documents:
    """`n` documents of 4 words published at `step` on random sites."""
    rng = np.random.default_rng(seed)
    return Documents.new(
        rng.integers(10, size=n),
        rng.integers(100, size=(n, 4)).astype(np.uint16),
        rng.integers(N_SITES, size=n),
        step,
        ai_author=ai_author,
        **columns,
    )


def assert_same(a: Documents, b: Documents) -> None:
    for f in fields(Documents):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and np.array_equal(x, y), f.name


def test_new_stores_each_column_in_its_type():
    human = batch(6, 3, author=np.arange(6, dtype=np.int64), ai_fraction=np.full(6, 0.25))
    model = batch(4, 3, ai_author=2, ai_fraction=1.0, labeled=np.array([1, 0, 0, 1], bool))
    for docs in (human, model):
        assert docs.topic.dtype == docs.site.dtype == docs.author.dtype == np.int32
        assert docs.step.dtype == np.int32 and docs.ai_author.dtype == np.int16
        assert docs.synthetic.dtype == docs.labeled.dtype == np.bool_
        assert docs.ai_fraction.dtype == np.float32 and docs.tokens.dtype == np.uint16
        assert (docs.step == 3).all()
        assert np.array_equal(docs.synthetic, docs.ai_author >= 0)  # synthetic ⇔ an AI author
    assert human.author.tolist() == list(range(6)) and (human.ai_author == -1).all()
    assert not human.synthetic.any() and not human.labeled.any()
    assert (human.ai_fraction == np.float32(0.25)).all()
    assert (model.author == -1).all() and (model.ai_author == 2).all() and model.synthetic.all()
    assert model.labeled.tolist() == [True, False, False, True]
    assert (model.ai_fraction == 1.0).all()
    model.ai_fraction[0] = 0.5  # a broadcast scalar is stored as a writable column of its own
    assert model.ai_fraction[1] == 1.0


def test_take_by_mask_and_by_index_agree():
    docs = batch(50, 1, seed=3)
    mask = docs.topic % 3 == 0
    by_mask, by_index = docs.take(mask), docs.take(np.flatnonzero(mask))
    assert_same(by_mask, by_index)
    assert len(by_mask) == mask.sum()
    assert np.array_equal(by_mask.tokens, docs.tokens[mask])
    reordered = docs.take(np.array([4, 0, 4]))
    assert reordered.topic.tolist() == docs.topic[[4, 0, 4]].tolist()
    assert len(docs.take(np.zeros(0, dtype=np.int64))) == 0


def test_concat_preserves_order_and_types():
    parts = [batch(3, 1, seed=1), batch(5, 2, ai_author=0, seed=2), batch(2, 3, seed=3)]
    joined = Documents.concat(parts)
    assert len(joined) == 10
    assert joined.step.tolist() == [1] * 3 + [2] * 5 + [3] * 2
    for f in fields(Documents):
        expected = np.concatenate([getattr(p, f.name) for p in parts])
        assert np.array_equal(getattr(joined, f.name), expected)
        assert getattr(joined, f.name).dtype == getattr(parts[0], f.name).dtype
    assert_same(joined.take(np.arange(3, 8)), parts[1])
    assert Documents.concat(parts[:1]) is parts[0]


def corpus_of_steps(*steps: int) -> tuple[Corpus, list[Documents]]:
    corpus = Corpus(N_SITES)
    blocks = [batch(4 + s, s, ai_author=s % 2 - 1, seed=s) for s in steps]
    for docs, s in zip(blocks, steps, strict=True):
        corpus.publish(docs, s)
    return corpus, blocks


def test_since_returns_exactly_the_blocks_from_a_step_on():
    corpus, blocks = corpus_of_steps(0, 1, 2, 3)
    for s in range(4):
        assert_same(corpus.since(s), Documents.concat(blocks[s:]))
    assert corpus.since(4) is None
    assert len(corpus.since(-3)) == len(corpus) == sum(len(b) for b in blocks)


def test_since_is_cached_until_the_next_publish():
    corpus, _ = corpus_of_steps(0, 1, 2)
    first = corpus.since(1)
    assert corpus.since(1) is first
    assert corpus.since(2) is not first  # another step is another query
    again = corpus.since(1)
    assert again is not first and again.step.tolist() == first.step.tolist()
    corpus.publish(batch(3, 3), 3)
    after = corpus.since(1)
    assert after is not again and len(after) == len(again) + 3
    corpus.release()  # the model drops the crawls' candidates before its models refit
    anew = corpus.since(1)
    assert anew is not after and anew.step.tolist() == after.step.tolist()


def test_per_site_counts_count_every_document_and_every_synthetic_one():
    corpus, blocks = corpus_of_steps(0, 1, 2, 3)
    everything = Documents.concat(blocks)
    assert np.array_equal(corpus.docs_per_site, np.bincount(everything.site, minlength=N_SITES))
    synthetic = np.bincount(everything.site[everything.synthetic], minlength=N_SITES)
    assert np.array_equal(corpus.synthetic_per_site, synthetic) and synthetic.sum() > 0


def test_site_counts_since_count_the_documents_since_and_follow_publishing():
    corpus, blocks = corpus_of_steps(0, 1, 2)
    for s in range(4):
        sites = np.concatenate([b.site for b in blocks[s:]] + [np.zeros(0, dtype=np.int32)])
        assert np.array_equal(corpus.site_counts_since(s), np.bincount(sites, minlength=N_SITES))
    counts = corpus.site_counts_since(1)
    assert corpus.site_counts_since(1) is counts  # counted once for every crawler
    corpus.publish(batch(7, 3), 3)
    assert corpus.site_counts_since(1).sum() == counts.sum() + 7


def test_forget_before_drops_old_blocks_but_keeps_the_counts():
    corpus, blocks = corpus_of_steps(0, 1, 2, 3)
    counts, synthetic, total = (
        corpus.docs_per_site.copy(),
        corpus.synthetic_per_site.copy(),
        len(corpus),
    )
    cached = corpus.since(0)
    corpus.forget_before(2)
    assert corpus.since(0) is not cached
    assert_same(corpus.since(0), Documents.concat(blocks[2:]))
    assert_same(corpus.since(3), blocks[3])
    assert np.array_equal(corpus.docs_per_site, counts) and len(corpus) == total
    assert np.array_equal(corpus.synthetic_per_site, synthetic)
    corpus.forget_before(10)
    assert corpus.since(0) is None and len(corpus) == total


@pytest.mark.parametrize("n", [0, 1])
def test_an_empty_or_single_block_corpus(n):
    corpus = Corpus(N_SITES)
    assert len(corpus) == 0 and corpus.since(0) is None
    for s in range(n):
        corpus.publish(batch(7, s), s)
    assert len(corpus) == 7 * n
