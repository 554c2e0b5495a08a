"""Cases on the estimator-level loop (`chain`): one-step conditional moments of every data
regime, and Gerstgrasser et al.'s accumulate bound with Kazdan et al.'s subsample plateau.

One-step checks replay a single fit many times from one fixed state, so the only noise is that
one step's: E[q' | state] and E‖q' − E q'‖² are exact (`theory.one_step`), and the drift
variance is measured directly instead of through the end point of a long run.
"""

from __future__ import annotations

import numpy as np

from analysis import render
from analysis.validation import chain as ch
from analysis.validation import checks as ck
from analysis.validation import figures as fg
from analysis.validation import theory as th
from analysis.validation.checks import CaseResult, Check, close, mean_se
from analysis.validation.spec import CaseSpec, Context

HISTORY = 3  # generations run before the state is frozen (fills the window, grows the pool)


def _arms(sc) -> dict[str, tuple[str, float]]:
    """Name → (regime, human reserve) of the one-step arms."""
    reserve = sc.filtering.human_reserve
    return {
        "replace (Wright–Fisher)": ("replace", 0.0),
        f"window {sc.models.window}": ("window", 0.0),
        "accumulate": ("accumulate", 0.0),
        f"subsample {sc.models.train_budget}": ("subsample", 0.0),
        f"replace + reserve {reserve:g}": ("replace", reserve),
    }


def one_step(ctx: Context, spec: CaseSpec) -> CaseResult:
    sc = ctx.scenario(spec.scenario)
    rng = np.random.default_rng(sc.seed)
    n, reps = sc.web.docs_per_step, sc.replications
    checks: list[Check] = []
    rows = []
    facts: dict[str, float] = {}
    for name, (regime, reserve) in _arms(sc).items():
        chain = ch.Chain(sc, regime, reserve).start(rng)
        for _ in range(HISTORY):
            chain.step(rng)
        q = chain.model.topic_probs_
        n_res = int(round(reserve * n))
        theory = th.one_step(
            q,
            n - n_res,
            kept=chain.kept_counts(),
            archive=chain.counts if n_res else None,
            n_reserve=n_res,
            budget=sc.models.train_budget if regime == "subsample" else None,
        )
        nxt = ch.one_step(chain, reps, rng)
        dev = nxt - theory.mean
        # First moment: E[q'] = E-theory, on the direction of the mean and on the rarer half.
        tail = np.argsort(theory.mean)[: theory.mean.size // 2]
        checks.append(close(f"{name}: E[μ·q'] = μ·μ", nxt @ theory.mean, theory.mean @ theory.mean))
        checks.append(
            close(
                f"{name}: E[mass of the rarer half]",
                nxt[:, tail].sum(axis=1),
                theory.mean[tail].sum(),
            )
        )
        # Second moment: the one-step drift variance E‖q' − E q'‖², hence E[H_{t+1} | state].
        spread = (dev * dev).sum(axis=1)
        mean, se = mean_se(spread)
        checks.append(close(f"{name}: E‖q' − E q'‖² (drift variance)", spread, theory.spread))
        gs_cv = 1.0 - theory.mean @ theory.mean - spread  # unbiased for E[H'] given E q' = μ
        checks.append(
            close(f"{name}: E[H_(t+1) | state] (Gini–Simpson of q')", gs_cv, theory.gini_simpson)
        )
        rows.append((name, theory.spread, mean, se))
        if regime == "replace" and not reserve:
            h = 1.0 - q @ q
            facts = {
                "ne_low": h / (theory.spread + ck.SIGMAS * se),
                "ne_high": h / max(theory.spread - ck.SIGMAS * se, 1e-300),
                "detect": ck.SIGMAS * se / theory.spread,
            }
    fig, (ax,) = fg.axes(1)
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r[1] for r in rows], 0.4, color="0.6", label="exact")
    ax.errorbar(
        x + 0.2,
        [r[2] for r in rows],
        yerr=[1.96 * r[3] for r in rows],
        fmt="o",
        color=fg.COLORS[0],
        label="simulated (95% interval)",
    )
    ax.set_xticks(x, [r[0] for r in rows], rotation=20, fontsize=7)
    ax.set_xlabel("")
    ax.set_ylabel("one-step drift variance E‖q' − E q'‖²")
    ax.legend(fontsize=8)
    settings = (
        f"K={sc.content.n_topics} topics (Zipf {sc.content.topic_zipf}), archive "
        f"{sc.web.archive_docs}, N={n} docs per fit, state after {HISTORY} fits, {reps} one-step "
        f"replicates per regime, window {sc.models.window}, subsample budget "
        f"{sc.models.train_budget}, reserve {sc.filtering.human_reserve}, seed {sc.seed}"
    )
    return spec.result(
        settings,
        checks,
        render.png_bytes(fig),
        n=n,
        reps=reps,
        ne_low=f"{facts['ne_low']:.0f}",
        ne_high=f"{facts['ne_high']:.0f}",
        detect=f"{facts['detect']:.1%}",
    )


def accumulate_bound(ctx: Context, spec: CaseSpec) -> CaseResult:
    sc = ctx.scenario(spec.scenario)
    rng = np.random.default_rng(sc.seed)
    p_star = ch.reality(sc).topic_probs_
    h_star = 1.0 - p_star @ p_star
    n, m0, steps = sc.web.docs_per_step, sc.web.archive_docs, sc.steps
    exact = {
        "replace": h_star * (1 - (1 - 1 / m0) * (1 - 1 / n) ** np.arange(steps + 1)),
        "accumulate": th.accumulate_error(h_star, m0, n, steps),
    }
    loop = th.Loop(
        p_star=p_star,
        fresh=p_star,
        ai_share=np.ones(steps + 2),
        docs=n,
        archive=m0,
        budget=max(m0, n),
        regime="subsample",
        train_budget=sc.models.train_budget,
    )
    exact["subsample"] = th.model_error(loop)
    checks: list[Check] = []
    fig, (ax,) = fg.axes(1)
    final: dict[str, np.ndarray] = {}
    for color, (regime, theory) in zip(fg.COLORS, exact.items(), strict=False):
        probs = ch.run(sc, regime, rng)
        err = ((probs - p_star) ** 2).sum(axis=2)  # (R, S + 1)
        final[regime] = err[:, -1]
        for t in ck.checkpoints(steps):
            checks.append(close(f"{regime}: E‖q_t − p*‖² after fit {t}", err[:, t], theory[t]))
        fg.band(ax, err, regime, color)
        fg.theory(ax, theory, f"{regime} exact", color)
    bound = np.pi**2 / 6 * h_star / n
    ax.axhline(bound, color="k", lw=0.8, ls=":", label="(π²/6)·H*/N")
    checks.append(
        Check(
            "accumulate: exact E‖q_S − p*‖² below (π²/6)·H*/N",
            bound,
            exact["accumulate"][-1],
            0,
            ">",
        )
    )
    checks.append(
        ck.greater(
            "final error: subsample vs accumulate",
            final["subsample"],
            final["accumulate"],
            paired=False,
        )
    )
    checks.append(
        ck.greater(
            "final error: replace vs subsample", final["replace"], final["subsample"], paired=False
        )
    )
    ax.set_yscale("log")
    ax.set_ylabel("model error E‖q_t − p*‖²")
    ax.legend(fontsize=7)
    rel = {r: mean_se(final[r])[1] * ck.SIGMAS / exact[r][-1] for r in exact}
    settings = (
        f"K={sc.content.n_topics} topics (Zipf {sc.content.topic_zipf}), archive {m0}, "
        f"N={n} docs per fit, subsample budget {sc.models.train_budget}, {steps} fits × "
        f"{sc.replications} chains per regime, seed {sc.seed}"
    )
    return spec.result(
        settings,
        checks,
        render.png_bytes(fig),
        plateau=f"{exact['subsample'][-1]:.2e}",
        acc=f"{exact['accumulate'][-1]:.2e}",
        bound=f"{bound:.2e}",
        rep=f"{exact['replace'][-1]:.2e}",
        detect=f"{rel['accumulate']:.0%}",
        detect_sub=f"{rel['subsample']:.0%}",
    )
