"""Cases of human data in the loop: fresh data, humans who copy, the detector's pass-through."""

from __future__ import annotations

import itertools

import numpy as np

from analysis import render
from analysis.validation import figures as fg
from analysis.validation.checks import CaseResult, Check, checkpoints, close, greater, mean_se
from analysis.validation.spec import CaseSpec, Context
from analysis.validation.trace import expected_gs, settings_line
from simulation import registry
from simulation.policies import passed_human_share


def fresh_data(ctx: Context, spec: CaseSpec) -> CaseResult:
    traces = {trace.scenario.web.ai_share: trace for trace in ctx.runs(spec)}
    fig, (ax,) = fg.axes(1)
    checks: list[Check] = []
    level: dict[float, np.ndarray] = {}
    for color, (a, trace) in zip(fg.COLORS, traces.items(), strict=False):
        theory = expected_gs(trace)
        gs = trace.gini_simpson
        steps = trace.scenario.steps
        level[a] = gs[:, steps // 2 :].mean(axis=1)
        checks += [
            close(f"AI share {a}: Gini–Simpson at step {t}", gs[:, t], theory[t])
            for t in checkpoints(steps)[1:]
        ]
        fg.band(ax, gs, f"{1 - a:.0%} fresh", color)
        fg.theory(ax, theory, f"{1 - a:.0%} fresh theory", color)
    shares = sorted(level)  # most fresh data first
    for more, less in itertools.pairwise(shares):
        label = f"plateau (second half): {1 - more:.0%} vs {1 - less:.0%} fresh"
        checks.append(greater(label, level[more], level[less]))
    ax.set_ylabel(fg.GS_AXIS)
    ax.legend(fontsize=7)
    return spec.result(settings_line(ctx.scenario(spec.scenario)), checks, render.png_bytes(fig))


def human_copying(ctx: Context, spec: CaseSpec) -> CaseResult:
    base, copying = ctx.runs(spec)
    theory = expected_gs(base)
    steps = base.scenario.steps
    rate = copying.scenario.humans.copy_rate
    fig, (ax1, ax2) = fg.axes(2)
    fg.band(ax1, base.gini_simpson, "copy_rate 0", fg.COLORS[0])
    fg.theory(ax1, theory, "theory, copy_rate 0", fg.COLORS[0])
    fg.band(ax1, copying.gini_simpson, f"copy_rate {rate}", fg.COLORS[3])
    ax1.set_ylabel(fg.GS_AXIS)
    ax1.legend(fontsize=7)
    # 1 − Σp² of the exact human topic distributions, row by row (they already sum to 1).
    gs_fresh = [1 - (f * f).sum(axis=1) for f in (copying.fresh, copying.fresh_end)]
    ax2.bar(
        ["human writing, start", "human writing, end"],
        [g.mean() for g in gs_fresh],
        color=fg.COLORS[3],
    )
    ax2.set_ylabel(f"Gini–Simpson of human topics (copy_rate {rate})")
    half = slice(steps // 2, None)
    checks = [
        close(
            f"copy_rate 0: Gini–Simpson at step {steps}", base.gini_simpson[:, steps], theory[steps]
        ),
        greater(
            "plateau (second half): copy_rate 0 vs copying",
            base.gini_simpson[:, half].mean(axis=1),
            copying.gini_simpson[:, half].mean(axis=1),
        ),
        greater("Gini–Simpson of human writing: start vs end (copying)", gs_fresh[0], gs_fresh[1]),
    ]
    settings = settings_line(copying.scenario) + f", copy_rate {rate}"
    return spec.result(settings, checks, render.png_bytes(fig))


def detector(ctx: Context, spec: CaseSpec) -> CaseResult:
    checks = []
    shares, measured, errors = [], [], []
    for trace in ctx.runs(spec):
        a = trace.scenario.web.ai_share
        det = trace.scenario.filtering.detector
        human = 1.0 - trace.of(registry.TRAIN_SYNTHETIC_SHARE)[:, 1:].mean(axis=1)
        theory = passed_human_share(a, det.tpr, det.fpr)
        checks.append(close(f"AI share {a}: human share of what passes", human, theory))
        mean, se = mean_se(human)
        shares.append(a)
        measured.append(mean)
        errors.append(1.96 * se)
    sc = ctx.scenario(spec.scenario)
    det = sc.filtering.detector
    fig, (ax,) = fg.axes(1)
    grid = np.linspace(0, 1, 101)
    ax.plot(grid, [passed_human_share(a, det.tpr, det.fpr) for a in grid], "k--", label="formula")
    ax.errorbar(shares, measured, yerr=errors, fmt="o", color=fg.COLORS[0], label="simulated")
    ax.plot(grid, 1 - grid, color="0.6", lw=0.8, label="no detector")
    ax.set_xlabel("AI share of published documents")
    ax.set_ylabel("human share of the training data")
    ax.legend(fontsize=8)
    settings = settings_line(sc) + f", detector tpr {det.tpr}, fpr {det.fpr}"
    return spec.result(settings, checks, render.png_bytes(fig))
