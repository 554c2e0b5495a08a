"""HumanPopulation, the vectorised human writers: reading (exposure), adoption, copying of model
word patterns (style), forgetting against the pre-AI mix, writing, and homogenisation; row-level
rules against closed forms, one-step conditional laws, then whole-run effects."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.corpus import Documents
from simulation.generative.sparse import lookup
from simulation.metrics import hill_number, tail_mass
from simulation.model import WebEcosystem
from tests.conftest import mean_after_run, small_scenario, stepped

STILL = {"adopt_rate": 0.0, "copy_rate": 0.0, "unlearn_rate": 0.0, "forget_rate": 0.0}


def reading(model: WebEcosystem, per_site: np.ndarray, ai_fraction, topic=0) -> Documents:
    """A reading window with `per_site[j]` documents on site j and the given ai_fraction(s)."""
    site = np.repeat(np.arange(model.network.n_sites), per_site)
    n, length = site.size, model.content.doc_length
    tokens = np.zeros((n, length), dtype=model.content.token_dtype)
    return Documents.new(
        np.broadcast_to(topic, (n,)), tokens, site, model.steps, ai_fraction=ai_fraction
    )


def humans_of(**humans) -> WebEcosystem:
    """The small scenario's model at step 0 with the given `humans` settings."""
    return stepped(small_scenario(humans=humans))


def exposure_from_first_principles(model: WebEcosystem, docs: Documents) -> np.ndarray:
    """Each writer's exposure: the model-written share of all documents on their site and the
    sites it links to."""
    net = model.network
    ai_words = np.bincount(docs.site, weights=docs.ai_fraction, minlength=net.n_sites)
    per_site = np.bincount(docs.site, minlength=net.n_sites)
    exposure = np.zeros(net.n_sites)
    for i in range(net.n_sites):
        around = [i, *net.graph.successors(i)]
        if per_site[around].sum():
            exposure[i] = ai_words[around].sum() / per_site[around].sum()
    return exposure[model.humans.site]


def random_window(model: WebEcosystem, seed: int) -> Documents:
    rng = np.random.default_rng(seed)
    per_site = rng.integers(0, 6, size=model.network.n_sites)
    n = int(per_site.sum())
    return reading(model, per_site, rng.random(n), topic=rng.integers(40, size=n))


def test_reading_without_adoption_copying_or_forgetting_changes_nothing():
    model = humans_of(**STILL)
    pop = model.humans
    before = pop.topics.copy(), pop.weights.copy(), pop.assist.copy(), pop.style.copy()
    pop.read(random_window(model, 1))
    after = pop.topics, pop.weights, pop.assist, pop.style
    for old, new in zip(before, after, strict=True):
        assert np.array_equal(old, new)


def test_reference_is_the_step_0_interest_mix_and_the_expected_topic_share_of_writing():
    model = humans_of()
    pop = model.humans
    x = np.zeros((len(pop), 40))
    np.add.at(x, (np.arange(len(pop))[:, None], pop.topics), pop.weights)
    np.testing.assert_allclose(pop.reference, x.mean(axis=0), rtol=1e-12)
    n = 40_000
    share = np.bincount(pop.write(n, 1, model.ai_models).topic, minlength=40) / n
    se = np.sqrt(pop.reference * (1 - pop.reference) / n)
    assert np.all(np.abs(share - pop.reference) <= 4 * se + 1e-12)


def test_adoption_moves_toward_the_exposure_level_at_adopt_rate():
    r, a0 = 0.3, 0.1
    model = humans_of(**{**STILL, "adopt_rate": r, "ai_assist": a0})
    pop = model.humans
    docs = random_window(model, 2)
    e = exposure_from_first_principles(model, docs)
    assert e.std() > 0.05  # sites differ: the reading matrix matters
    a = np.random.default_rng(3).random(len(pop))
    pop.assist = a.copy()
    pop.read(docs)
    np.testing.assert_allclose(pop.assist, a + r * (a0 + (1 - a0) * e - a), rtol=1e-12)


def test_adoption_falls_back_to_ai_assist_without_exposure():
    r, a0 = 0.2, 0.05
    model = humans_of(**{**STILL, "adopt_rate": r, "ai_assist": a0})
    pop = model.humans
    pop.assist[:] = 0.9
    window = reading(model, np.full(60, 5), 0.0)  # nothing model-written: exposure 0
    for step in range(1, 11):
        pop.read(window)
        np.testing.assert_allclose(pop.assist, a0 + (0.9 - a0) * (1 - r) ** step, rtol=1e-12)
    assert pop.assist.max() < 0.2


def test_style_rises_with_exposure_at_copy_rate_and_decays_at_unlearn_rate():
    c, u = 0.4, 0.1
    model = humans_of(**{**STILL, "copy_rate": c, "unlearn_rate": u})
    pop = model.humans
    docs = random_window(model, 4)
    e = exposure_from_first_principles(model, docs)
    s = np.random.default_rng(5).random(len(pop))
    pop.style = s.copy()
    pop.read(docs)
    np.testing.assert_allclose(pop.style, s + c * e * (1 - s) - u * s, rtol=1e-12)
    assert np.all((pop.style >= 0) & (pop.style <= 1))
    # Without exposure it decays geometrically: copying can fall.
    pop.read(reading(model, np.full(60, 5), 0.0))
    np.testing.assert_allclose(pop.style, (s + c * e * (1 - s) - u * s) * (1 - u), rtol=1e-12)


@pytest.mark.parametrize("assist_words", [0.3, 0.5, 1.0, 0.02, 0.0])
def test_write_puts_documents_on_the_authors_sites_with_exact_model_shares(assist_words):
    model = humans_of(assist_words=assist_words)
    pop = model.humans
    length = model.content.doc_length
    pop.assist = (np.arange(len(pop)) % 2).astype(np.float64)  # odd writers always draft
    n = 3000
    docs = pop.write(n, 4, model.ai_models)
    assert len(docs) == n and docs.tokens.shape == (n, length)
    assert docs.tokens.dtype == model.content.token_dtype
    assert (docs.step == 4).all() and not docs.synthetic.any() and (docs.ai_author == -1).all()
    assert np.array_equal(docs.site, pop.site[docs.author])
    assert np.all((docs.topic[:, None] == pop.topics[docs.author]).any(axis=1))
    n_model = round(assist_words * length)
    drafting = pop.assist[docs.author] == 1
    assert np.all(docs.ai_fraction[drafting] == np.float32(n_model / length))
    assert np.all(docs.ai_fraction[~drafting] == 0.0)  # style 0: own words are all real
    # The first `n_model` words of a drafted document come from the author's assistant.
    for m, ai in enumerate(model.ai_models):
        mine = np.flatnonzero(drafting & (pop.assistant[docs.author] == m))
        words = docs.tokens[mine, :n_model]
        rows = np.broadcast_to(docs.topic[mine, None], words.shape)
        assert np.all(lookup(ai.generator.word_probs_, rows, words) > 0)


def test_style_writes_that_share_of_own_words_in_the_assistants_patterns():
    model = humans_of(assist_words=0.25)
    pop = model.humans
    length, m = model.content.doc_length, 4  # round(0.25 · 16)
    style = np.random.default_rng(6).random(len(pop))
    pop.style, pop.assist = style, np.full(len(pop), 0.5)
    n = 20_000
    docs = pop.write(n, 1, model.ai_models)
    s = style[docs.author]
    # E[ai_fraction | author] = assist·m/L + (L − assist·m)/L · style, exactly.
    expected = 0.5 * m / length + (1 - 0.5 * m / length) * s
    resid = docs.ai_fraction - expected
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(n)
    # A writer with style 1 writes every word in the assistant's patterns.
    pop.style[:] = 1.0
    docs = pop.write(2000, 1, model.ai_models)
    assert np.all(docs.ai_fraction == 1.0)
    for a, ai in enumerate(model.ai_models):
        mine = np.flatnonzero(pop.assistant[docs.author] == a)
        rows = np.broadcast_to(docs.topic[mine, None], docs.tokens[mine].shape)
        assert np.all(lookup(ai.generator.word_probs_, rows, docs.tokens[mine]) > 0)


def test_assisted_share_of_written_documents_is_the_mean_assist():
    model = humans_of(assist_words=0.5)
    pop = model.humans
    pop.assist = np.random.default_rng(3).random(len(pop)) ** 2
    n = 20_000
    share = np.mean(pop.write(n, 1, model.ai_models).ai_fraction > 0)
    p = pop.assist.mean()
    assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_writers_pick_interest_slots_by_weight(small_model):
    pop = small_model.humans
    pop.topics[:] = [0, 1, 2]  # one topic per slot: a document's topic is its slot
    n = 20_000
    docs = pop.write(n, 1, small_model.ai_models)
    p = pop.weights.mean(axis=0)  # authors are uniform over writers
    share = np.bincount(docs.topic, minlength=3)[:3] / n
    assert np.all(np.abs(share - p) < 4 * np.sqrt(p * (1 - p) / n))


def test_without_exposure_nothing_is_forgotten_whatever_is_read():
    # AI share 0: E[mix_{t+1} | mix_t] = mix_t holds exactly, even for a perturbed mix and a
    # window whose topic shares are far from the reference (noise or not).
    model = humans_of(**{**STILL, "forget_rate": 1.0})
    pop = model.humans
    pop.topics[: len(pop) // 2] = 0  # a mix far from the reference
    before = pop.topics.copy()
    rng = np.random.default_rng(7)
    for _ in range(20):
        window = reading(model, rng.integers(0, 4, size=60), 0.0, topic=rng.integers(3))
        pop.read(window)
    assert np.array_equal(pop.topics, before)


def test_forgetting_one_step_law_with_exposure():
    """E[mix_{t+1} − mix_t | state] = (1/N) Σ_ij w_ij f_ij (ē s + (1 − ē) ref − δ_{t_ij}),
    f_ij = forget_rate · ē · deficit[t_ij], against 400 independent one-step reads."""
    model = humans_of(**{**STILL, "forget_rate": 0.8})
    pop = model.humans
    n, k = len(pop), 40
    rng = np.random.default_rng(8)
    per_site = rng.integers(0, 8, size=60)
    m = int(per_site.sum())
    window = reading(model, per_site, rng.random(m), topic=rng.integers(10, size=m))
    e = float(window.ai_fraction.mean())  # the web's model-written word share
    s = np.bincount(window.topic, minlength=k) / m
    ref = pop.reference
    deficit = np.clip(1 - np.divide(s, ref, out=np.ones(k), where=ref > 0), 0, 1)
    f = 0.8 * e * deficit[pop.topics]
    q = e * s + (1 - e) * ref  # the replacement law
    w = pop.weights
    drift = (w * f).sum() * q / n
    drift -= np.bincount(pop.topics.ravel(), weights=(w * f).ravel(), minlength=k) / n
    state = pop.topics.copy()
    mix0 = pop.mix()
    reps = 400
    changes = np.empty((reps, k))
    for r in range(reps):
        pop.topics[:] = state
        pop.read(window)
        changes[r] = pop.mix() - mix0
    se = changes.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.abs(drift).max() > 0.01  # the law has real size here
    assert np.all(np.abs(changes.mean(axis=0) - drift) <= 4 * se + 1e-12)
    # Topics absent from the window lose interest holders; every move is toward s or ref.
    assert np.all(drift[(s == 0) & (ref > 0)] < 0)


def test_full_exposure_replaces_every_fading_topic_by_what_is_read():
    model = humans_of(**{**STILL, "forget_rate": 1.0})
    pop = model.humans
    assert np.any(pop.topics != 0)
    # Only topic 0 is read, all model-written: every other topic fades completely.
    pop.read(reading(model, np.full(60, 5), 1.0, topic=0))
    assert np.all(pop.topics == 0)


def test_homogenization_of_identical_and_of_disjoint_mixtures(small_model):
    pop = small_model.humans
    n = len(pop)
    pop.topics[:] = [4, 9, 17]
    pop.weights[:] = [0.5, 0.3, 0.2]
    assert pop.homogenization() == pytest.approx(1.0)
    pop.topics[n // 2 :] = [5, 6, 7]  # two camps with nothing in common
    within = 2 * (n // 2) * (n // 2 - 1) / (n * (n - 1))
    assert pop.homogenization() == pytest.approx(within)


def human_docs(model: WebEcosystem) -> Documents:
    return model.recent.take(~model.recent.synthetic)


def test_copying_makes_human_text_partly_synthetic_on_common_random_numbers():
    # Same seed in both arms; adoption is off, so the only difference is copying.
    common = {"web": {"ai_share": 0.5}, "steps": 8}
    humans = {"ai_assist": 0.1, "adopt_rate": 0.0, "unlearn_rate": 0.05}
    runs = {
        c: human_docs(stepped(small_scenario(humans={**humans, "copy_rate": c}, **common), 8))
        for c in (0.0, 0.3)
    }
    none, copy = (runs[c].ai_fraction.astype(np.float64) for c in (0.0, 0.3))
    diff = copy.mean() - none.mean()
    se = np.hypot(copy.std() / np.sqrt(copy.size), none.std() / np.sqrt(none.size))
    assert diff > 4 * se, (diff, se)
    assert diff > 0.1  # exposure ~0.5 for 8 steps: style ≈ 0.35, most of it in own words
    # Without copying, only drafted words are model-written: assist_words × the assist share.
    assert none.mean() == pytest.approx(0.5 * 0.1, abs=4 * none.std() / np.sqrt(none.size))


def test_adoption_and_copying_are_separate():
    common = {"web": {"ai_share": 0.6}, "steps": 6}
    adopt_only = stepped(
        small_scenario(humans={"copy_rate": 0.0, "adopt_rate": 0.3}, **common), 6
    ).humans
    copy_only = stepped(
        small_scenario(humans={"copy_rate": 0.3, "adopt_rate": 0.0}, **common), 6
    ).humans
    # Writers who read any model-written text move; only the rate that is on moves.
    assert np.all(adopt_only.style == 0) and np.mean(adopt_only.assist > 0.1) > 0.9
    assert np.all(copy_only.assist == 0.1) and np.mean(copy_only.style > 0) > 0.9


def tail_interest_share(model: WebEcosystem) -> float:
    return model.is_tail[model.humans.topics].mean()


def test_forgetting_drops_fading_tail_interests():
    common = {
        "web": {"ai_share": 0.9},
        "models": {"top_p": 0.6, "farm_topics": "model"},
        "steps": 20,
    }
    forget = mean_after_run(
        tail_interest_share, humans={"forget_rate": 0.3, "copy_rate": 0.0}, **common
    )
    keep = mean_after_run(
        tail_interest_share, humans={"forget_rate": 0.0, "copy_rate": 0.0}, **common
    )
    assert forget < 0.7 * keep


def test_assist_words_set_model_share_of_human_documents():
    scenario = small_scenario(
        steps=2, humans={"ai_assist": 1.0, "assist_words": 0.25, "copy_rate": 0.0}
    )
    model = stepped(scenario, 1)
    human = model.recent  # window 1: the documents of step 1
    assert (human.step == 1).all()
    human = human.take(~human.synthetic)
    assert np.all(human.ai_fraction == 0.25)


def corpus_topic_counts(model: WebEcosystem) -> np.ndarray:
    return np.bincount(model.recent.topic, minlength=model.content.n_topics)


@pytest.mark.slow
def test_without_ai_the_population_and_the_corpus_are_stationary_for_200_steps():
    scenario = small_scenario(steps=200, web={"ai_share": 0.0}, humans={"ai_assist": 0.0})
    model = stepped(scenario)
    hill, tail = [], []
    for _ in range(200):
        model.step()
        counts = corpus_topic_counts(model)
        hill.append(hill_number(counts, 1.0))
        tail.append(tail_mass(counts, model.content.topic_probs, model.is_tail))
    np.testing.assert_array_equal(model.humans.mix(), model.humans.reference)
    for series in (np.array(hill), np.array(tail)):
        early, late = series[:20], series[-20:]
        se = np.hypot(early.std(ddof=1), late.std(ddof=1)) / np.sqrt(20)
        assert abs(late.mean() - early.mean()) < 4 * se
