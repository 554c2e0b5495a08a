"""The calibration status of a finished run or sweep, for its report: the scenario's runs against
the bundled targets, read from the metrics they already wrote (nothing is simulated again)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.calibration.check import Comparison, compare
from analysis.calibration.simulate import moments
from analysis.calibration.targets import load
from analysis.load import Results
from simulation.scenario import Scenario, ScenarioError, validate
from simulation.schedules import MAX_STEPS

TODAY = Path(__file__).resolve().parents[2] / "scenarios" / "calibration" / "today.toml"


@dataclass(frozen=True)
class Status:
    """One sentence on the calibration of a scenario and, when it could be checked, every
    target against the mean over the runs' replications (NaN for a step the runs never
    reached)."""

    summary: str
    rows: list[Comparison]


def status(scenario: Scenario, metrics: pd.DataFrame, targets: Path = TODAY) -> Status:
    """The status of `scenario`, whose runs wrote `metrics` (one row per replication and step),
    against the targets file `targets` (the bundled today's web by default)."""
    if scenario.start_date is None:
        return Status(
            "Not calibrated: the scenario has no start_date, so its steps are not calendar "
            "months and published measurements of the web cannot be placed in it "
            "(docs/CALIBRATION.md).",
            [],
        )
    try:  # targets past the scenario's last step are reported as such, not refused
        spec = load(targets, scenario.model_copy(update={"steps": MAX_STEPS}))
    except ScenarioError as exc:
        return Status(f"Not checked: {exc.problems[0]}", [])
    reads = [
        (t.metric, step)
        for t, step in zip(spec.targets, spec.steps, strict=True)
        if t.metric is not None
    ]
    by_run = [frame.set_index("step") for _, frame in metrics.groupby("replication")]
    values = np.array([[[_at(frame, metric, step) for metric, step in reads] for frame in by_run]])
    rows = compare(spec, moments([scenario.to_dict()], spec, values))
    passed = sum(row.passed for row in rows)
    last = int(metrics["step"].max())
    late = sum(row.step is not None and row.step > last for row in rows)
    verb = "lies" if late == 1 else "lie"
    after = (
        f"; {late} {verb} after the runs' last step ({last}) and cannot be checked" if late else ""
    )
    summary = (
        f"{passed} of {len(rows)} targets of {Path(targets).name} in their band, over "
        f"{len(by_run)} replication(s) of the runs reported{after} "
        f"(ouroboros calibrate simulates the same check; docs/CALIBRATION.md)."
    )
    return Status(summary, rows)


def _at(frame: pd.DataFrame, metric: str, step: int) -> float:
    """A metric of one replication at `step` (NaN if the run ended before it)."""
    return float(frame.at[step, metric]) if step in frame.index else float("nan")


def report_section(res: Results) -> dict[str, object]:
    """The report appendix's calibration status of the reported scenario: its first group's
    runs (a single run's replications; a sweep's first arm at its first design point) against
    the bundled targets, from the metrics they wrote."""
    runs = res.runs
    first = runs[
        (runs["arm"] == res.arms[0]) & (runs["design_point"] == runs["design_point"].min())
    ]
    metrics = res.metrics[res.metrics["run_id"].isin(first["run_id"])]
    result = status(validate(res.scenario, "report"), metrics)
    group = "" if res.kind == "run" else f" ({res.arms[0]}, first point)"
    return {"summary": result.summary, "rows": result.rows, "group": group}
