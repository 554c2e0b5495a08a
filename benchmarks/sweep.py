"""Sweep throughput: the demo sweep on 1 and 2 workers, runs per hour and per-run overhead.

Runs `ouroboros sweep` the way `make demo` does (scenarios/ai_share_sweep.yaml with the
Makefile's `--set steps=24 --set replications=2`: 60 runs) once per worker count, alternately
and the fastest of `--repeat`, each timed from process start until it exits with the sweep
assembled. Per worker count it reports the runs, wall seconds, runs per hour, the mean seconds
of one run (the sweep's status.csv) and the per-run overhead: wall x workers / runs minus that
mean, i.e. what a run costs beyond simulating (start-up, pools, writing parts, assembling). The
speed-up from 1 to 2 workers is checked against issue 16's target (>= 1.8). Rows are appended
to benchmarks/sweep_results.csv.

    python benchmarks/sweep.py                                 # the demo sweep, ~2-5 minutes
    python benchmarks/sweep.py --set steps=12                  # quicker: shorter runs
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from benchlib import HERE, OUROBOROS, ROOT, append_rows, set_options, timed_process

DEMO_SCENARIO = ROOT / "scenarios" / "ai_share_sweep.yaml"
DEMO_SET = ("steps=24", "replications=2")  # the Makefile's DEMO_SWEEP
TARGET_SPEEDUP = 1.8
SLOW_S = 360  # a 1-worker sweep longer than this gets a hint to shorten it
RESULT_FIELDS = (
    "timestamp",
    "commit",
    "scenario",
    "overrides",
    "repeats",
    "workers",
    "runs",
    "wall_s",
    "runs_per_hour",
    "run_s",
    "overhead_s",
    "speedup",
)


def time_sweep(scenario: Path, overrides: list[str], workers: int) -> dict[str, float]:
    """One `ouroboros sweep` from process start to exit; its runs and their mean seconds."""
    with tempfile.TemporaryDirectory(prefix="ouroboros-bench-sweep-") as out:
        cmd = [str(OUROBOROS), "sweep", str(scenario), "--out", out, "--quiet"]
        cmd += ["--workers", str(workers), *set_options(overrides)]
        run = timed_process(cmd, f"sweep on {workers} worker(s)")
        (folder,) = Path(out).iterdir()
        seconds = run_seconds(folder)
    return {
        "workers": workers,
        "runs": len(seconds),
        "wall_s": run.wall_s,
        "runs_per_hour": len(seconds) / run.wall_s * 3600,
        "run_s": sum(seconds) / len(seconds),
        "overhead_s": run.wall_s * workers / len(seconds) - sum(seconds) / len(seconds),
    }


def run_seconds(folder: Path) -> list[float]:
    """Each run's simulation seconds, from a finished sweep folder's status.csv."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest["state"] != "complete":
        raise SystemExit(f"benchmark sweep: {folder} is {manifest['state']}, not complete")
    with (folder / "status.csv").open(newline="") as handle:
        return [float(row["seconds"]) for row in csv.DictReader(handle)]


def benchmark(
    scenario: Path, overrides: list[str], workers: list[int], repeat: int
) -> list[dict[str, float]]:
    """Each worker count `repeat` times, alternately; the fastest of each, with its speed-up
    over the first worker count."""
    runs = [[time_sweep(scenario, overrides, w) for w in workers] for _ in range(repeat)]
    best = [min(column, key=lambda r: r["wall_s"]) for column in zip(*runs, strict=True)]
    return [{**row, "speedup": best[0]["wall_s"] / row["wall_s"]} for row in best]


def print_table(rows: list[dict], repeat: int) -> None:
    """The sweep table, and the speed-up against its target."""
    head = f"{'workers':<8}{'runs':>6}{'wall s':>9}{'runs/h':>9}{'run s':>8}{'overhead s':>12}"
    print(head + f"{'speed-up':>10}")
    print("-" * (len(head) + 10))
    for r in rows:
        print(
            f"{r['workers']:<8}{r['runs']:>6}{r['wall_s']:>9.1f}{r['runs_per_hour']:>9,.0f}"
            f"{r['run_s']:>8.2f}{r['overhead_s']:>12.2f}{r['speedup']:>10.2f}"
        )
    print(
        "wall: process start to sweep assembled, the fastest of "
        f"{repeat}; run s: mean seconds of one run; overhead: wall x workers / runs - run s"
    )
    by_workers = {r["workers"]: r for r in rows}
    if 1 in by_workers and 2 in by_workers:
        speedup = by_workers[1]["wall_s"] / by_workers[2]["wall_s"]
        verdict = "met" if speedup >= TARGET_SPEEDUP else "not met"
        print(f"speed-up 1 -> 2 workers: {speedup:.2f} (target >= {TARGET_SPEEDUP}: {verdict})")
    if 1 in by_workers and by_workers[1]["wall_s"] > SLOW_S:
        print(
            f"note: the 1-worker sweep took {by_workers[1]['wall_s'] / 60:.1f} min; for a "
            "quicker check pass --set steps=12 (or --set replications=1)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEMO_SCENARIO, help="a sweep scenario")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override, after the demo's {' '.join(DEMO_SET)}",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="sweeps per worker count")
    parser.add_argument("--results", type=Path, default=HERE / "sweep_results.csv")
    args = parser.parse_args(argv)
    overrides = [*DEMO_SET, *args.set]
    rows = benchmark(args.scenario, overrides, args.workers, args.repeat)
    print_table(rows, args.repeat)
    context = {
        "scenario": args.scenario.name,
        "overrides": " ".join(overrides),
        "repeats": args.repeat,
    }
    append_rows([{**context, **row} for row in rows], args.results, RESULT_FIELDS)
    print(f"results appended to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
