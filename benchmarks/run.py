"""Benchmark the simulator against a bare numpy alias-table kernel, and measure its cost curve.

For each size (benchmarks/scenarios/<size>.yaml) a fresh process builds a WebEcosystem and runs
every step, reporting wall time, documents/s, tokens/s, agent-steps/s and peak memory; another
fresh process times the kernel: the fastest plain-numpy way to sample and count the same
tokens (Walker/Vose alias tables over K x V, two gathers per token, then `bincount`). The
ratio simulator/kernel is the price of everything the model does beyond drawing words.
The cost curve doubles docs/step, humans, sites and models in turn from the small scenario and
fits log-log slopes of the time per step. Results are appended to benchmarks/results.csv.

    python benchmarks/run.py                      # small, medium, large and the cost curve
    python benchmarks/run.py --size small --steps 3 --no-curve --results /tmp/r.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
sys.path.insert(0, str(ROOT))  # benchmark this checkout, whatever is installed
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
)


def peak_mib() -> float:
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_scenario(size: str, overrides: list[str]):
    """The benchmark scenario of a size, with `--set`-style overrides."""
    from simulation.scenario import load

    return load(HERE / "scenarios" / f"{size}.yaml", overrides)


def time_simulator(size: str, overrides: list[str]) -> dict[str, float]:
    """Build the model and run every step; seconds for construction and for the steps."""
    from simulation.memory import keep_freed_memory
    from simulation.runner import simulate

    keep_freed_memory()
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


def time_kernel(size: str, overrides: list[str]) -> dict[str, float]:
    """Sample and count the simulator's tokens with bare alias tables: the practical limit.

    Tables over a fixed random K x V distribution are built untimed; each step then draws
    docs/step topics and their words (two gathers per token into preallocated buffers) and
    counts topics and words with `bincount`.
    """
    from simulation.generative import AliasTable

    scenario = load_scenario(size, overrides)
    k, v = scenario.content.n_topics, scenario.content.n_words
    n, length = scenario.web.docs_per_step, scenario.content.doc_length
    rng = np.random.default_rng(0)
    words = AliasTable.build(rng.dirichlet(np.ones(v), size=k))
    topics = AliasTable.build(rng.dirichlet(np.ones(k))[None, :])
    index = np.int32 if k * v < 2**31 else np.int64
    u = np.empty((n, length))
    col = np.empty((n, length), dtype=index)
    flat = np.empty((n, length), dtype=index)
    keep_p = np.empty((n, length))
    keep = np.empty((n, length), dtype=bool)
    tokens = np.empty((n, length), dtype=words.alias.dtype)
    first_row = np.zeros(1, dtype=np.int64)
    start = time.perf_counter()
    for _ in range(scenario.steps):
        doc_topic = topics.sample(first_row, n, rng)[0]
        rng.random(out=u)
        u *= v
        np.copyto(col, u, casting="unsafe")  # truncation: the column
        u -= col  # what is left: the coin for keeping it
        np.minimum(col, v - 1, out=col)
        np.add(col, (doc_topic.astype(index) * v)[:, None], out=flat)
        np.take(words.prob, flat, out=keep_p)
        np.less(u, keep_p, out=keep)
        np.take(words.alias, flat, out=tokens)
        np.copyto(tokens, col, casting="unsafe", where=keep)
        np.bincount(doc_topic, minlength=k)
        np.bincount(tokens.ravel(), minlength=v)
    seconds = time.perf_counter() - start
    return {
        "kernel_s": seconds,
        "kernel_tokens_per_s": n * length * scenario.steps / seconds,
    }


def in_child(task: str, size: str, overrides: list[str]) -> dict[str, float]:
    """Run one timing in a fresh Python process, so that its peak memory is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", task, "--size", size]
    for item in overrides:
        cmd += ["--set", item]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"benchmark {task} {size} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def commit_label() -> str:
    """Short commit hash, marked `-dirty` when tracked files differ from it."""
    from simulation.files import git_commit

    git = git_commit(ROOT)
    if git is None:
        return "unknown"
    return git["commit"][:7] + ("-dirty" if git["dirty"] else "")


def benchmark_size(size: str, overrides: list[str], repeat: int) -> dict[str, float | str]:
    """Simulator and kernel for one size, alternated `repeat` times: the fastest of each.

    On a shared machine a run can only be slowed by other load, never sped up, so the best of
    a few runs is the least disturbed measurement of both sides of the ratio.
    """
    sims, kernels = [], []
    for _ in range(repeat):
        sims.append(in_child("simulator", size, overrides))
        kernels.append(in_child("kernel", size, overrides))
    sim = min(sims, key=lambda r: r["steps_s"])
    kernel = min(kernels, key=lambda r: r["kernel_s"])
    return {
        "size": size,
        "repeats": repeat,
        **sim,
        "peak_mib": max(r["peak_mib"] for r in sims),
        **kernel,
        "ratio": sim["steps_s"] / kernel["kernel_s"],
        "ratio_wall": sim["wall_s"] / kernel["kernel_s"],
    }


def append_results(rows: list[dict], path: Path) -> None:
    """Append rows (with timestamp and commit) to the results CSV, writing a header if new.

    A file written before a column was added is rewritten once with the current header.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    commit = commit_label()
    path.parent.mkdir(parents=True, exist_ok=True)
    old: list[dict] = []
    if path.exists():
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != RESULT_FIELDS:
                old = list(reader)
    mode = "w" if old or not path.exists() else "a"
    with path.open(mode, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        if mode == "w":
            writer.writeheader()
            writer.writerows(old)
        for row in rows:
            writer.writerow({"timestamp": stamp, "commit": commit, **_rounded(row)})


def _rounded(row: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


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
    print(
        "ratio = simulator step time / kernel time for the same tokens (lower is better); "
        f"each the fastest of {rows[0]['repeats']} runs"
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
            sim = in_child("simulator", "small", overrides)
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
        writer.writerows(_rounded(r) for r in rows)
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
    parser.add_argument("--worker", choices=("simulator", "kernel"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    overrides = args.set + ([f"steps={args.steps}"] if args.steps else [])
    if args.worker:
        timer = time_simulator if args.worker == "simulator" else time_kernel
        print(json.dumps(timer(args.size[0], overrides)))
        return 0
    rows = [benchmark_size(size, overrides, args.repeat) for size in args.size or SIZES]
    print_table(rows)
    append_results(rows, args.results)
    if not args.no_curve:
        curve = cost_curve(args.results.parent)
        print_curve(curve)
        print(f"cost curve: {args.results.parent / 'cost_curve.png'}")
    print(f"results appended to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
