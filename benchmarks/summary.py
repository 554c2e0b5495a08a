"""Issue 16's performance figures and targets from the latest benchmark rows: `make bench`'s end.

Reads the newest medium and large rows of benchmarks/results.csv (run.py) and the newest 2-worker
row of benchmarks/sweep_results.csv with its 1-worker partner from the same sweep.py call, and
prints each figure with its target, whether it is met, and the commit and time it was measured.

    python benchmarks/summary.py
"""

from __future__ import annotations

import argparse
import operator
from pathlib import Path

from benchlib import HERE, read_rows

COMPARE = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


def latest(rows: list[dict], column: str, value: str, needs: str) -> dict | None:
    """The newest row whose `column` is `value` and whose `needs` column is filled in (rows
    from before a column was added have it empty)."""
    found = [r for r in rows if r.get(column) == value and r.get(needs)]
    return found[-1] if found else None


def figure(row: dict | None, column: str, scale: float = 1.0) -> float | None:
    """A row's number in `column` times `scale`; None without a row."""
    return None if row is None else float(row[column]) * scale


def show(label: str, value: float | None, target: str, row: dict | None) -> None:
    """One line: the figure, its target (e.g. '<= 1.5'; '' for none), verdict and source."""
    if value is None or row is None:
        print(f"{label:<34}{'not measured':>12}")
        return
    verdict = ""
    if target:
        symbol, bound = target.split()
        verdict = "met" if COMPARE[symbol](value, float(bound)) else "NOT met"
    source = f"{row['commit']} {row['timestamp']}"
    print(f"{label:<34}{value:>12,.2f}  {target:<8}{verdict:<9}{source}")


def speedup(sweeps: list[dict], two: dict | None) -> float | None:
    """1-worker wall / 2-worker wall, from the same sweep.py call as the 2-worker row."""
    if two is None:
        return None
    same_call = [
        r
        for r in sweeps
        if r["workers"] == "1"
        and (r["timestamp"], r["commit"]) == (two["timestamp"], two["commit"])
    ]
    return float(same_call[-1]["wall_s"]) / float(two["wall_s"]) if same_call else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results.csv")
    parser.add_argument("--sweep-results", type=Path, default=HERE / "sweep_results.csv")
    args = parser.parse_args(argv)
    runs, sweeps = read_rows(args.results), read_rows(args.sweep_results)
    medium = latest(runs, "size", "medium", needs="whole_ratio")
    large = latest(runs, "size", "large", needs="whole_s")
    two = latest(sweeps, "workers", "2", needs="wall_s")
    print(f"\n{'issue 16 figure':<34}{'value':>12}  {'target':<8}{'':<9}measured at")
    print("-" * 92)
    show("step ratio, medium", figure(medium, "ratio"), "", medium)
    show("whole-run ratio, medium", figure(medium, "whole_ratio"), "<= 1.5", medium)
    show("large whole run, s", figure(large, "whole_s"), "< 60", large)
    show("large peak memory, GiB", figure(large, "whole_peak_mib", 1 / 1024), "< 3", large)
    show("sweep runs per hour, 2 workers", figure(two, "runs_per_hour"), "", two)
    show("sweep speed-up, 1 -> 2 workers", speedup(sweeps, two), ">= 1.8", two)
    if two is not None:
        print(f"sweep: {two['scenario']} ({two['overrides']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
