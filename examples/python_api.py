"""Ouroboros from Python: build the model of a bundled scenario, step it, read its metrics, then
run the scenario into a run folder and load that folder's results with pandas.

    .venv/bin/python examples/python_api.py [OUT_DIR]

The scenario is `scenarios/baseline.yaml` made small with overrides (the same `dotted.key=value`
strings as `--set`), so the script finishes in seconds. The run folder goes to OUT_DIR (default:
a temporary folder, removed at the end).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from analysis.load import load_results
from simulation.model import WebEcosystem
from simulation.runner import run_scenario, run_seed
from simulation.scenario import load

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"
SMALL = [  # a smaller web than the baseline's, the same mechanisms
    "steps=4",
    "replications=2",
    "content.n_words=1000",
    "content.n_topics=50",
    "web.n_sites=100",
    "web.docs_per_step=1000",
    "web.archive_docs=4000",
    "humans.count=200",
    "models.retrain_every=2",
    "models.train_budget=4000",
    "crawlers.budget=4000",
]


def step_a_model() -> None:
    """One replication stepped by hand: the model is a Mesa model with a DataCollector."""
    scenario = load(BASELINE, SMALL)
    model = WebEcosystem(scenario, rng=run_seed(scenario.seed, design_point=0, replication=0))
    for _ in range(scenario.steps):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()  # one row per step, step 0 first
    print(frame[["topic_hill1", "missing_mass", "synthetic_token_share"]].round(4))


def run_and_load(out_root: Path) -> None:
    """Every replication into a run folder (as `ouroboros run`), then its tables in pandas."""
    scenario = load(BASELINE, [*SMALL, "filtering.detector=null"])
    run_dir = run_scenario(scenario, out_root=out_root)
    results = load_results(run_dir)
    print(f"{run_dir}: {results.kind}, {len(results.runs)} runs")
    print(results.summary[["replication", "final_topic_hill1", "final_missing_mass"]])
    print(results.metrics.groupby("step")["missing_mass"].mean().round(4))


if __name__ == "__main__":
    step_a_model()
    if len(sys.argv) > 1:
        run_and_load(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run_and_load(Path(tmp))
