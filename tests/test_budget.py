"""The memory and work budget: the estimate against measured peaks, and what it refuses.

MEASURED holds the peak resident memory (MiB, `ru_maxrss`) of each point of
`benchmarks/budget_calibration.py`, measured on the 2-core reference machine in a fresh process
as `ouroboros run` runs (`.venv/bin/python benchmarks/budget_calibration.py --large`,
2026-12-01). The estimate needs no simulation, so the test is instant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.budget_calibration import POINTS
from simulation import budget
from simulation.scenario import ScenarioError, load
from tests.conftest import small_scenario

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "scenarios"

# Measured peak MiB of each point of the calibration script (its POINTS give the scenarios).
MEASURED = {
    "tiny": 246,
    "small": 270,
    "small scope=all": 308,
    "small subsample": 279,
    "small replace": 270,
    "small window": 270,
    "small smoothing": 309,
    "small 2000 steps": 271,
    "small 1M humans": 571,
    "small 200k sites": 1178,
    "small long docs": 502,
    "medium": 1195,
    "medium 20 models": 1724,
    "medium scope=all": 1194,
    "medium subsample": 1195,
    "medium wide": 9677,
    "medium smoothing": 1231,
    "medium zipf 100k words": 2105,
    "large": 3172,
}


@pytest.mark.parametrize(("label", "size", "overrides"), POINTS, ids=[p[0] for p in POINTS])
def test_estimate_is_close_to_the_measured_peak(label, size, overrides):
    """Never much below a measured peak (a refusal must not let an impossible run start) and
    at most half again above it (a feasible run must not be refused)."""
    estimated = budget.estimate(load(BENCH / f"{size}.yaml", overrides)).peak_bytes / budget.MiB
    assert 0.9 <= estimated / MEASURED[label] <= 1.5, (label, round(estimated), MEASURED[label])


def test_sweep_memory_grows_with_workers():
    scenario = load(BENCH.parent.parent / "scenarios" / "ai_share_sweep.yaml")
    one, four = (budget.estimate(scenario, workers=w) for w in (1, 4))
    assert one.runs == four.runs == 5 * 6 * scenario.replications
    assert four.peak_bytes - budget.BASE == pytest.approx(4 * (one.peak_bytes - budget.BASE))


def test_over_the_memory_budget_is_refused_unless_forced():
    scenario = small_scenario()
    need = budget.estimate(scenario).peak_bytes
    with pytest.raises(ScenarioError) as info:
        budget.check_budget(scenario, force=False, available_bytes=need - 1, source="s.yaml")
    (line,) = info.value.problems
    assert line.startswith("s.yaml: needs about") and "--force" in line
    budget.check_budget(scenario, force=False, available_bytes=need, source="s.yaml")
    budget.check_budget(scenario, force=True, available_bytes=1, source="s.yaml")


def test_a_run_of_days_is_refused_naming_the_keys_that_drive_it():
    scenario = small_scenario(steps=100_000, web={"docs_per_step": 10_000_000})
    with pytest.raises(ScenarioError) as info:
        budget.check_budget(scenario, force=False, available_bytes=2**62, source="s.yaml")
    assert "steps (100,000) × web.docs_per_step (10,000,000)" in str(info.value)


def test_too_many_runs_are_refused():
    scenario = small_scenario(
        replications=1000,
        sweep={"design": "lhs", "samples": 200, "factors": {"web.ai_share": {"low": 0, "high": 1}}},
    )
    with pytest.raises(ScenarioError, match="200,000 runs, more than 100,000"):
        budget.check_budget(scenario, force=False, available_bytes=2**62, source="s.yaml")
