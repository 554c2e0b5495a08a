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
from analysis.validation.trace import loop_of, settings_line
from simulation.content import zipf
from simulation.corpus import Documents
from simulation.generative import TopicWordModel
from simulation.policies import TrainingPool


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


def temperature(ctx: Context, spec: CaseSpec) -> CaseResult:
    cold, plain = ctx.runs(spec)
    sc = cold.scenario
    temp = sc.models.temperature
    p_star = zipf(sc.content.n_topics, sc.content.topic_zipf)
    limit = th.tempered_gini_simpson(p_star, temp, sc.steps)
    drift = th.expected_gini_simpson(loop_of(plain.scenario))
    n = min(sc.web.docs_per_step, sc.crawlers.budget)
    checks = word_temperature(sc, np.random.default_rng(sc.seed))
    for t in checkpoints(sc.steps):
        if limit[t] >= RESOLUTION / n:  # below it N documents cannot tell the curve from 0
            # Finite N adds Wright–Fisher drift on top of the deterministic map, and N
            # documents cannot show diversity below 2/N (one document off the main topic).
            allowance = limit[t] * (1 - (1 - 1 / n) ** (t + 1)) / temp + 2 / n
            label = f"T={temp}: Gini–Simpson at step {t}"
            checks.append(close(label, cold.gini_simpson[:, t], limit[t], allowance))
        checks.append(
            greater(f"step {t}: T=1 vs T={temp}", plain.gini_simpson[:, t], cold.gini_simpson[:, t])
        )
    fig, (ax,) = fg.axes(1)
    fg.band(ax, plain.gini_simpson, "T=1", fg.COLORS[0])
    fg.theory(ax, drift, "T=1 theory", fg.COLORS[0])
    fg.band(ax, cold.gini_simpson, f"T={temp}", fg.COLORS[3])
    fg.theory(ax, limit, f"T={temp} deterministic map", fg.COLORS[3])
    ax.set_ylabel(fg.GS_AXIS)
    ax.legend(fontsize=7)
    return spec.result(
        settings_line(sc),
        checks,
        render.png_bytes(fig),
        sigmas=ck.SIGMAS,
        words=sc.web.docs_per_step * sc.replications,
        delta=f"{detectable_exponent_error(sc):.1%}",
    )


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
