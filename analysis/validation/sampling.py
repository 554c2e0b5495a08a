"""Cases of biased sampling on the estimator and the training pool: word-level nucleus
truncation under accumulate, Dohmatob et al.'s tail cutting (capacity), and temperature."""

from __future__ import annotations

import numpy as np

from analysis import render
from analysis.validation import checks as ck
from analysis.validation import figures as fg
from analysis.validation import theory as th
from analysis.validation.checks import CaseResult, Check, checkpoints, close, exact, greater
from analysis.validation.spec import CaseSpec, Context
from analysis.validation.trace import settings_line
from simulation.content import zipf
from simulation.corpus import Documents
from simulation.generative import TopicWordModel
from simulation.model import WebEcosystem
from simulation.policies import TrainingPool
from simulation.world import world_of


def _one_topic(n_words: int, zipf_exponent: float, **params) -> tuple[np.ndarray, dict]:
    """Reality's word law for a one-topic model, and the TopicWordModel keywords."""
    return zipf(n_words, zipf_exponent), {"n_topics": 1, "n_words": n_words, **params}


def _fit_words(counts: np.ndarray, **params) -> TopicWordModel:
    """A one-topic model fitted on word counts `counts` (V,)."""
    return TopicWordModel(**params).fit_counts(np.ones(1), counts[None, :])


def _support(model: TopicWordModel) -> np.ndarray:
    """(V,) words the one-topic model can write."""
    return model.word_probs_.toarray()[0] > 0


def _word_counts(model: TopicWordModel, words: int, rng: np.random.Generator) -> np.ndarray:
    """(V,) counts of `words` words written by a one-topic model."""
    tokens = model.sample_words(np.zeros(1, dtype=np.int64), words, rng)[0]
    return np.bincount(tokens, minlength=model.n_words).astype(np.float64)


def accumulate_nucleus(
    p: np.ndarray, top_p: float, archive: int, docs: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (infinite-N) word support of each fit under accumulate with nucleus top_p,
    and each decision's margin: the pool's shares π_t move to
    (n_t π_t + N·ν(π_t))/(n_t + N), ν = the nucleus of π_t renormalised."""
    pi, n = np.asarray(p, dtype=np.float64), float(archive)
    sizes, margins = [], []
    for _ in range(steps + 1):
        keep = th.nucleus_set(pi, top_p)
        order = np.argsort(-pi, kind="stable")
        before = np.cumsum(pi[order]) - pi[order]
        margins.append(float(np.min(np.abs(before[pi[order] > 0] - top_p))))
        sizes.append(int(keep.sum()))
        nu = np.where(keep, pi, 0.0) / pi[keep].sum()
        pi, n = (n * pi + docs * nu) / (n + docs), n + docs
    return np.array(sizes), np.array(margins)


def truncation(ctx: Context, spec: CaseSpec) -> CaseResult:
    sc = ctx.scenario(spec.scenario)
    rng = np.random.default_rng(sc.seed)
    c, top_p = sc.content, sc.models.top_p
    p, params = _one_topic(c.n_words, c.word_zipf, top_p=top_p)
    archive, docs = sc.web.archive_docs * c.doc_length, sc.web.docs_per_step * c.doc_length
    sizes, margins = accumulate_nucleus(p, top_p, archive, docs, sc.steps)
    support = np.empty((sc.replications, sc.steps + 1))
    mismatches = 0
    for r in range(sc.replications):
        pool = TrainingPool("accumulate", 1, c.n_words)
        counts = np.zeros(c.n_words)
        batch = rng.multinomial(archive, p).astype(np.float64)
        for t in range(sc.steps + 1):
            tokens = np.repeat(np.arange(c.n_words), batch.astype(np.int64))
            pool.add(
                Documents.new(
                    np.zeros(tokens.size, np.int64),
                    tokens[:, None],
                    np.zeros(tokens.size, np.int32),
                    t,
                ),
                np.ones(tokens.size),
            )
            counts += batch
            stats = pool.training_set(rng)
            model = _fit_words(np.asarray(stats.word_counts.toarray())[0], **params)
            kept = _support(model)
            mismatches += int(not np.array_equal(kept, th.nucleus_set(counts, top_p)))
            support[r, t] = kept.sum()
            batch = _word_counts(model, docs, rng)
    # The pool's shares are within ~sqrt(top_p(1 − top_p)/n_t) of the deterministic course.
    pool_words = archive + docs * np.arange(sc.steps + 1)
    sd = np.sqrt(top_p * (1 - top_p) / pool_words)
    sure = margins >= 4 * sd
    checks = [
        exact("fits whose word support ≠ the nucleus of the pooled counts", mismatches, 0),
        exact(
            "replication-fits off the predicted support (fits with margin ≥ 4 sd)",
            int(np.count_nonzero(support[:, sure] != sizes[sure])),
            0,
        ),
        exact(
            "fits whose decision margin is ≥ 4 sd of the pool's shares",
            int(sure.sum()),
            sc.steps + 1,
        ),
    ]
    fig, (ax,) = fg.axes(1)
    fg.band(ax, support, "words the model can write", fg.COLORS[0])
    fg.theory(ax, sizes.astype(float), "deterministic accumulate-nucleus course", "k")
    ax.set_ylabel(f"word support (of {c.n_words})")
    ax.legend(fontsize=8)
    settings = (
        f"one topic, V={c.n_words} words (Zipf {c.word_zipf}), top_p {top_p}, accumulate, "
        f"archive {archive} words, {docs} words per fit, {sc.steps} fits × "
        f"{sc.replications} replications, seed {sc.seed}"
    )
    return spec.result(
        settings,
        checks,
        render.png_bytes(fig),
        top_p=top_p,
        first=int(sizes[0]),
        last=int(sizes[-1]),
        n_words=c.n_words,
        steps=sc.steps,
        checked=int(sure.sum()),
    )


def tail_cutting(ctx: Context, spec: CaseSpec) -> CaseResult:
    sc = ctx.scenario(spec.scenario)
    rng = np.random.default_rng(sc.seed)
    c = sc.content
    p, params = _one_topic(c.n_words, c.word_zipf)
    base_k, base_n = sc.models.capacity, sc.web.docs_per_step * c.doc_length
    ks = [base_k, 4 * base_k, c.n_words]
    ns = [base_n // 10, base_n, 10 * base_n]
    checks: list[Check] = []
    fig, (ax,) = fg.axes(1)
    worst = 0.0
    for color, k in zip(fg.COLORS, ks, strict=False):
        generator = _fit_words(p, **params, capacity=k)
        kept = _support(generator)
        checks.append(
            exact(
                f"k={k}: generator keeps exactly the top-k words",
                int(np.count_nonzero(kept != (np.arange(c.n_words) < k))),
                0,
            )
        )
        tail = float(p[k:].sum())
        checks.append(
            Check(
                f"k={k}: generator's missing mass − tail mass beyond rank k",
                abs(float(p[~kept].sum()) - tail),
                0.0,
                1e-12,
            )
        )
        measured, theory = [], []
        for n in ns:
            missing = np.array(
                [
                    float(p[~_support(_fit_words(_word_counts(generator, n, rng), **params))].sum())
                    for _ in range(sc.replications)
                ]
            )
            expected = th.tail_cut_missing_mass(p, k, n)
            checks.append(close(f"k={k}, n={n}: E[missing mass]", missing, expected, 1e-12))
            worst = max(worst, ck.SIGMAS * ck.mean_se(missing)[1] / expected)
            measured.append(missing.mean())
            theory.append(expected)
        ax.plot(ns, measured, "o", color=color, label=f"k={k} simulated")
        ax.plot(ns, theory, "--", color=color, label=f"k={k} exact")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training words n drawn from the tail-cut generator")
    ax.set_ylabel("missing mass of p*")
    ax.legend(fontsize=7)
    beta = c.word_zipf
    settings = (
        f"one topic, V={c.n_words} words (Zipf β={beta}), cut ranks k={ks}, training sizes "
        f"n={ns}, {sc.replications} replications per point, seed {sc.seed}"
    )
    return spec.result(
        settings,
        checks,
        render.png_bytes(fig),
        beta=beta,
        c_exp=f"{1 - 1 / beta:.2f}",
        k_exp=f"{beta - 1:.2f}",
        detect=f"{worst:.0%}",
    )


def _word_gini_simpson(model: WebEcosystem) -> np.ndarray:
    """(K,) Gini–Simpson diversity 1 − Σ_w q(w | k)² of the model's word row of every topic."""
    q = model.ai_models[0].generator.word_probs_
    return 1.0 - np.asarray(q.multiply(q).sum(axis=1)).ravel()


def _words_per_topic(model: WebEcosystem) -> np.ndarray:
    """(K,) words per topic in the training set of the model's last fit."""
    ai = model.ai_models[0]
    return ai.train_topic_counts * model.content.doc_length


TEMPERATURE_PROBES = {"word_gs": _word_gini_simpson, "fit_words": _words_per_topic}


def tempered_word_gini_simpson(p_words: np.ndarray, temperature: float, steps: int) -> np.ndarray:
    """(S + 1, K) deterministic (infinite-N) word Gini–Simpson of each topic's model row after
    fit t = 0..S: each fit raises the counted shares to 1/T, so row k is p*(· | k)^(T^−(t+1))."""
    logp = np.log(np.asarray(p_words, dtype=np.float64))
    out = np.empty((steps + 1, logp.shape[0]))
    for t in range(steps + 1):
        z = logp * temperature ** (-(t + 1))
        q = np.exp(z - z.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        out[t] = 1.0 - (q * q).sum(axis=1)
    return out


def temperature(ctx: Context, spec: CaseSpec) -> CaseResult:
    cold, plain = ctx.runs(spec, probes=TEMPERATURE_PROBES)
    sc = cold.scenario
    temp, steps = sc.models.temperature, sc.steps
    checks = word_temperature(sc, np.random.default_rng(sc.seed))
    # T = 1, one step, exact: given the row q_k of fit t and the n words on topic k in the next
    # crawl (all drawn from q_k), E[1 − Σ q'²] = (1 − 1/n)(1 − Σ q²).
    gs, n = plain.series["word_gs"], plain.series["fit_words"]
    seen = n[:, 1:] >= 1
    expected = np.where(seen, (1 - 1 / np.maximum(n[:, 1:], 1)) * gs[:, :-1], 0.0)
    # Weighted by the words seen: a topic's residual has variance O(1/n), so an unweighted
    # mean is ruled by a few rare topics and its replication means are heavy-tailed.
    words_seen = np.where(seen, n[:, 1:], 0.0)
    residual = (words_seen * (gs[:, 1:] - expected)).sum(axis=(1, 2)) / words_seen.sum(axis=(1, 2))
    drop = (words_seen * gs[:, :-1] / np.maximum(n[:, 1:], 1)).sum() / words_seen.sum()
    checks.append(
        close(
            "T=1: word Gini–Simpson − E[· | previous row, words seen] (words-weighted mean)",
            residual,
            0.0,
        )
    )
    # T < 1: the deterministic map on the head topics (many words per fit), with the drift's
    # size and the resolution of n words as allowance; no exact finite-N theory.
    world = world_of(sc).content
    words = sc.content.doc_length * min(sc.web.docs_per_step, sc.crawlers.budget)
    per_topic = words * world.topic_probs
    head = per_topic >= HEAD_WORDS
    limit = tempered_word_gini_simpson(world.word_probs, temp, steps)[:, head]
    cold_head = cold.series["word_gs"][:, :, head].mean(axis=2)
    plain_all = plain.series["word_gs"].mean(axis=2)
    cold_all = cold.series["word_gs"].mean(axis=2)
    for t in checkpoints(steps):
        curve = limit[t].mean()
        if curve >= RESOLUTION / per_topic[head].min():
            drift = limit[t] * (1 - (1 - 1 / per_topic[head]) ** (t + 1)) / temp
            allowance = float(np.mean(drift + 2 / per_topic[head]))
            label = f"T={temp}: head topics' word Gini–Simpson after fit {t}"
            checks.append(close(label, cold_head[:, t], curve, allowance))
        checks.append(
            greater(
                f"fit {t}: mean word Gini–Simpson, T=1 vs T={temp}", plain_all[:, t], cold_all[:, t]
            )
        )
    fig, (ax1, ax2) = fg.axes(2)
    fg.band(ax1, cold_head, f"T={temp}, head topics", fg.COLORS[3])
    fg.theory(ax1, limit.mean(axis=1), f"T={temp} deterministic map", fg.COLORS[3])
    fg.band(ax1, plain.series["word_gs"][:, :, head].mean(axis=2), "T=1, head topics", fg.COLORS[0])
    ax1.set_ylabel("word Gini–Simpson of the model's rows")
    ax1.set_xlabel("fit")
    fg.band(ax2, plain_all, "T=1, all topics", fg.COLORS[0])
    fg.band(ax2, cold_all, f"T={temp}, all topics", fg.COLORS[3])
    ax2.set_ylabel("word Gini–Simpson, mean over topics")
    ax2.set_xlabel("fit")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return spec.result(
        settings_line(sc),
        checks,
        render.png_bytes(fig),
        sigmas=ck.SIGMAS,
        words=sc.web.docs_per_step * sc.replications,
        delta=f"{detectable_exponent_error(sc):.1%}",
        drift=f"{ck.SIGMAS * ck.mean_se(residual)[1] / drop:.0%}",
        head=int(head.sum()),
        head_words=HEAD_WORDS,
    )


HEAD_WORDS = 1000  # a head topic has at least this many expected words per fit
RESOLUTION = 20.0  # a curve checkpoint needs E[H] ≥ 20/N: 20 documents off the main topic


def _chi_square_band(cells: int) -> tuple[float, float]:
    """Mean and SIGMAS standard deviations of a chi-square statistic with `cells` cells."""
    return cells - 1.0, ck.SIGMAS * np.sqrt(2.0 * (cells - 1))


def detectable_exponent_error(sc) -> float:
    """Smallest relative error δ in the exponent 1/T (q ∝ p^((1+δ)/T)) whose expected
    chi-square excess on the sample of `word_temperature` is twice the tolerance."""
    c = sc.content
    p = zipf(c.n_words, c.word_zipf)
    q = th.tempered(p, sc.models.temperature)
    words = sc.web.docs_per_step * sc.replications
    target = 2 * _chi_square_band(c.n_words)[1]
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        wrong = th.tempered(p, sc.models.temperature / (1 + mid))
        lo, hi = (mid, hi) if words * np.sum((wrong - q) ** 2 / q) < target else (lo, mid)
    return hi


def word_temperature(sc, rng: np.random.Generator) -> list[Check]:
    """One fit at temperature T on exact counts of reality's word law: the model's word
    distribution is p^(1/T) renormalised (to rounding), and N·R words drawn from it pass a
    chi-square test against p^(1/T)."""
    c, temp = sc.content, sc.models.temperature
    p, params = _one_topic(c.n_words, c.word_zipf, temperature=temp)
    model = _fit_words(p, **params)
    q = th.tempered(p, temp)
    words = sc.web.docs_per_step * sc.replications
    counts = _word_counts(model, words, rng)
    chi2 = float(np.sum((counts - words * q) ** 2 / (words * q)))
    mean, tol = _chi_square_band(c.n_words)
    return [
        Check(
            f"T={temp}: max |fitted word probability − p^(1/T)/Z|",
            float(np.abs(model.word_probs_.toarray()[0] - q).max()),
            0.0,
            1e-12,
        ),
        Check(
            f"T={temp}: chi-square of {words} sampled words vs p^(1/T) (V−1 expected)",
            chi2,
            mean,
            tol,
        ),
    ]
