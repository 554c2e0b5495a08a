"""Validation against the literature: run `scenarios/validation/`, compare with exact theory.

Each case (declared in `scenarios/validation/cases.toml`: title, reference, claim, scenario
file and variants) runs its scenarios for many replications through the one run loop
(`simulation.runner.simulate`), compares the simulated mean (± standard error) with exact theory
or with the published direction of the effect, and draws one figure. Every tolerance is at least
4 standard errors of the simulated mean; checks that theory makes exact (absorbing zeros,
retained support) must hold in every replication. `write_report` writes `validation.md`, a
self-contained `validation.html` and the figures.

Modules: `theory` (exact theory), `trace` (runs and the theory's view of them), `checks`
(checks and results), `spec` (cases.toml and the run context), `figures` (plot pieces),
`drift`, `fresh`, `sampling` (the cases), `cases` (cases joined to their code), `report`.
"""

from analysis.validation.cases import CASES, IMPLEMENTATIONS, run_cases
from analysis.validation.report import write_report
from analysis.validation.spec import SCENARIOS, SPECS, Context

__all__ = ["CASES", "IMPLEMENTATIONS", "SCENARIOS", "SPECS", "Context", "run_cases", "write_report"]
