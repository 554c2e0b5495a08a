"""The cases as data (`scenarios/validation/cases.toml`) and the context that runs their scenarios.

`cases.toml` holds what a reader reads (title, reference, claim with `{placeholders}`), which
scenario file each case runs with which `--set` variants, and the `--quick` sizes per file.
`Context` loads those scenarios (quick sizes, then the user's `--set`, then the variant) and
caches finished runs, so cases that share a run (Wright–Fisher and the Hill orders) run it once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.validation.checks import CaseResult, Check
from analysis.validation.trace import Probe, Trace, simulate
from simulation.scenario import Scenario, load

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "validation"
CASES_FILE = SCENARIOS / "cases.toml"


@dataclass(frozen=True)
class CaseSpec:
    """One `[cases.<key>]` table of cases.toml."""

    key: str
    title: str
    reference: str
    claim: str  # str.format template, filled from the facts a case computes
    scenario: str  # file name in scenarios/validation/
    variants: tuple[tuple[str, ...], ...]  # --set strings of each run

    def result(
        self,
        settings: str,
        checks: list[Check],
        figure: bytes,
        **facts: Any,
    ) -> CaseResult:
        """The case's result: its text from cases.toml, its claim filled with `facts`."""
        return CaseResult(
            key=self.key,
            title=self.title,
            reference=self.reference,
            claim=self.claim.format(**facts),
            settings=settings,
            checks=checks,
            figure=figure,
        )


def read_cases(path: Path = CASES_FILE) -> tuple[dict[str, CaseSpec], dict[str, list[str]]]:
    """The case specifications in file order, and the quick sizes per scenario file."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    specs = {
        key: CaseSpec(
            key=key,
            title=table["title"],
            reference=table["reference"],
            claim=table["claim"],
            scenario=table["scenario"],
            variants=tuple(tuple(v) for v in table["variants"]),
        )
        for key, table in data["cases"].items()
    }
    return specs, {name: list(sizes) for name, sizes in data["quick"].items()}


SPECS, QUICK = read_cases()


@dataclass
class Context:
    """What every case needs: size, user overrides and a cache of finished runs."""

    quick: bool = False
    overrides: list[str] = field(default_factory=list)
    cache: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Trace] = field(default_factory=dict)

    def scenario(self, file: str, *variant: str) -> Scenario:
        """Load a validation scenario: quick sizes, then the user's --set, then the variant."""
        sizes = QUICK[file] if self.quick else []
        return load(SCENARIOS / file, [*sizes, *self.overrides, *variant])

    def run(self, file: str, *variant: str, probes: dict[str, Probe] | None = None) -> Trace:
        """Every replication of one scenario variant, with the case's `probes` (cached)."""
        key = (file, variant, tuple(probes or {}))
        if key not in self.cache:
            self.cache[key] = simulate(self.scenario(file, *variant), probes)
        return self.cache[key]

    def runs(self, spec: CaseSpec, probes: dict[str, Probe] | None = None) -> list[Trace]:
        """The runs of a case, one per variant, in cases.toml order."""
        return [self.run(spec.scenario, *variant, probes=probes) for variant in spec.variants]
