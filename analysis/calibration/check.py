"""The check: a scenario's simulated values against the bands of its targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.calibration.simulate import Moments, evaluate
from analysis.calibration.targets import Target, Targets
from simulation.scenario import Scenario


@dataclass(frozen=True)
class Comparison:
    """One target against its simulated value: the mean over replications at the target's
    step (a scenario value as it is) and the standard error of that mean (NaN if none)."""

    target: Target
    step: int | None
    simulated: float
    se: float

    @property
    def passed(self) -> bool:
        return self.target.within(self.simulated)

    @property
    def when(self) -> str:
        """When the target is read: its date and step, its step, or "scenario value"."""
        if self.step is None:
            return "scenario value"
        return f"{self.target.date} (step {self.step})" if self.target.date else f"step {self.step}"


def compare(targets: Targets, moments: Moments, point: int = 0) -> list[Comparison]:
    """Every target against the simulated values of one evaluated scenario."""
    return [
        Comparison(target, step, float(moments.mean[point, i]), float(moments.se[point, i]))
        for i, (target, step) in enumerate(zip(targets.targets, targets.steps, strict=True))
    ]


def check(
    scenario: Scenario,
    targets: Targets,
    workers: int = 1,
    on_run: Callable[[], None] | None = None,
) -> list[Comparison]:
    """Simulate the scenario's replications up to the last target step and compare."""
    moments = evaluate([scenario.to_dict()], targets, scenario.replications, workers, on_run)
    return compare(targets, moments)
