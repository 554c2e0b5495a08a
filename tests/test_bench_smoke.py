"""Smoke test: the benchmark runner runs the small scenario end to end and records a row."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_small_runs_and_appends_a_result(tmp_path):
    results = tmp_path / "results.csv"
    # A results file from before the `repeats` column: its rows are kept under the new header.
    results.write_text("timestamp,commit,size,steps,ratio\n2026-01-01T00:00:00Z,abc,small,50,3.5\n")
    cmd = [sys.executable, "benchmarks/run.py", "--size", "small", "--steps", "2", "--repeat", "2"]
    cmd += ["--no-curve", "--results", str(results)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "kernel tok/s" in out.stdout and "fastest of 2 runs" in out.stdout
    old, row = list(csv.DictReader(results.open()))
    assert old["commit"] == "abc" and old["ratio"] == "3.5" and old["repeats"] == ""
    assert row["size"] == "small" and row["steps"] == "2" and row["repeats"] == "2"
    assert row["commit"]
    assert float(row["tokens_per_s"]) == pytest.approx(float(row["docs_per_s"]) * 32)
    assert float(row["ratio"]) > 0 and float(row["peak_mib"]) > 0
    # ratio of the fastest runs (the CSV rounds seconds to 4 decimals)
    assert float(row["ratio"]) == pytest.approx(
        float(row["steps_s"]) / float(row["kernel_s"]), rel=0.05
    )
