"""Validation against the literature (DESIGN §11): run `scenarios/validation/`, compare with theory.

Each case runs one or more validation scenarios for many replications, compares the simulated
mean (± standard error) with exact theory or with the published direction of the effect, and
draws one figure. Every tolerance is at least 4 standard errors of the simulated mean; checks
that theory makes exact (absorbing zeros, retained support) must hold in every replication.
`validate` writes `validation.md`, a self-contained `validation.html` and the figures.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis import validation_theory as th
from simulation import registry
from simulation.content import zipf
from simulation.files import atomic_write_bytes, atomic_write_text
from simulation.model import WebEcosystem
from simulation.policies import passed_human_share
from simulation.runner import metric_frame
from simulation.runner import simulate as run_simulation
from simulation.scenario import Scenario, load

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "validation"
TEMPLATES = Path(__file__).resolve().parent / "templates"
SIGMAS = 4.0
TRACED = (
    registry.TOPIC_RICHNESS,
    registry.TOPIC_HILL1,
    registry.TOPIC_HILL2,
    registry.TRAIN_SYNTHETIC_SHARE,
)  # every statistical tolerance, in standard errors of the simulated mean

# Reduced sizes for `--quick` and the test suite, per scenario file.
QUICK: dict[str, list[str]] = {
    "wright_fisher": [
        "steps=20",
        "replications=60",
        "web.docs_per_step=200",
        "crawlers.budget=200",
    ],
    "regimes": [
        "steps=30",
        "replications=30",
        "web.docs_per_step=100",
        "crawlers.budget=100",
        "models.train_budget=100",
    ],
    "fresh_data": ["steps=20", "replications=100", "web.docs_per_step=200"],
    "human_copying": ["steps=30", "replications=30", "web.docs_per_step=200"],
    "truncation": ["steps=5", "replications=6"],
    "temperature": ["steps=8", "replications=10"],
    "smoothing": ["steps=20", "replications=40", "web.docs_per_step=200", "crawlers.budget=200"],
    "detector": ["steps=4", "replications=10"],
}


@dataclass
class Trace:
    """Per-replication, per-step record of a validation run."""

    scenario: Scenario
    metrics: dict[str, np.ndarray]  # metric name -> (R, S + 1)
    model_probs: np.ndarray  # (R, S + 1, K): the model's topic distribution after each step
    fresh: np.ndarray  # (R, K): topic distribution of human writing at the start
    fresh_end: np.ndarray  # (R, K): the same at the end

    @property
    def gini_simpson(self) -> np.ndarray:
        """(R, S + 1) Gini–Simpson diversity of the corpus topics, 1 − 1/Hill₂."""
        return 1.0 - 1.0 / self.metrics["topic_hill2"]

    @property
    def support(self) -> np.ndarray:
        """(R, S + 1, K) topics the model can still generate."""
        return self.model_probs > 0


def _human_topics(model: WebEcosystem) -> np.ndarray:
    """Topic distribution of the documents the human population writes now."""
    pop = model.humans
    k = model.content.n_topics
    return np.bincount(pop.topics.ravel(), pop.weights.ravel(), minlength=k) / len(pop)


def simulate(scenario: Scenario) -> Trace:
    """Run every replication of `scenario` and keep the quantities the theory speaks about."""
    names = [m.name for m in TRACED]
    reps, steps = scenario.replications, scenario.steps
    probs = np.empty((reps, steps + 1, scenario.content.n_topics))
    fresh, fresh_end = np.empty((2, reps, scenario.content.n_topics))
    tables = []
    for rep in range(reps):

        def record(model: WebEcosystem, rep: int = rep) -> None:
            if model.steps == 0:
                fresh[rep] = _human_topics(model)
            probs[rep, model.steps] = registry.observe(model).model_topic_probs.mean(axis=0)

        model = run_simulation(scenario, replication=rep, on_step=record)
        fresh_end[rep] = _human_topics(model)
        tables.append(metric_frame(model)[names].to_numpy())
    stacked = np.stack(tables)  # (R, S + 1, metrics)
    metrics = {name: stacked[:, :, i] for i, name in enumerate(names)}
    return Trace(scenario, metrics, probs, fresh, fresh_end)


def loop_of(scenario: Scenario, fresh: np.ndarray | None = None) -> th.Loop:
    """The theory's view of a resolved scenario (`fresh`: human topic distribution)."""
    c, m = scenario.content, scenario.models
    p_star = zipf(c.n_topics, c.topic_zipf)
    return th.Loop(
        p_star=p_star,
        fresh=p_star if fresh is None else fresh,
        ai_share=np.array([scenario.ai_share_at(max(t, 1)) for t in range(scenario.steps + 1)]),
        docs=scenario.web.docs_per_step,
        archive=scenario.web.archive_docs,
        budget=scenario.crawlers.budget,
        regime=m.regime,
        window=m.window,
        train_budget=m.train_budget,
        smoothing=m.smoothing,
    )


def expected_gs(trace: Trace) -> np.ndarray:
    """Exact E[Gini–Simpson] per step, averaged over the replications' human populations."""
    sc = trace.scenario
    if all(sc.ai_share_at(t) >= 1.0 for t in range(1, sc.steps + 1)):
        return th.expected_gini_simpson(loop_of(sc))
    return np.mean([th.expected_gini_simpson(loop_of(sc, f)) for f in trace.fresh], axis=0)


# ---------------------------------------------------------------- checks and results


@dataclass(frozen=True)
class Check:
    """One measured-vs-expected comparison.

    relation "≈": |measured − expected| ≤ tolerance; ">": measured − expected > tolerance;
    "=": exact equality (a count of violations, a deterministic set).
    """

    label: str
    measured: float
    expected: float
    tolerance: float
    relation: str = "≈"

    @property
    def passed(self) -> bool:
        diff = self.measured - self.expected
        if self.relation == ">":
            return bool(diff > self.tolerance)
        if self.relation == "=":
            return bool(self.measured == self.expected)
        return bool(abs(diff) <= self.tolerance)


@dataclass
class CaseResult:
    """A validation case: its claim, settings, checks and figure (PNG bytes)."""

    key: str
    title: str
    reference: str
    claim: str
    settings: str
    checks: list[Check]
    figure: bytes = field(repr=False, default=b"")

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean over replications (axis 0) and its standard error."""
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


def close(label: str, samples: np.ndarray, expected: float) -> Check:
    """Simulated mean within SIGMAS standard errors of the expected value."""
    mean, se = mean_se(samples)
    return Check(label, mean, float(expected), SIGMAS * se)


def greater(label: str, samples: np.ndarray, other: np.ndarray, paired: bool = True) -> Check:
    """Mean of `samples` above the mean of `other` by more than SIGMAS standard errors.

    Variants of one scenario share their replications' seeds (common random numbers: the same
    archive and first fit), so by default the standard error is that of the paired differences.
    """
    a, b = float(np.mean(samples)), float(np.mean(other))
    if paired:
        se = mean_se(np.asarray(samples) - np.asarray(other))[1]
    else:
        se = float(np.hypot(mean_se(samples)[1], mean_se(other)[1]))
    return Check(label, a, b, SIGMAS * se, ">")


def checkpoints(steps: int) -> list[int]:
    """A few steps spread over the run where curves are compared with theory."""
    return sorted({max(1, steps // 4), max(1, steps // 2), steps})


def settings_line(sc: Scenario) -> str:
    """The resolved values a reader needs to recompute the theory."""
    share = sc.web.ai_share
    return (
        f"N={sc.web.docs_per_step} docs/step, archive {sc.web.archive_docs}, "
        f"crawl budget {sc.crawlers.budget}, K={sc.content.n_topics} topics "
        f"(Zipf {sc.content.topic_zipf}), regime {sc.models.regime}, "
        f"smoothing {sc.models.smoothing}, T={sc.models.temperature}, "
        f"top_p {sc.models.top_p}, AI share {share if isinstance(share, float) else 'schedule'}, "
        f"{sc.steps} steps × {sc.replications} replications, seed {sc.seed}"
    )


# ---------------------------------------------------------------- figures


def _band(ax, values: np.ndarray, label: str, color: str) -> None:
    """Mean over replications with a 95% interval of the mean."""
    steps = np.arange(values.shape[1])
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0]) if values.shape[0] > 1 else 0
    ax.fill_between(steps, mean - 1.96 * se, mean + 1.96 * se, color=color, alpha=0.25, lw=0)
    ax.plot(steps, mean, color=color, lw=1.5, label=f"{label} (simulated)")


def _theory(ax, values: np.ndarray, label: str, color: str) -> None:
    ax.plot(np.arange(values.size), values, color=color, ls="--", lw=1.2, label=label)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _axes(n: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.6), squeeze=False)
    for ax in axes[0]:
        ax.set_xlabel("step (= generation)")
        ax.grid(alpha=0.3)
    return fig, list(axes[0])


COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


# ---------------------------------------------------------------- cases


@dataclass
class Context:
    """What every case needs: size, user overrides and a cache of finished runs."""

    quick: bool = False
    overrides: list[str] = field(default_factory=list)
    cache: dict[tuple[str, tuple[str, ...]], Trace] = field(default_factory=dict)

    def scenario(self, name: str, *variant: str) -> Scenario:
        """Load a validation scenario: quick sizes, then the user's --set, then the variant."""
        sizes = QUICK[name] if self.quick else []
        return load(SCENARIOS / f"{name}.yaml", [*sizes, *self.overrides, *variant])

    def run(self, name: str, *variant: str) -> Trace:
        key = (name, variant)
        if key not in self.cache:
            self.cache[key] = simulate(self.scenario(name, *variant))
        return self.cache[key]


def _support_violations(trace: Trace) -> int:
    """Replication-steps where the model lost a topic its first fit had."""
    first = trace.support[:, :1, :]
    return int(np.count_nonzero((first & ~trace.support).any(axis=2)))


def _increases(values: np.ndarray, start: int = 1) -> int:
    """Replications in which a series rises at some step after `start`."""
    return int(np.count_nonzero((np.diff(values[:, start:], axis=1) > 0).any(axis=1)))


def case_wright_fisher(ctx: Context) -> CaseResult:
    trace = ctx.run("wright_fisher")
    sc = trace.scenario
    loop = loop_of(sc)
    gs_theory = expected_gs(trace)
    gs = trace.gini_simpson
    checks = [
        close(f"Gini–Simpson at step {t}", gs[:, t], gs_theory[t]) for t in checkpoints(sc.steps)
    ]
    fig, (ax1, ax2) = _axes(2)
    _band(ax1, gs, "Gini–Simpson", COLORS[0])
    _theory(ax1, gs_theory, "theory E[H_t]", "k")
    ax1.set_ylabel("Gini–Simpson diversity of corpus topics")
    richness = trace.metrics["topic_richness"]
    _band(ax2, richness, "richness (Hill-0)", COLORS[1])
    ax2.set_ylabel("topics in the corpus")
    plain = sc.models.smoothing == 0 and sc.models.top_p == 1 and sc.models.temperature == 1
    if sc.models.regime == "replace" and plain and np.all(loop.ai_share[1:] >= 1):
        rich_theory = th.expected_richness_replace(loop)
        _theory(ax2, rich_theory, "theory E[richness]", "k")
        checks += [
            close(f"richness at step {t}", richness[:, t], rich_theory[t])
            for t in checkpoints(sc.steps)
        ]
        checks.append(
            Check("replications where richness ever rises", _increases(richness), 0, 0, "=")
        )
        checks.append(
            Check(
                "replications where model support ever grows",
                _increases(trace.support.sum(axis=2), 0),
                0,
                0,
                "=",
            )
        )
    elif sc.models.regime == "accumulate":
        checks.append(
            Check(
                "steps where the model lost a first-generation topic",
                _support_violations(trace),
                0,
                0,
                "=",
            )
        )
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    m0, m = loop.crawl_size(0), loop.crawl_size(1)
    return CaseResult(
        key="wright_fisher",
        title="Wright–Fisher drift of the closed loop",
        reference="Shumailov et al., Nature 631 (2024): the discrete closed loop",
        claim=(
            "Pure resampling: the corpus at step t is N draws from model t−1, and model t is the "
            "empirical distribution of its crawl. Expected Gini–Simpson diversity decays "
            f"geometrically, E[H_t] = H* (1 − 1/{m0}) (1 − 1/{m})^(t−1) (1 − 1/{loop.docs}) "
            "(= H_0 (1 − 1/N)^t with H_0 = H*(1 − 1/N) when archive crawl = crawl = N); each "
            "topic's count is a binomial Wright–Fisher chain, which gives E[richness] exactly, "
            "and rare topics are absorbed at zero."
        ),
        settings=settings_line(sc),
        checks=checks,
        figure=_png(fig),
    )


def case_hill_orders(ctx: Context) -> CaseResult:
    trace = ctx.run("wright_fisher")
    sc = trace.scenario
    last = sc.steps
    labels = {"topic_richness": "Hill-0", "topic_hill1": "Hill-1", "topic_hill2": "Hill-2"}
    loss = {k: 1.0 - trace.metrics[k][:, last] / trace.metrics[k][:, 1] for k in labels}
    fig, (ax,) = _axes(1)
    for color, (k, name) in zip(COLORS, labels.items(), strict=False):
        values = trace.metrics[k][:, 1:] / trace.metrics[k][:, 1:2]
        _band(ax, np.concatenate([np.ones((len(values), 1)), values], axis=1), name, color)
    ax.set_ylabel("diversity relative to step 1")
    ax.legend(fontsize=8)
    checks = [
        greater(
            f"relative loss of Hill-0 vs Hill-1, step 1 → {last}",
            loss["topic_richness"],
            loss["topic_hill1"],
        ),
        greater(
            f"relative loss of Hill-1 vs Hill-2, step 1 → {last}",
            loss["topic_hill1"],
            loss["topic_hill2"],
        ),
    ]
    return CaseResult(
        key="hill_orders",
        title="Hill numbers of order 0, 1 and 2 move differently",
        reference="DESIGN §11; Hill (1973); tail loss first (Shumailov et al. 2024)",
        claim=(
            "Drift removes rare topics first: richness (Hill-0) loses a larger share than the "
            "Shannon (Hill-1) and inverse-Simpson (Hill-2) numbers, which weight common topics "
            "and hide the tail loss; all three are reported."
        ),
        settings=settings_line(sc),
        checks=checks,
        figure=_png(fig),
    )


def case_regimes(ctx: Context) -> CaseResult:
    variants = {
        "replace": ctx.run("regimes", "models.regime=replace"),
        "subsample": ctx.run("regimes", "models.regime=subsample"),
        "accumulate": ctx.run("regimes", "models.regime=accumulate"),
    }
    fig, (ax1, ax2) = _axes(2)
    checks: list[Check] = []
    final: dict[str, np.ndarray] = {}
    for color, (name, trace) in zip(COLORS, variants.items(), strict=False):
        theory = th.expected_gini_simpson(loop_of(trace.scenario))
        gs = trace.gini_simpson
        steps = trace.scenario.steps
        final[name] = trace.support[:, steps // 2 :].sum(axis=2).mean(axis=1)
        checks += [
            close(f"{name}: Gini–Simpson at step {t}", gs[:, t], theory[t])
            for t in checkpoints(steps)[1:]
        ]
        _band(ax1, gs, name, color)
        _theory(ax1, theory, f"{name} theory", color)
        _band(ax2, trace.support.sum(axis=2).astype(float), name, color)
    checks.append(
        Check(
            "accumulate: steps where the model lost a first-generation topic",
            _support_violations(variants["accumulate"]),
            0,
            0,
            "=",
        )
    )
    checks.append(
        greater(
            "model support, second-half mean: accumulate vs subsample",
            final["accumulate"],
            final["subsample"],
        )
    )
    checks.append(
        greater(
            "model support, second-half mean: subsample vs replace",
            final["subsample"],
            final["replace"],
        )
    )
    ax1.set_ylabel("Gini–Simpson diversity of corpus topics")
    ax2.set_ylabel("topics the model can generate")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    acc = variants["accumulate"].scenario
    return CaseResult(
        key="regimes",
        title="replace vs accumulate vs accumulate-subsample",
        reference=(
            "Gerstgrasser et al. 2024 (arXiv:2404.01413); Kazdan et al. 2024 (arXiv:2410.16713)"
        ),
        claim=(
            "Replacing data collapses; accumulating keeps every topic the first model saw (its "
            "support can never shrink) and diversity loss is bounded; a fixed training budget "
            "drawn from the accumulated pool lies in between, on diversity and on the number of "
            "topics the model can still generate. The exact second-moment recursion gives each "
            "regime's E[Gini–Simpson]; the gap between accumulate and subsample in it is O(1/N), "
            "so the ordering is checked on the model's support."
        ),
        settings=settings_line(acc)
        + f"; subsample budget {variants['subsample'].scenario.models.train_budget}",
        checks=checks,
        figure=_png(fig),
    )


def case_fresh_data(ctx: Context) -> CaseResult:
    shares = (1.0, 0.9, 0.5)
    traces = {a: ctx.run("fresh_data", f"web.ai_share={a}") for a in shares}
    fig, (ax,) = _axes(1)
    checks: list[Check] = []
    level: dict[float, np.ndarray] = {}
    for color, (a, trace) in zip(COLORS, traces.items(), strict=False):
        theory = expected_gs(trace)
        gs = trace.gini_simpson
        steps = trace.scenario.steps
        level[a] = gs[:, steps // 2 :].mean(axis=1)
        checks += [
            close(f"AI share {a}: Gini–Simpson at step {t}", gs[:, t], theory[t])
            for t in checkpoints(steps)[1:]
        ]
        _band(ax, gs, f"{1 - a:.0%} fresh", color)
        _theory(ax, theory, f"{1 - a:.0%} fresh theory", color)
    checks.append(greater("plateau (second half): 50% vs 10% fresh", level[0.5], level[0.9]))
    checks.append(greater("plateau (second half): 10% vs 0% fresh", level[0.9], level[1.0]))
    ax.set_ylabel("Gini–Simpson diversity of corpus topics")
    ax.legend(fontsize=7)
    return CaseResult(
        key="fresh_data",
        title="A fixed share of fresh human data stabilises the loop",
        reference="Bertrand et al., ICLR 2024; Shumailov et al. 2024 (10% original data kept)",
        claim=(
            "With a share 1 − a of every generation written by humans who do not copy, the "
            "mixture a·q + (1 − a)·r pulls the model back to the human distribution r: diversity "
            "settles at a plateau that rises with the fresh share, instead of decaying to zero. "
            "Theory: the same exact recursion with r taken from each replication's population."
        ),
        settings=settings_line(traces[0.9].scenario),
        checks=checks,
        figure=_png(fig),
    )


def case_human_copying(ctx: Context) -> CaseResult:
    base = ctx.run("human_copying", "humans.copy_rate=0.0")
    copying = ctx.run("human_copying")
    theory = expected_gs(base)
    steps = base.scenario.steps
    rate = copying.scenario.humans.copy_rate
    fig, (ax1, ax2) = _axes(2)
    _band(ax1, base.gini_simpson, "copy_rate 0", COLORS[0])
    _theory(ax1, theory, "theory, copy_rate 0", COLORS[0])
    _band(ax1, copying.gini_simpson, f"copy_rate {rate}", COLORS[3])
    ax1.set_ylabel("Gini–Simpson diversity of corpus topics")
    ax1.legend(fontsize=7)
    gs_fresh = [1 - (f * f).sum(axis=1) for f in (copying.fresh, copying.fresh_end)]
    ax2.bar(
        ["human writing, start", "human writing, end"],
        [g.mean() for g in gs_fresh],
        color=COLORS[3],
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
    return CaseResult(
        key="human_copying",
        title="Humans who copy model patterns are no longer fresh data",
        reference="The seed concern; cf. Shumailov et al. 2024, Bertrand et al. 2024",
        claim=(
            "The stable level of the previous case assumes the human share is independent of "
            "the model. When humans copy the model's topics (copy_rate > 0) the human share "
            "drifts with the model and the plateau drops below the no-copying level."
        ),
        settings=settings_line(copying.scenario) + f", copy_rate {rate}",
        checks=checks,
        figure=_png(fig),
    )


def case_truncation(ctx: Context) -> CaseResult:
    trace = ctx.run("truncation")
    sc = trace.scenario
    course = th.truncation_course(zipf(sc.content.n_topics, sc.content.topic_zipf), sc.models.top_p)
    survivors = course.survivors
    final = trace.support[:, -1, :]
    exact = int(np.count_nonzero((final == survivors).all(axis=1)))
    reached = (trace.support == survivors).all(axis=2)  # (R, S + 1)
    settled = np.array([np.flatnonzero(~row).max() + 1 if (~row).any() else 0 for row in reached])
    sd = np.sqrt(
        sc.models.top_p * (1 - sc.models.top_p) / min(sc.web.docs_per_step, sc.crawlers.budget)
    )
    predicted = np.array([s.sum() for s in course.sets])
    checks = [
        Check(
            "replications whose final topic set equals the predicted survivors",
            exact,
            sc.replications,
            0,
            "=",
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
    fig, (ax,) = _axes(1)
    _band(ax, trace.support.sum(axis=2).astype(float), "topics the model can generate", COLORS[0])
    padded = np.concatenate([predicted, np.full(sc.steps + 1 - predicted.size, predicted[-1])])[
        : sc.steps + 1
    ]
    _theory(ax, padded.astype(float), "deterministic nucleus iteration", "k")
    ax.set_ylabel("model support (topics)")
    ax.legend(fontsize=8)
    return CaseResult(
        key="truncation",
        title="Nucleus truncation removes the tail deterministically",
        reference="Shumailov et al. 2024; Holtzman et al. 2020 (nucleus sampling)",
        claim=(
            f"With top_p = {sc.models.top_p}, each fit keeps only the nucleus of the previous "
            f"model's distribution. Iterating the nucleus on p* gives the surviving set "
            f"({int(survivors.sum())} of {sc.content.n_topics} topics) after "
            f"{course.generations} further fit(s); sampling noise cannot change it when the "
            "decision margin is many standard deviations."
        ),
        settings=settings_line(sc),
        checks=checks,
        figure=_png(fig),
    )


def case_temperature(ctx: Context) -> CaseResult:
    cold = ctx.run("temperature")
    plain = ctx.run("temperature", "models.temperature=1.0")
    sc = cold.scenario
    p_star = zipf(sc.content.n_topics, sc.content.topic_zipf)
    limit = th.tempered_gini_simpson(p_star, sc.models.temperature, sc.steps)
    drift = th.expected_gini_simpson(loop_of(plain.scenario))
    n = min(sc.web.docs_per_step, sc.crawlers.budget)
    checks = []
    for t in checkpoints(sc.steps):
        # Finite N adds Wright–Fisher drift on top of the deterministic map, and N documents
        # cannot show diversity below 2/N (one document off the main topic): allow both.
        allowance = limit[t] * (1 - (1 - 1 / n) ** (t + 1)) / sc.models.temperature + 2 / n
        mean, se = mean_se(cold.gini_simpson[:, t])
        checks.append(
            Check(
                f"T={sc.models.temperature}: Gini–Simpson at step {t}",
                mean,
                limit[t],
                SIGMAS * se + allowance,
            )
        )
        checks.append(
            greater(
                f"step {t}: T=1 vs T={sc.models.temperature}",
                plain.gini_simpson[:, t],
                cold.gini_simpson[:, t],
            )
        )
    fig, (ax,) = _axes(1)
    _band(ax, plain.gini_simpson, "T=1", COLORS[0])
    _theory(ax, drift, "T=1 theory", COLORS[0])
    _band(ax, cold.gini_simpson, f"T={sc.models.temperature}", COLORS[3])
    _theory(ax, limit, f"T={sc.models.temperature} deterministic map", COLORS[3])
    ax.set_ylabel("Gini–Simpson diversity of corpus topics")
    ax.legend(fontsize=7)
    return CaseResult(
        key="temperature",
        title="Temperature below 1 sharpens: faster collapse",
        reference="Shumailov et al. 2024 (sampling bias as a collapse driver)",
        claim=(
            "Each fit raises the distribution to the power 1/T, so after t fits the model is "
            "p*^(T^−t) renormalised: diversity falls geometrically in the exponent, far faster "
            "than drift. The tolerance adds the drift's size, H(1 − (1 − 1/N)^(t+1))/T, and the "
            "resolution of N documents, 2/N, to 4 SE."
        ),
        settings=settings_line(sc),
        checks=checks,
        figure=_png(fig),
    )


def case_smoothing(ctx: Context) -> CaseResult:
    smooth = ctx.run("smoothing")
    plain = ctx.run("smoothing", "models.smoothing=0.0")
    sc = smooth.scenario
    theory = th.expected_gini_simpson(loop_of(sc))
    k, steps = sc.content.n_topics, sc.steps
    zeros = int(np.count_nonzero(~smooth.support))
    checks = [
        close(f"Gini–Simpson at step {t}", smooth.gini_simpson[:, t], theory[t])
        for t in checkpoints(steps)
    ]
    checks.append(
        Check("model probabilities equal to zero (all steps, replications)", zeros, 0, 0, "=")
    )
    checks.append(
        greater(
            f"final richness: smoothing {sc.models.smoothing} vs 0",
            smooth.metrics["topic_richness"][:, steps],
            plain.metrics["topic_richness"][:, steps],
        )
    )
    fig, (ax1, ax2) = _axes(2)
    _band(ax1, smooth.gini_simpson, f"smoothing {sc.models.smoothing}", COLORS[2])
    _theory(ax1, theory, "theory", COLORS[2])
    _band(ax1, plain.gini_simpson, "smoothing 0", COLORS[0])
    _theory(
        ax1, th.expected_gini_simpson(loop_of(plain.scenario)), "theory, smoothing 0", COLORS[0]
    )
    _band(ax2, smooth.metrics["topic_richness"], f"smoothing {sc.models.smoothing}", COLORS[2])
    _band(ax2, plain.metrics["topic_richness"], "smoothing 0", COLORS[0])
    ax1.set_ylabel("Gini–Simpson diversity of corpus topics")
    ax2.set_ylabel(f"topics in the corpus (of {k})")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return CaseResult(
        key="smoothing",
        title="Smoothing keeps the tail alive (no absorbing zeros)",
        reference="Wright–Fisher with mutation; Shumailov et al. 2024",
        claim=(
            "With additive smoothing α every topic keeps probability ≥ α/(M + Kα), so no "
            "topic is absorbed at zero and diversity settles at a stationary level; with "
            "q = (c + α)/(M + Kα) the second-moment recursion stays exact."
        ),
        settings=settings_line(sc),
        checks=checks,
        figure=_png(fig),
    )


def case_detector(ctx: Context) -> CaseResult:
    shares = (0.2, 0.5, 0.8)
    checks = []
    measured, expected, errors = [], [], []
    sc = ctx.scenario("detector")
    for a in shares:
        trace = ctx.run("detector", f"web.ai_share={a}")
        det = trace.scenario.filtering.detector
        human = 1.0 - trace.metrics["train_synthetic_share"][:, 1:].mean(axis=1)
        theory = passed_human_share(a, det.tpr, det.fpr)
        checks.append(close(f"AI share {a}: human share of what passes", human, theory))
        mean, se = mean_se(human)
        measured.append(mean)
        errors.append(1.96 * se)
        expected.append(theory)
    fig, (ax,) = _axes(1)
    grid = np.linspace(0, 1, 101)
    det = sc.filtering.detector
    ax.plot(grid, [passed_human_share(a, det.tpr, det.fpr) for a in grid], "k--", label="formula")
    ax.errorbar(shares, measured, yerr=errors, fmt="o", color=COLORS[0], label="simulated")
    ax.plot(grid, 1 - grid, color="0.6", lw=0.8, label="no detector")
    ax.set_xlabel("AI share of published documents")
    ax.set_ylabel("human share of the training data")
    ax.legend(fontsize=8)
    return CaseResult(
        key="detector",
        title="Detector pass-through",
        reference="DESIGN §11: (1−a)(1−fpr) / [(1−a)(1−fpr) + a(1−tpr)]",
        claim=(
            "A detector with true-positive rate tpr and false-positive rate fpr keeps humans "
            "with probability 1 − fpr and synthetic documents with 1 − tpr, so the human share "
            "of what passes follows the formula (`simulation.policies.passed_human_share`)."
        ),
        settings=settings_line(sc) + f", detector tpr {det.tpr}, fpr {det.fpr}",
        checks=checks,
        figure=_png(fig),
    )


CASES: dict[str, Callable[[Context], CaseResult]] = {
    "wright_fisher": case_wright_fisher,
    "hill_orders": case_hill_orders,
    "regimes": case_regimes,
    "fresh_data": case_fresh_data,
    "human_copying": case_human_copying,
    "truncation": case_truncation,
    "temperature": case_temperature,
    "smoothing": case_smoothing,
    "detector": case_detector,
}


def run_cases(
    quick: bool = False,
    overrides: list[str] | None = None,
    only: list[str] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run the validation cases (all, or `only` these keys) and return their results."""
    ctx = Context(quick=quick, overrides=list(overrides or []))
    for name in QUICK:  # fail fast, before any simulation, on a bad --set
        ctx.scenario(name)
    results = []
    for key, case in CASES.items():
        if only and key not in only:
            continue
        result = case(ctx)
        results.append(result)
        if on_case is not None:
            on_case(result)
    return results


# ---------------------------------------------------------------- report


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def markdown(results: list[CaseResult], quick: bool, overrides: list[str]) -> str:
    """The validation report as Markdown (figures referenced from `figures/`)."""
    n_pass = sum(r.passed for r in results)
    lines = [
        "# Ouroboros validation against the literature",
        "",
        f"{n_pass} of {len(results)} cases pass ({'quick' if quick else 'full'} size"
        + (f"; --set {' '.join(overrides)}" if overrides else "")
        + f"). Tolerances are {SIGMAS:g} standard errors of the simulated mean.",
        "",
        "| case | result |",
        "|---|---|",
        *[f"| {r.title} | {'pass' if r.passed else '**FAIL**'} |" for r in results],
    ]
    for r in results:
        lines += [
            "",
            f"## {r.title} — {'pass' if r.passed else 'FAIL'}",
            "",
            f"*{r.reference}*",
            "",
            r.claim,
            "",
            f"Settings: {r.settings}.",
            "",
            "| check | measured | relation | expected | tolerance | result |",
            "|---|---:|:-:|---:|---:|---|",
            *[
                f"| {c.label} | {_fmt(c.measured)} | {c.relation} | {_fmt(c.expected)} | "
                f"{_fmt(c.tolerance)} | {'pass' if c.passed else '**FAIL**'} |"
                for c in r.checks
            ],
            "",
            f"![{r.title}](figures/{r.key}.png)",
        ]
    return "\n".join(lines) + "\n"


def html(results: list[CaseResult], quick: bool, overrides: list[str]) -> str:
    """The validation report as one self-contained HTML page (figures inlined)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["num"] = _fmt
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    return env.get_template("validation.html.j2").render(
        results=results, quick=quick, overrides=overrides, sigmas=SIGMAS
    )


def write_report(
    results: list[CaseResult],
    out_dir: Path,
    quick: bool = False,
    overrides: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write `validation.md`, `validation.html` and `figures/*.png` into `out_dir`."""
    out_dir = Path(out_dir)
    overrides = list(overrides or [])
    for r in results:
        atomic_write_bytes(out_dir / "figures" / f"{r.key}.png", r.figure)
    md_path, html_path = out_dir / "validation.md", out_dir / "validation.html"
    atomic_write_text(md_path, markdown(results, quick, overrides))
    atomic_write_text(html_path, html(results, quick, overrides))
    return html_path, md_path
