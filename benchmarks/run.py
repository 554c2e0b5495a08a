"""Benchmark the simulator against a bare numpy alias-table kernel, and measure its cost curve.

For each size (benchmarks/scenarios/<size>.yaml), alternately and each in a fresh process:

- steps: a process builds a WebEcosystem and runs every step, reporting construction and step
  time, documents/s, tokens/s, agent-steps/s and peak memory;
- whole run: `ouroboros run` of the same scenario, timed from process start until it exits with
  its results written, and its peak memory: first cold (it draws the world and keeps it on
  disk, simulation.world_cache), then warm (it loads that world), as a user's first and later
  runs of a scenario;
- kernel (benchmarks/kernel.py): the fastest plain-numpy way to sample and count the same
  tokens (Walker/Vose alias tables over K x V, two gathers per token, then `bincount`), timed
  both for its step loop and as a whole process (start, numpy, tables, steps, exit). It runs
  in small pages, as `ouroboros` does (simulation.memory.NUMPY_AT_START), and in numpy's huge
  pages, and the faster counts: huge pages speed up its gathers over a large table (large:
  37 M against 29 M tokens/s), small ones its first touch of memory (on a virtual machine
  whose host takes free memory back, benchmarks/PROFILE.md).

`ratio` (simulator steps / kernel loop) is the price of everything a step does beyond drawing
words (the simulator counts crawls, refits and looks draws up on the model threads,
simulation/threads.py; the kernel runs on one thread); `whole_ratio` (whole run / whole kernel
process) adds start-up, construction and writing the results: what a user waits for. The
cost curve doubles docs/step, humans, sites and models in turn from the small scenario and
fits log-log slopes of the time per step. Results are
appended to benchmarks/results.csv. The benchmark keeps its worlds in a temporary folder of its
own (`OUROBOROS_CACHE`), deleted at the end.

    python benchmarks/run.py                      # small, medium, large and the cost curve
    python benchmarks/run.py --size small --steps 3 --no-curve --results /tmp/r.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import HERE, OUROBOROS, append_rows, rounded, set_options, timed_process

from simulation.world_cache import CACHE_ENV

SIZES = ("small", "medium", "large")
CURVE_FACTORS = (1, 2, 4, 8)
CURVE_AXES = {
    "docs_per_step": "web.docs_per_step",
    "humans": "humans.count",
    "sites": "web.n_sites",
    "models": "models.count",
}
CURVE_STEPS = 12
RESULT_FIELDS = (
    "timestamp",
    "commit",
    "size",
    "repeats",
    "steps",
    "init_s",
    "steps_s",
    "wall_s",
    "docs_per_s",
    "tokens_per_s",
    "agent_steps_per_s",
    "peak_mib",
    "kernel_s",
    "kernel_tokens_per_s",
    "ratio",
    "ratio_wall",
    "whole_s",
    "whole_peak_mib",
    "kernel_whole_s",
    "whole_ratio",
    "whole_cold_s",
    "whole_cold_ratio",
)


def peak_mib() -> float:
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scenario_path(size: str) -> Path:
    """The benchmark scenario file of a size."""
    return HERE / "scenarios" / f"{size}.yaml"


def load_scenario(size: str, overrides: list[str]):
    """The benchmark scenario of a size, with `--set`-style overrides."""
    from simulation.scenario import load

    return load(scenario_path(size), overrides)


def time_simulator(size: str, overrides: list[str]) -> dict[str, float]:
    """Build the model and run every step; seconds for construction and for the steps."""
    from simulation.memory import keep_freed_memory, one_blas_thread
    from simulation.runner import simulate

    keep_freed_memory()
    one_blas_thread()  # as `ouroboros run`; numpy's other settings: benchlib.timed_process
    scenario = load_scenario(size, overrides)
    built = []  # when the model is built (the loop's step-0 callback)
    start = time.perf_counter()
    simulate(scenario, on_step=lambda model: built or built.append(time.perf_counter()))
    done = time.perf_counter()
    built = built[0]
    steps_s = done - built
    docs = scenario.web.docs_per_step * scenario.steps
    agents = scenario.humans.count + 2 * scenario.models.count
    return {
        "steps": scenario.steps,
        "init_s": built - start,
        "steps_s": steps_s,
        "wall_s": done - start,
        "docs_per_s": docs / steps_s,
        "tokens_per_s": docs * scenario.content.doc_length / steps_s,
        "agent_steps_per_s": agents * scenario.steps / steps_s,
        "peak_mib": peak_mib(),
    }


def simulator_steps(size: str, overrides: list[str]) -> dict[str, float]:
    """`time_simulator` in a fresh Python process, so that its peak memory is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", size]
    return timed_process(cmd + set_options(overrides), f"simulator {size}").last_json()


def simulator_whole(size: str, overrides: list[str]) -> dict[str, float]:
    """`ouroboros run` of a size from process start until it exits, results written."""
    with tempfile.TemporaryDirectory(prefix="ouroboros-bench-") as out:
        cmd = [str(OUROBOROS), "run", str(scenario_path(size)), "--out", out, "--quiet"]
        run = timed_process(cmd + set_options(overrides), f"ouroboros run {size}")
    return {"whole_s": run.wall_s, "whole_peak_mib": run.peak_mib}


KERNEL_PAGES = ({}, {"NUMPY_MADVISE_HUGEPAGE": "1"})  # small pages (NUMPY_AT_START), huge


def kernel_whole(size: str, overrides: list[str], env: dict[str, str]) -> dict[str, float]:
    """The kernel for a size's tokens in a fresh process with `env` set: its step loop, and
    start to exit."""
    scenario = load_scenario(size, overrides)
    shape = (scenario.content.n_topics, scenario.content.n_words)
    work = (scenario.web.docs_per_step, scenario.content.doc_length, scenario.steps)
    cmd = [sys.executable, str(HERE / "kernel.py"), *map(str, shape + work)]
    run = timed_process(cmd, f"kernel {size}", env)
    seconds = run.last_json()["kernel_s"]
    return {
        "kernel_s": seconds,
        "kernel_tokens_per_s": work[0] * work[1] * work[2] / seconds,
        "kernel_whole_s": run.wall_s,
    }


def benchmark_size(size: str, overrides: list[str], repeat: int) -> dict[str, float | str]:
    """Steps, whole run and kernel for one size, alternated `repeat` times: the best of each.

    On a shared machine a run can only be slowed by other load, never sped up, so the best of
    a few runs is the least disturbed measurement of both sides of each ratio. Peak memory is
    the largest seen: the budget a machine must have. The first whole run, cold, is the first
    process to ask for the size's world: it draws the world and keeps it on disk; the runs
    after it load it. The kernel runs in each of `KERNEL_PAGES` every time: its best of all.
    """
    sims, wholes, kernels = [], [], []
    cold = simulator_whole(size, overrides)
    for _ in range(repeat):
        sims.append(simulator_steps(size, overrides))
        wholes.append(simulator_whole(size, overrides))
        kernels += [kernel_whole(size, overrides, env) for env in KERNEL_PAGES]
    sim = min(sims, key=lambda r: r["steps_s"])
    whole_s = min(r["whole_s"] for r in wholes)
    kernel_s = min(r["kernel_s"] for r in kernels)
    kernel_whole_s = min(r["kernel_whole_s"] for r in kernels)
    return {
        "size": size,
        "repeats": repeat,
        **sim,
        "peak_mib": max(r["peak_mib"] for r in sims),
        "kernel_s": kernel_s,
        "kernel_tokens_per_s": max(r["kernel_tokens_per_s"] for r in kernels),
        "ratio": sim["steps_s"] / kernel_s,
        "ratio_wall": sim["wall_s"] / kernel_s,
        "whole_s": whole_s,
        "whole_peak_mib": max(r["whole_peak_mib"] for r in [cold, *wholes]),
        "kernel_whole_s": kernel_whole_s,
        "whole_ratio": whole_s / kernel_whole_s,
        "whole_cold_s": cold["whole_s"],
        "whole_cold_ratio": cold["whole_s"] / kernel_whole_s,
    }


def print_table(rows: list[dict]) -> None:
    """The benchmark table on stdout."""
    head = (
        f"{'size':<7}{'steps':>6}{'init s':>9}{'steps s':>9}{'docs/s':>11}{'tokens/s':>12}"
        f"{'agent-st/s':>12}{'peak MiB':>10}{'kernel tok/s':>14}{'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['size']:<7}{r['steps']:>6}{r['init_s']:>9.2f}{r['steps_s']:>9.2f}"
            f"{r['docs_per_s']:>11,.0f}{r['tokens_per_s']:>12,.0f}{r['agent_steps_per_s']:>12,.0f}"
            f"{r['peak_mib']:>10,.0f}{r['kernel_tokens_per_s']:>14,.0f}{r['ratio']:>7.2f}"
        )
    from simulation.threads import thread_count

    print(
        "ratio = simulator step time / kernel time for the same tokens (lower is better); "
        f"each the fastest of {rows[0]['repeats']} runs; the simulator on {thread_count()} "
        "thread(s) (OUROBOROS_THREADS=1 for one), the kernel on one, in small or huge pages"
    )
    head = (
        f"\n{'size':<7}{'whole s':>9}{'peak MiB':>10}{'kernel whole s':>16}{'whole ratio':>13}"
        f"{'cold s':>9}{'cold ratio':>12}"
    )
    print(head)
    print("-" * (len(head) - 1))
    for r in rows:
        print(
            f"{r['size']:<7}{r['whole_s']:>9.2f}{r['whole_peak_mib']:>10,.0f}"
            f"{r['kernel_whole_s']:>16.2f}{r['whole_ratio']:>13.2f}"
            f"{r['whole_cold_s']:>9.2f}{r['whole_cold_ratio']:>12.2f}"
        )
    print(
        "whole ratio = `ouroboros run`, process start to results written / kernel process, start "
        "(numpy, tables) to exit; each the fastest of the same runs, the world loaded from disk; "
        "cold: the first run, which draws the world and keeps it"
    )


def cost_curve(out_dir: Path) -> list[dict]:
    """Time per step as docs/step, humans, sites and models double from the small scenario."""
    from simulation import dotted

    base = load_scenario("small", []).to_dict()
    rows = []
    for axis, key in CURVE_AXES.items():
        value = dotted.get(base, key)
        for factor in CURVE_FACTORS:
            if factor == 1 and rows:
                rows.append({**rows[0], "axis": axis, "value": value})
                continue
            overrides = [f"{key}={value * factor}", f"steps={CURVE_STEPS}"]
            sim = simulator_steps("small", overrides)
            rows.append(
                {
                    "axis": axis,
                    "factor": factor,
                    "value": value * factor,
                    "step_s": sim["steps_s"] / sim["steps"],
                }
            )
    slopes = {
        axis: float(
            np.polyfit(
                np.log2([r["factor"] for r in rows if r["axis"] == axis]),
                np.log2([r["step_s"] for r in rows if r["axis"] == axis]),
                1,
            )[0]
        )
        for axis in CURVE_AXES
    }
    last = {  # the last doubling alone: fixed per-step costs no longer dominate
        axis: float(np.log2(pts[-1]["step_s"] / pts[-2]["step_s"]))
        for axis in CURVE_AXES
        if (pts := [r for r in rows if r["axis"] == axis])
    }
    for r in rows:
        r["slope"], r["slope_last"] = slopes[r["axis"]], last[r["axis"]]
    _write_curve(rows, out_dir)
    return rows


def _write_curve(rows: list[dict], out_dir: Path) -> None:
    """cost_curve.csv and cost_curve.png (log-log time per step against the scale factor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "cost_curve.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["axis", "factor", "value", "step_s", "slope", "slope_last"]
        )
        writer.writeheader()
        writer.writerows(rounded(r) for r in rows)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for axis in CURVE_AXES:
        pts = [r for r in rows if r["axis"] == axis]
        ax.plot(
            [r["factor"] for r in pts],
            [r["step_s"] * 1000 for r in pts],
            marker="o",
            label=f"{axis} (slope {pts[0]['slope']:.2f})",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("scale factor over the small scenario")
    ax.set_ylabel("time per step (ms)")
    ax.set_title("Ouroboros cost curve (log-log; slope 1 = linear)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "cost_curve.png", dpi=120)
    plt.close(fig)


def print_curve(rows: list[dict]) -> None:
    """The cost-curve table on stdout."""
    print(f"\n{'axis':<15}{'x1':>9}{'x2':>9}{'x4':>9}{'x8':>9}{'slope':>8}{'last':>7}  ms/step")
    for axis in CURVE_AXES:
        pts = [r for r in rows if r["axis"] == axis]
        cells = "".join(f"{r['step_s'] * 1000:>9.1f}" for r in pts)
        print(f"{axis:<15}{cells}{pts[0]['slope']:>8.2f}{pts[0]['slope_last']:>7.2f}")
    print("slope: log-log fit of time per step on scale (1 linear, <1 sub-linear); last: x4 to x8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", choices=SIZES, help="repeatable; default all")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, help="override the scenario's steps (quick runs)")
    parser.add_argument("--no-curve", action="store_true", help="skip the cost curve")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each side per size; the fastest counts"
    )
    parser.add_argument("--results", type=Path, default=HERE / "results.csv")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    overrides = args.set + ([f"steps={args.steps}"] if args.steps else [])
    if args.worker:
        print(json.dumps(time_simulator(args.size[0], overrides)))
        return 0
    with tempfile.TemporaryDirectory(prefix="ouroboros-bench-worlds-") as worlds:
        os.environ[CACHE_ENV] = worlds  # for every process it starts
        return benchmark(args, overrides)


def benchmark(args: argparse.Namespace, overrides: list[str]) -> int:
    """The benchmark `main` asked for: table, results CSV and cost curve."""
    rows = [benchmark_size(size, overrides, args.repeat) for size in args.size or SIZES]
    print_table(rows)
    append_rows(rows, args.results, RESULT_FIELDS)
    if not args.no_curve:
        curve = cost_curve(args.results.parent)
        print_curve(curve)
        print(f"cost curve: {args.results.parent / 'cost_curve.png'}")
    print(f"results appended to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
