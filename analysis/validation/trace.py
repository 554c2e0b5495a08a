"""Validation runs: every replication of a scenario through the one run loop, and what theory
expects of them.

`simulate` steps models only through `simulation.runner.simulate`; it keeps the metric columns
the theory speaks about (named by the registry) and the model's topic distribution after every
step. `loop_of` and `expected_gs` translate a resolved scenario into the theory's `Loop`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from analysis.validation import theory as th
from simulation import registry
from simulation.content import zipf
from simulation.model import WebEcosystem
from simulation.observation import observe
from simulation.runner import metric_frame
from simulation.runner import simulate as run_simulation
from simulation.scenario import Scenario

TRACED = (
    registry.TOPIC_RICHNESS,
    registry.TOPIC_HILL1,
    registry.TOPIC_HILL2,
    registry.TRAIN_SYNTHETIC_SHARE,
    registry.TAIL_MASS,
    registry.JS_DIVERGENCE_ARCHIVE,
    registry.MISSING_MASS,
)

# A quantity a case reads from the model after construction and after every step (a float or
# an array of fixed shape); `simulate` stacks its values into (R, S + 1, ...).
Probe = Callable[[WebEcosystem], float | np.ndarray]


@dataclass
class Trace:
    """Per-replication, per-step record of a validation run."""

    scenario: Scenario
    metrics: dict[str, np.ndarray]  # registry metric name -> (R, S + 1)
    model_probs: np.ndarray  # (R, S + 1, K): the model's topic distribution after each step
    fresh: np.ndarray  # (R, K): topic distribution of human writing at the start
    fresh_end: np.ndarray  # (R, K): the same at the end
    series: dict[str, np.ndarray] = field(default_factory=dict)  # probe name -> (R, S + 1, ...)

    def of(self, metric: registry.Metric) -> np.ndarray:
        """(R, S + 1) values of a traced registry metric."""
        return self.metrics[metric.name]

    @property
    def gini_simpson(self) -> np.ndarray:
        """(R, S + 1) Gini–Simpson diversity of the corpus topics.

        Derived from the registry's Hill-2 column as 1 − 1/Hill₂: Hill₂ = 1/Σp², so this is
        exactly 1 − Σp² (`simulation.metrics.gini_simpson`) without a second pass over counts.
        """
        return 1.0 - 1.0 / self.of(registry.TOPIC_HILL2)

    @property
    def support(self) -> np.ndarray:
        """(R, S + 1, K) topics the model can still generate."""
        return self.model_probs > 0


def _human_topics(model: WebEcosystem) -> np.ndarray:
    """Topic distribution of the documents the human population writes now."""
    pop = model.humans
    k = model.content.n_topics
    return np.bincount(pop.topics.ravel(), pop.weights.ravel(), minlength=k) / len(pop)


def simulate(scenario: Scenario, probes: Mapping[str, Probe] | None = None) -> Trace:
    """Run every replication of `scenario` and keep the quantities the theory speaks about,
    and the values of `probes` (a case's own per-step readings of the model)."""
    names = [m.name for m in TRACED]
    reps, steps = scenario.replications, scenario.steps
    probes = dict(probes or {})
    probs = np.empty((reps, steps + 1, scenario.content.n_topics))
    fresh, fresh_end = np.empty((2, reps, scenario.content.n_topics))
    read: dict[str, list[list[np.ndarray]]] = {name: [] for name in probes}
    tables = []
    for rep in range(reps):
        for values in read.values():
            values.append([])

        def record(model: WebEcosystem, rep: int = rep) -> None:
            if model.steps == 0:
                fresh[rep] = _human_topics(model)
            probs[rep, model.steps] = observe(model).model_topic_probs.mean(axis=0)
            for name, probe in probes.items():
                read[name][rep].append(np.asarray(probe(model), dtype=np.float64))

        model = run_simulation(scenario, replication=rep, on_step=record)
        fresh_end[rep] = _human_topics(model)
        tables.append(metric_frame(model)[names].to_numpy())
    stacked = np.stack(tables)  # (R, S + 1, metrics)
    metrics = {name: stacked[:, :, i] for i, name in enumerate(names)}
    series = {name: np.array(values) for name, values in read.items()}
    return Trace(scenario, metrics, probs, fresh, fresh_end, series)


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
