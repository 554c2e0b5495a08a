"""Shared fixtures and helpers: small scenarios that run in well under a second per step.

`small_scenario(**sections)` builds the scenario, `stepped(scenario, steps)` the model of one
of its replications after some steps, and the `small_model` fixture the model of the default
small scenario at step 0. `finals`, `mean_final` and `mean_after_run` run several replications
for the tests of a mechanism.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# Pinned numerical kernels, set before numpy loads (here, in every test process and in the
# processes the tests start). numpy and OpenBLAS pick kernels by CPU at run time; AVX-512
# kernels round some results differently in the last bits from the AVX2 ones, so digests of
# results (tests/test_golden.py) would depend on the machine. These are the AVX2 kernels,
# which every x86-64 CPU with AVX2 runs; on one machine the results are bit-identical either
# way whatever the workers or executor (README, Reproducibility).
PINNED_KERNELS = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
}
for _name, _value in PINNED_KERNELS.items():
    os.environ.setdefault(_name, _value)
# No worlds kept on disk by the tests or the commands they start (tests/test_world_cache.py
# turns the cache on in a temporary folder).
os.environ.setdefault("OUROBOROS_CACHE", "off")

import numpy as np
import pandas as pd
import pytest

from simulation.model import WebEcosystem
from simulation.runner import run_one, run_seed
from simulation.scenario import Scenario, deep_merge, validate

# Filtering that lets every crawled document through.
NO_FILTER = {"detector": None, "provenance": {"label_rate": 0.0, "honored": False}}


def small_scenario(**sections) -> Scenario:
    """A tiny but complete scenario; keyword sections deep-override the defaults."""
    base = {
        "name": "small",
        "seed": 7,
        "steps": 12,
        "replications": 1,
        "content": {"vocabulary": "zipf", "n_words": 300, "n_topics": 40, "doc_length": 16},
        "web": {
            "n_sites": 60,
            "links_per_site": 2,
            "docs_per_step": 2000,
            "archive_docs": 6000,
            "ai_share": 0.3,
        },
        "humans": {"count": 200, "interests": 3},
        "models": {"count": 2, "retrain_every": 2, "train_budget": 4000},
        "crawlers": {"strategy": "random", "budget": 4000, "scope": "fresh"},
    }
    return validate(deep_merge(base, sections), "test")


def stepped(scenario: Scenario, steps: int = 0, *, replication: int = 0) -> WebEcosystem:
    """The model of `scenario`'s run (design point 0, `replication`) after `steps` steps."""
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, 0, replication))
    for _ in range(steps):
        model.step()
    return model


@pytest.fixture
def small() -> Scenario:
    return small_scenario()


@pytest.fixture
def small_model(small: Scenario) -> WebEcosystem:
    """The small scenario's model (replication 0), built and not yet stepped."""
    return stepped(small)


_finals: dict[tuple[str, int], pd.DataFrame] = {}


def finals(reps: int = 6, **sections) -> pd.DataFrame:
    """Final metric rows of `reps` replications of a small scenario (each computed once)."""
    scenario = small_scenario(**sections)
    key = (scenario.config_hash(), reps)
    if key not in _finals:
        rows = [run_one(scenario, run_id=r, replication=r).metrics.iloc[-1] for r in range(reps)]
        _finals[key] = pd.DataFrame(rows)
    return _finals[key].copy()


def mean_final(reps: int = 6, *, metric: str, **sections) -> float:
    """Mean over `reps` replications of a metric's final value."""
    return float(finals(reps, **sections)[metric].mean())


def mean_after_run(measure: Callable[[WebEcosystem], float], reps: int = 4, **sections) -> float:
    """Mean over `reps` replications of `measure(model)` taken after the last step."""
    scenario = small_scenario(**sections)
    values = [measure(stepped(scenario, scenario.steps, replication=rep)) for rep in range(reps)]
    return float(np.mean(values))


def stable_sort_nucleus(p: np.ndarray, top_p: float) -> np.ndarray:
    """Reference nucleus of each row (unnormalised): a stable descending argsort per row keeps
    the entries whose preceding mass is below top_p (ties at the cut: the first by column)."""
    order = np.argsort(-p, axis=1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=1)
    before = np.cumsum(sorted_p, axis=1) - sorted_p
    keep_sorted = before < top_p * sorted_p.sum(axis=1, keepdims=True) - 1e-12
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, p, 0.0)
