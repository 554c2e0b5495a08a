"""Checks and results: a measured value against theory, within a tolerance of standard errors.

Every statistical tolerance is `SIGMAS` standard errors of the simulated mean (read at call
time, so a test can set it to 0); checks that theory makes exact use the relation "=".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SIGMAS = 4.0  # every statistical tolerance, in standard errors of the simulated mean


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


def close(label: str, samples: np.ndarray, expected: float, allowance: float = 0.0) -> Check:
    """Simulated mean within SIGMAS standard errors (plus a known `allowance`) of `expected`."""
    mean, se = mean_se(samples)
    return Check(label, mean, float(expected), SIGMAS * se + allowance)


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


def exact(label: str, measured: float, expected: float) -> Check:
    """A check that theory makes exact: equality, no tolerance."""
    return Check(label, measured, expected, 0, "=")


def checkpoints(steps: int) -> list[int]:
    """A few steps spread over the run where curves are compared with theory."""
    return sorted({max(1, steps // 4), max(1, steps // 2), steps})
