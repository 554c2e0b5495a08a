"""Smoke tests: the benchmark scripts run tiny cases end to end and record rows; the kernel's
alias tables sample exactly the distribution they are built from."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(*args: str) -> str:
    """Run a benchmark script from the project folder; its output (it must succeed)."""
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=180
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def positive(row: dict, *columns: str) -> bool:
    """Whether each column of a CSV row holds a positive number."""
    return all(float(row[column]) > 0 for column in columns)


def test_bench_small_runs_and_appends_a_result(tmp_path):
    results = tmp_path / "results.csv"
    # A results file from before the `repeats` column: its rows are kept under the new header.
    results.write_text("timestamp,commit,size,steps,ratio\n2026-01-01T00:00:00Z,abc,small,50,3.5\n")
    args = ["--size", "small", "--steps", "2", "--repeat", "1", "--no-curve"]
    stdout = run_script("benchmarks/run.py", *args, "--results", str(results))
    assert "kernel tok/s" in stdout and "fastest of 1 runs" in stdout and "whole ratio" in stdout
    assert "cold ratio" in stdout
    old, row = list(csv.DictReader(results.open()))
    assert old["commit"] == "abc" and old["ratio"] == "3.5" and old["repeats"] == ""
    assert old["whole_ratio"] == ""
    assert row["size"] == "small" and row["steps"] == "2" and row["repeats"] == "1"
    assert row["commit"]
    assert float(row["tokens_per_s"]) == pytest.approx(float(row["docs_per_s"]) * 32)
    assert positive(row, "ratio", "peak_mib", "whole_s", "whole_peak_mib", "kernel_whole_s")
    # ratios of the fastest runs (the CSV rounds seconds to 4 decimals)
    assert float(row["ratio"]) == pytest.approx(
        float(row["steps_s"]) / float(row["kernel_s"]), rel=0.05
    )
    assert float(row["whole_ratio"]) == pytest.approx(
        float(row["whole_s"]) / float(row["kernel_whole_s"]), rel=0.01
    )
    assert float(row["whole_cold_ratio"]) == pytest.approx(
        float(row["whole_cold_s"]) / float(row["kernel_whole_s"]), rel=0.01
    )


@pytest.mark.slow  # two sweeps, each with its own process pool: ~9 s
def test_sweep_bench_reports_throughput_and_speedup(tmp_path):
    scenario = tmp_path / "tiny_sweep.yaml"
    small = ROOT / "benchmarks" / "scenarios" / "small.yaml"
    scenario.write_text(
        f"extends: {small}\nname: tiny_sweep\nsweep:\n  factors:\n    web.ai_share: [0.5]\n"
    )
    results = tmp_path / "sweep_results.csv"
    args = ["--scenario", str(scenario), "--set", "steps=2", "--set", "replications=1"]
    stdout = run_script("benchmarks/sweep.py", *args, "--results", str(results))
    assert "runs/h" in stdout and "speed-up 1 -> 2 workers:" in stdout
    one, two = list(csv.DictReader(results.open()))
    assert (one["workers"], two["workers"]) == ("1", "2")
    for row in (one, two):
        assert row["runs"] == "1" and row["commit"] and row["overrides"].endswith("replications=1")
        assert positive(row, "wall_s", "runs_per_hour", "run_s", "overhead_s", "speedup")
    assert float(one["speedup"]) == 1.0


SWEEP_ROWS = """timestamp,commit,scenario,overrides,workers,runs,wall_s,runs_per_hour,speedup
2026-01-01T00:00:00Z,old,demo,x,1,60,100.0,2160,1.0
2026-01-01T00:00:00Z,old,demo,x,2,60,90.0,2160,1.1111
2026-01-02T00:00:00Z,new,demo,x,1,60,100.0,2160,1.0
2026-01-02T00:00:00Z,new,demo,x,2,60,50.0,2160,2.0
"""
RUN_ROWS = """timestamp,commit,size,ratio,whole_ratio,whole_s,whole_peak_mib
2026-01-01T00:00:00Z,old,medium,2.0,3.0,10,900
2026-01-02T00:00:00Z,new,medium,1.9,1.4,8,800
2026-01-02T00:00:00Z,new,large,2.5,2.5,61,3000
"""


def test_summary_reads_the_newest_rows_and_judges_each_target(tmp_path):
    runs, sweeps = tmp_path / "results.csv", tmp_path / "sweep_results.csv"
    runs.write_text(RUN_ROWS)
    sweeps.write_text(SWEEP_ROWS)
    summary = run_script(
        "benchmarks/summary.py", "--results", str(runs), "--sweep-results", str(sweeps)
    )
    lines = {line[:34].strip(): line[34:].split() for line in summary.splitlines()}
    assert lines["whole-run ratio, medium"][:3] == ["1.40", "<=", "1.5"]
    assert lines["whole-run ratio, medium"][3] == "met"
    assert lines["large whole run, s"][:4] == ["61.00", "<", "60", "NOT"]
    assert lines["large peak memory, GiB"][:4] == ["2.93", "<", "3", "met"]
    # 1-worker wall / 2-worker wall of the newest sweep.py call, not of an older one
    assert lines["sweep speed-up, 1 -> 2 workers"][:4] == ["2.00", ">=", "1.8", "met"]
    empty = run_script(
        "benchmarks/summary.py",
        "--results",
        str(tmp_path / "none.csv"),
        "--sweep-results",
        str(tmp_path / "none2.csv"),
    )
    assert "whole-run ratio, medium" in empty and "not measured" in empty


def load_kernel():
    """benchmarks/kernel.py as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_kernel", ROOT / "benchmarks/kernel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("alpha", [0.05, 1.0, 100.0])
def test_kernel_alias_tables_imply_their_distribution(alpha):
    rows, n = 30, 400
    p = np.random.default_rng(1).dirichlet(np.full(n, alpha), size=rows)
    keep, alias = load_kernel().alias_tables(p)
    lender = np.repeat(np.arange(rows), n) * n + alias  # the cell each slot lends to
    lent = np.bincount(lender, weights=1 - keep, minlength=rows * n)
    assert np.all((keep >= 0) & (keep <= 1))
    np.testing.assert_allclose((keep + lent).reshape(rows, n) / n, p, rtol=0, atol=1e-12)
