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
    cmd = [sys.executable, "benchmarks/run.py", "--size", "small", "--steps", "2"]
    cmd += ["--no-curve", "--results", str(results)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "kernel tok/s" in out.stdout and "small" in out.stdout
    rows = list(csv.DictReader(results.open()))
    assert len(rows) == 1
    row = rows[0]
    assert row["size"] == "small" and row["steps"] == "2" and row["commit"]
    assert float(row["tokens_per_s"]) == pytest.approx(float(row["docs_per_s"]) * 32)
    assert float(row["ratio"]) > 0 and float(row["peak_mib"]) > 0
