"""Cases of biased sampling, where theory is the deterministic (infinite-N) map: nucleus
truncation and temperature."""

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


def truncation(ctx: Context, spec: CaseSpec) -> CaseResult:
    (trace,) = ctx.runs(spec)
    sc = trace.scenario
    top_p = sc.models.top_p
    course = th.truncation_course(zipf(sc.content.n_topics, sc.content.topic_zipf), top_p)
    survivors = course.survivors
    final = trace.support[:, -1, :]
    reached = (trace.support == survivors).all(axis=2)  # (R, S + 1)
    settled = np.array([np.flatnonzero(~row).max() + 1 if (~row).any() else 0 for row in reached])
    sd = np.sqrt(top_p * (1 - top_p) / min(sc.web.docs_per_step, sc.crawlers.budget))
    predicted = np.array([s.sum() for s in course.sets])
    checks = [
        exact(
            "replications whose final topic set equals the predicted survivors",
            int(np.count_nonzero((final == survivors).all(axis=1))),
            sc.replications,
        ),
        Check(
            "decision margin / sampling sd of the nucleus mass (≥ 4)",
            course.margin / sd,
            4.0,
            0,
            ">",
        ),
        close("fits until the set is final", settled, course.generations),
    ]
    fig, (ax,) = fg.axes(1)
    support = trace.support.sum(axis=2).astype(float)
    fg.band(ax, support, "topics the model can generate", fg.COLORS[0])
    padded = np.concatenate([predicted, np.full(sc.steps + 1 - predicted.size, predicted[-1])])
    fg.theory(ax, padded[: sc.steps + 1].astype(float), "deterministic nucleus iteration", "k")
    ax.set_ylabel("model support (topics)")
    ax.legend(fontsize=8)
    return spec.result(
        settings_line(sc),
        checks,
        render.png_bytes(fig),
        top_p=top_p,
        survivors=int(survivors.sum()),
        n_topics=sc.content.n_topics,
        generations=course.generations,
    )


def temperature(ctx: Context, spec: CaseSpec) -> CaseResult:
    cold, plain = ctx.runs(spec)
    sc = cold.scenario
    temp = sc.models.temperature
    p_star = zipf(sc.content.n_topics, sc.content.topic_zipf)
    limit = th.tempered_gini_simpson(p_star, temp, sc.steps)
    drift = th.expected_gini_simpson(loop_of(plain.scenario))
    n = min(sc.web.docs_per_step, sc.crawlers.budget)
    checks = []
    for t in checkpoints(sc.steps):
        # Finite N adds Wright–Fisher drift on top of the deterministic map, and N documents
        # cannot show diversity below 2/N (one document off the main topic): allow both.
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
    return spec.result(settings_line(sc), checks, render.png_bytes(fig), sigmas=ck.SIGMAS)
