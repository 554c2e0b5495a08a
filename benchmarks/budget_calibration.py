"""Measure peak memory and run time of scenarios, to calibrate `simulation.budget.estimate`.

Each point (a benchmark scenario plus `--set`-style overrides) runs in a fresh Python process,
as `ouroboros run` would (`keep_freed_memory`, then `simulation.runner.run_one`), and reports
its peak resident memory (`ru_maxrss`), the peak after construction, and its times. The table
prints the measured peak next to the estimate; `tests/test_budget.py` keeps the measured
peaks (MEASURED) so that the test needs no simulation.

    .venv/bin/python benchmarks/budget_calibration.py               # every point but large
    .venv/bin/python benchmarks/budget_calibration.py --large       # large too (~3.3 GiB)
    .venv/bin/python benchmarks/budget_calibration.py --only small  # labels containing it
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (label, benchmark size, overrides): small to large, and variations of each memory term.
POINTS: list[tuple[str, str, list[str]]] = [
    (
        "tiny",
        "small",
        [
            "steps=6",
            "web.n_sites=50",
            "humans.count=100",
            "web.docs_per_step=500",
            "web.archive_docs=2000",
            "crawlers.budget=1000",
            "content.n_words=300",
            "content.n_topics=40",
        ],
    ),
    ("small", "small", []),
    ("small scope=all", "small", ["crawlers.scope=all"]),
    ("small subsample", "small", ["models.regime=subsample"]),
    ("small replace", "small", ["models.regime=replace"]),
    ("small window", "small", ["models.regime=window"]),
    ("small smoothing", "small", ["models.smoothing=0.01", "models.count=10"]),
    ("small 2000 steps", "small", ["steps=2000", "web.docs_per_step=200"]),
    ("small 1M humans", "small", ["humans.count=1000000", "humans.interests=8"]),
    ("small 200k sites", "small", ["web.n_sites=200000", "web.links_per_site=5"]),
    (
        "small long docs",
        "small",
        [
            "content.doc_length=1024",
            "web.docs_per_step=2000",
            "web.archive_docs=10000",
            "crawlers.budget=10000",
        ],
    ),
    ("medium", "medium", []),
    ("medium 20 models", "medium", ["models.count=20"]),
    ("medium scope=all", "medium", ["crawlers.scope=all", "steps=24"]),
    ("medium subsample", "medium", ["models.regime=subsample", "models.train_budget=200000"]),
    ("medium wide", "medium", ["content.n_topics=2000", "content.n_words=50000", "steps=12"]),
    ("medium smoothing", "medium", ["models.smoothing=0.001", "steps=12"]),
    (
        "medium zipf 100k words",
        "medium",
        ["content.vocabulary=zipf", "content.n_words=100000", "content.n_topics=200", "steps=24"],
    ),
    ("large", "large", []),
]


def worker(size: str, overrides: list[str]) -> dict[str, float]:
    """One point in this (fresh) process: peak memory, times, and the models' table sizes."""
    from simulation.memory import keep_freed_memory
    from simulation.runner import run_one
    from simulation.scenario import load

    keep_freed_memory()
    scenario = load(ROOT / "benchmarks" / "scenarios" / f"{size}.yaml", overrides)
    started = time.perf_counter()
    built: list[float] = []
    pool_nnz = fit_nnz = kept_docs = 0

    def observe(model) -> None:
        nonlocal pool_nnz, fit_nnz, kept_docs
        if not built:
            built.append(time.perf_counter())
            built.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        for ai in model.ai_models:
            pool = ai.pool
            if pool._total is not None:
                pool_nnz = max(pool_nnz, pool._total.word_counts.nnz)
            fit_nnz = max(fit_nnz, ai.generator.word_probs_.nnz)
        kept_docs = max(kept_docs, sum(len(b) for b in model.corpus._blocks))

    from simulation import runner

    original = runner.simulate

    def simulate(*args, **kwargs):
        inner = kwargs.pop("on_step", None)

        def both(model):
            observe(model)
            if inner is not None:
                inner(model)

        return original(*args, on_step=both, **kwargs)

    runner.simulate = simulate
    run_one(scenario)
    done = time.perf_counter()
    return {
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "init_peak_mib": built[1],
        "init_s": built[0] - started,
        "wall_s": done - started,
        "pool_nnz": pool_nnz,
        "fit_nnz": fit_nnz,
        "kept_docs": kept_docs,
    }


def measure(size: str, overrides: list[str]) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--worker", size, *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"point {size} {overrides} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="include the large point")
    parser.add_argument("--only", default=None, help="only labels containing this text")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1:])))
        return
    from simulation.budget import estimate
    from simulation.scenario import load

    rows = []
    for label, size, overrides in POINTS:
        if (label == "large" and not args.large) or (args.only and args.only not in label):
            continue
        got = measure(size, overrides)
        est = estimate(load(ROOT / "benchmarks" / "scenarios" / f"{size}.yaml", overrides))
        est_mib = est.peak_bytes / 2**20
        ratio = est_mib / got["peak_mib"]
        rows.append((label, size, overrides, round(got["peak_mib"]), round(got["wall_s"], 2)))
        print(
            f"{label:24s} measured {got['peak_mib']:8.0f} MiB (init {got['init_peak_mib']:6.0f})"
            f"  estimate {est_mib:8.0f} MiB  ratio {ratio:5.2f}  wall {got['wall_s']:6.1f} s"
            f" (est {est.seconds:6.1f})  pool {got['pool_nnz']:>9} fit {got['fit_nnz']:>9}"
            f"  docs {got['kept_docs']}",
            flush=True,
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
