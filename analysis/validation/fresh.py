"""Cases of human data in the loop: fresh data, humans who copy, the detector's pass-through."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from analysis import render
from analysis.validation import checks as ck
from analysis.validation import figures as fg
from analysis.validation.checks import (
    CaseResult,
    Check,
    checkpoints,
    close,
    exact,
    greater,
    mean_se,
)
from analysis.validation.spec import CaseSpec, Context
from analysis.validation.trace import expected_gs, settings_line
from simulation import registry
from simulation.corpus import Documents
from simulation.metrics import js_divergence
from simulation.model import WebEcosystem
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


def _human_block(model: WebEcosystem) -> Documents | None:
    """The human-written documents published at the model's current step (None at step 0)."""
    docs = model.corpus.since(model.steps) if model.steps > 0 else None
    return None if docs is None else docs.take(docs.author >= 0)


def _copied(model: WebEcosystem) -> float:
    """Mean copied-word share (`ai_fraction`, with no drafting) of this step's human documents."""
    docs = _human_block(model)
    return float(docs.ai_fraction.mean()) if docs is not None and len(docs) else float("nan")


def _next_exposure(model: WebEcosystem) -> np.ndarray:
    """(humans,) the exposure the next read will measure, computed here from the documents of
    its window and the links: model-written words over documents on the home site and the
    sites it links to (ODD 7.4), independently of `HumanPopulation.read`."""
    net, humans = model.network, model.humans
    docs = model.corpus.since(max(0, model.steps + 1 - model.config.humans.reading_window))
    reach = net.adjacency + sp.identity(net.n_sites, format="csr")
    num = reach @ np.bincount(docs.site, weights=docs.ai_fraction, minlength=net.n_sites)
    den = reach @ np.bincount(docs.site, minlength=net.n_sites).astype(np.float64)
    return np.divide(num, den, out=np.zeros(net.n_sites), where=den > 0)[humans.site]


def _predicted(model: WebEcosystem) -> float:
    """E[copied share of the next step's human documents | now]: authors are uniform and each
    own word is copied with probability style, so it is the mean of the next style,
    s + c·e·(1 − s) − u·s, over the humans."""
    cfg, style = model.config.humans, model.humans.style
    e = _next_exposure(model)
    return float(np.mean(style + cfg.copy_rate * e * (1 - style) - cfg.unlearn_rate * style))


def _gain(model: WebEcosystem) -> float:
    """Mean over humans of the next copying increment c·e·(1 − s) (the size the check resolves)."""
    cfg, style = model.config.humans, model.humans.style
    return float(np.mean(cfg.copy_rate * _next_exposure(model) * (1 - style)))


def _word_divergence(model: WebEcosystem) -> float:
    """JS divergence (bits) of this step's human words from what p* writes on their topics."""
    docs = _human_block(model)
    if docs is None or not len(docs):
        return float("nan")
    content = model.content
    seen = np.bincount(docs.tokens.ravel(), minlength=content.n_words)
    topics = np.bincount(docs.topic, minlength=content.n_topics)
    return js_divergence(seen, topics @ content.word_probs)


COPYING_PROBES = {
    "copied": _copied,
    "predicted": _predicted,
    "gain": _gain,
    "word_js": _word_divergence,
}


def human_copying(ctx: Context, spec: CaseSpec) -> CaseResult:
    base, copying = ctx.runs(spec, probes=COPYING_PROBES)
    sc = copying.scenario
    steps, rate, unlearn = sc.steps, sc.humans.copy_rate, sc.humans.unlearn_rate
    copied = copying.series["copied"][:, 1:]
    # One-step conditional: the residual of each step's copied share from its prediction given
    # the previous state has mean 0 and is uncorrelated across steps (martingale differences).
    residual = (copied - copying.series["predicted"][:, :-1]).mean(axis=1)
    se = ck.mean_se(residual)[1]
    gain = float(np.mean(copying.series["gain"][:, :-1]))
    half = slice(steps // 2 + 1, None)
    js_base, js_copy = (t.series["word_js"][:, half].mean(axis=1) for t in (base, copying))
    missing = [t.of(registry.MISSING_MASS)[:, half].mean(axis=1) for t in (base, copying)]
    checks = [
        exact(
            "copy_rate 0: human documents with copied words (all steps)",
            int(np.count_nonzero(base.series["copied"][:, 1:] != 0)),
            0,
        ),
        close("copied share − E[copied share | previous step] (mean over steps)", residual, 0.0),
        greater("human words' JS divergence from p* (second half): copying vs 0", js_copy, js_base),
        greater("model's missing mass of p* (second half): copying vs 0", missing[1], missing[0]),
    ]
    fig, (ax1, ax2) = fg.axes(2)
    fg.band(ax1, copying.series["copied"][:, 1:], "copied-word share", fg.COLORS[3])
    predicted = copying.series["predicted"][:, :-1].mean(axis=0)
    ax1.plot(np.arange(predicted.size), predicted, "k--", lw=1.2, label="one-step prediction")
    ax1.set_ylabel(f"copied share of human words (copy_rate {rate})")
    ax1.legend(fontsize=7)
    for color, (label, trace) in zip(
        fg.COLORS[::3], (("copy_rate 0", base), (f"copy_rate {rate}", copying)), strict=False
    ):
        fg.band(ax2, trace.series["word_js"][:, 1:], label, color)
    ax2.set_ylabel("JS divergence of human words from p* (bits)")
    ax2.legend(fontsize=7)
    settings = settings_line(sc) + f", copy_rate {rate}, unlearn_rate {unlearn}"
    return spec.result(
        settings,
        checks,
        render.png_bytes(fig),
        rate=rate,
        unlearn=unlearn,
        detect=f"{ck.SIGMAS * se / gain:.1%}",
    )


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
