"""The validation cases: cases.toml's entries joined to their implementations, and running them."""

from __future__ import annotations

from collections.abc import Callable

from analysis.validation import drift, fresh, onestep, sampling, web
from analysis.validation.checks import CaseResult
from analysis.validation.spec import SPECS, CaseSpec, Context

Implementation = Callable[[Context, CaseSpec], CaseResult]

IMPLEMENTATIONS: dict[str, Implementation] = {
    "one_step": onestep.one_step,
    "wright_fisher": drift.wright_fisher,
    "hill_orders": drift.hill_orders,
    "regimes": drift.regimes,
    "accumulate_bound": onestep.accumulate_bound,
    "fresh_data": fresh.fresh_data,
    "human_copying": fresh.human_copying,
    "truncation": sampling.truncation,
    "tail_cutting": sampling.tail_cutting,
    "temperature": sampling.temperature,
    "smoothing": drift.smoothing,
    "detector": fresh.detector,
    "zero_ai": web.zero_ai,
    "crawl_strategy": web.crawl_strategy,
}


def case(key: str) -> Callable[[Context], CaseResult]:
    """Case `key` as a function of the run context."""

    def run(ctx: Context) -> CaseResult:
        return IMPLEMENTATIONS[key](ctx, SPECS[key])

    run.__name__ = run.__qualname__ = key
    return run


CASES: dict[str, Callable[[Context], CaseResult]] = {key: case(key) for key in SPECS}


def run_cases(
    quick: bool = False,
    overrides: list[str] | None = None,
    only: list[str] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run the validation cases (all, or `only` these keys) and return their results."""
    ctx = Context(quick=quick, overrides=list(overrides or []))
    for file in dict.fromkeys(spec.scenario for spec in SPECS.values()):
        ctx.scenario(file)  # fail fast, before any simulation, on a bad --set
    results = []
    for key, run in CASES.items():
        if only and key not in only:
            continue
        result = run(ctx)
        results.append(result)
        if on_case is not None:
            on_case(result)
    return results
