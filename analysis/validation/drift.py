"""Cases of the closed loop's drift: Wright–Fisher, Hill orders, data regimes, smoothing.

Each case takes the run context and its cases.toml entry, computes, checks, draws, and returns
`spec.result(...)` with the facts its claim names.
"""

from __future__ import annotations

import numpy as np

from analysis import render
from analysis.validation import figures as fg
from analysis.validation import theory as th
from analysis.validation.checks import CaseResult, Check, checkpoints, close, exact, greater
from analysis.validation.spec import CaseSpec, Context
from analysis.validation.trace import Trace, expected_gs, loop_of, settings_line
from simulation import registry


def support_violations(trace: Trace) -> int:
    """Replication-steps where the model lost a topic its first fit had."""
    first = trace.support[:, :1, :]
    return int(np.count_nonzero((first & ~trace.support).any(axis=2)))


def increases(values: np.ndarray, start: int = 1) -> int:
    """Replications in which a series rises at some step after `start`."""
    return int(np.count_nonzero((np.diff(values[:, start:], axis=1) > 0).any(axis=1)))


def wright_fisher(ctx: Context, spec: CaseSpec) -> CaseResult:
    (trace,) = ctx.runs(spec)
    sc = trace.scenario
    loop = loop_of(sc)
    gs_theory = expected_gs(trace)
    gs = trace.gini_simpson
    checks = [
        close(f"Gini–Simpson at step {t}", gs[:, t], gs_theory[t]) for t in checkpoints(sc.steps)
    ]
    fig, (ax1, ax2) = fg.axes(2)
    fg.band(ax1, gs, "Gini–Simpson", fg.COLORS[0])
    fg.theory(ax1, gs_theory, "theory E[H_t]", "k")
    ax1.set_ylabel(fg.GS_AXIS)
    richness = trace.of(registry.TOPIC_RICHNESS)
    fg.band(ax2, richness, "richness (Hill-0)", fg.COLORS[1])
    ax2.set_ylabel("topics in the corpus")
    plain = sc.models.smoothing == 0 and sc.models.top_p == 1 and sc.models.temperature == 1
    if sc.models.regime == "replace" and plain and np.all(loop.ai_share[1:] >= 1):
        rich_theory = th.expected_richness_replace(loop)
        fg.theory(ax2, rich_theory, "theory E[richness]", "k")
        checks += [
            close(f"richness at step {t}", richness[:, t], rich_theory[t])
            for t in checkpoints(sc.steps)
        ]
        checks.append(exact("replications where richness ever rises", increases(richness), 0))
        checks.append(
            exact(
                "replications where model support ever grows",
                increases(trace.support.sum(axis=2), 0),
                0,
            )
        )
    elif sc.models.regime == "accumulate":
        checks.append(
            exact(
                "steps where the model lost a first-generation topic", support_violations(trace), 0
            )
        )
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    return spec.result(
        settings_line(sc),
        checks,
        render.png_bytes(fig),
        m0=loop.crawl_size(0),
        m=loop.crawl_size(1),
        docs=loop.docs,
    )


HILL_ORDERS = {
    registry.TOPIC_RICHNESS.name: "Hill-0",
    registry.TOPIC_HILL1.name: "Hill-1",
    registry.TOPIC_HILL2.name: "Hill-2",
}


def hill_orders(ctx: Context, spec: CaseSpec) -> CaseResult:
    (trace,) = ctx.runs(spec)
    sc = trace.scenario
    last = sc.steps
    loss = {k: 1.0 - trace.metrics[k][:, last] / trace.metrics[k][:, 1] for k in HILL_ORDERS}
    fig, (ax,) = fg.axes(1)
    for color, (k, name) in zip(fg.COLORS, HILL_ORDERS.items(), strict=False):
        values = trace.metrics[k][:, 1:] / trace.metrics[k][:, 1:2]
        fg.band(ax, np.concatenate([np.ones((len(values), 1)), values], axis=1), name, color)
    ax.set_ylabel("diversity relative to step 1")
    ax.legend(fontsize=8)
    (h0, h1, h2) = (loss[k] for k in HILL_ORDERS)
    checks = [
        greater(f"relative loss of Hill-0 vs Hill-1, step 1 → {last}", h0, h1),
        greater(f"relative loss of Hill-1 vs Hill-2, step 1 → {last}", h1, h2),
    ]
    return spec.result(settings_line(sc), checks, render.png_bytes(fig))


def regimes(ctx: Context, spec: CaseSpec) -> CaseResult:
    variants = {trace.scenario.models.regime: trace for trace in ctx.runs(spec)}
    fig, (ax1, ax2) = fg.axes(2)
    checks: list[Check] = []
    final: dict[str, np.ndarray] = {}
    for color, (name, trace) in zip(fg.COLORS, variants.items(), strict=False):
        theory = th.expected_gini_simpson(loop_of(trace.scenario))
        gs = trace.gini_simpson
        steps = trace.scenario.steps
        final[name] = trace.support[:, steps // 2 :].sum(axis=2).mean(axis=1)
        checks += [
            close(f"{name}: Gini–Simpson at step {t}", gs[:, t], theory[t])
            for t in checkpoints(steps)[1:]
        ]
        fg.band(ax1, gs, name, color)
        fg.theory(ax1, theory, f"{name} theory", color)
        fg.band(ax2, trace.support.sum(axis=2).astype(float), name, color)
    checks.append(
        exact(
            "accumulate: steps where the model lost a first-generation topic",
            support_violations(variants["accumulate"]),
            0,
        )
    )
    for more, less in (("accumulate", "subsample"), ("subsample", "replace")):
        checks.append(
            greater(f"model support, second-half mean: {more} vs {less}", final[more], final[less])
        )
    ax1.set_ylabel(fg.GS_AXIS)
    ax2.set_ylabel("topics the model can generate")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    budget = variants["subsample"].scenario.models.train_budget
    settings = settings_line(variants["accumulate"].scenario) + f"; subsample budget {budget}"
    return spec.result(settings, checks, render.png_bytes(fig))


def smoothing(ctx: Context, spec: CaseSpec) -> CaseResult:
    smooth, plain = ctx.runs(spec)
    sc = smooth.scenario
    theory = th.expected_gini_simpson(loop_of(sc))
    k, steps = sc.content.n_topics, sc.steps
    alpha = sc.models.smoothing
    rich_smooth, rich_plain = (trace.of(registry.TOPIC_RICHNESS) for trace in (smooth, plain))
    checks = [
        close(f"Gini–Simpson at step {t}", smooth.gini_simpson[:, t], theory[t])
        for t in checkpoints(steps)
    ]
    checks.append(
        exact(
            "model probabilities equal to zero (all steps, replications)",
            int(np.count_nonzero(~smooth.support)),
            0,
        )
    )
    checks.append(
        greater(
            f"final richness: smoothing {alpha} vs 0",
            rich_smooth[:, steps],
            rich_plain[:, steps],
        )
    )
    fig, (ax1, ax2) = fg.axes(2)
    fg.band(ax1, smooth.gini_simpson, f"smoothing {alpha}", fg.COLORS[2])
    fg.theory(ax1, theory, "theory", fg.COLORS[2])
    fg.band(ax1, plain.gini_simpson, "smoothing 0", fg.COLORS[0])
    plain_theory = th.expected_gini_simpson(loop_of(plain.scenario))
    fg.theory(ax1, plain_theory, "theory, smoothing 0", fg.COLORS[0])
    fg.band(ax2, rich_smooth, f"smoothing {alpha}", fg.COLORS[2])
    fg.band(ax2, rich_plain, "smoothing 0", fg.COLORS[0])
    ax1.set_ylabel(fg.GS_AXIS)
    ax2.set_ylabel(f"topics in the corpus (of {k})")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return spec.result(settings_line(sc), checks, render.png_bytes(fig))
