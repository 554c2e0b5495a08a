"""Size, memory and time of a command, estimated from its scenario before anything runs.

`estimate` gives the peak resident memory, tokens, runs and time of `ouroboros run` or
`ouroboros sweep`; `check_budget` refuses a command above the memory available or the work
bounds (one clear line naming the keys that drive the cost) unless `--force`.

How the estimate is made. It reads sizes only (Python ints and floats, no numpy: ~80 ms of
`ouroboros check`'s start; the one numerical step is a fixed 64 × 64 × 16 quadrature, ~3 ms per
distinct set of sizes), so `steps=10**12` or a 10^6-point grid are judged in milliseconds to
seconds (≤ 512 design points are costed). The peak resident memory of one run is
`BASE + max(build, run)`: `build` is p*'s construction (~100 bytes per topic-word cell: dense
draws, CSR and alias-table temporaries); `run` is what lives while stepping: p* kept (dense,
CSR, alias table: ~30 B/cell), per model its pool counts (12 B per (topic, word) entry) or
pooled documents (subsample) and its fitted CSR with a guide table (38 B/entry) or an alias
table (dense fits: 10 B/cell), the corpus blocks kept (archive, crawl interval and windows, one
concatenated copy; all blocks twice under `scope: all`), per-step and per-crawl temporaries
(~30 B/token sampled), humans (~36 B per interest slot), the networkx graph (~1 KB per link)
and the metric rows. Pool entries are the expected number of distinct (topic, word) cells in
the tokens a model trains on, drawn from p*: Zipf topics, a Zipf (or wordfreq-shaped) base
vocabulary with log-normal topic boosts, summed over rank bins and Gauss–Hermite nodes; it is
~1.3× the measured count (synthetic text is more concentrated than p*). Topics a fit never saw
get the marginal vocabulary, counted as well. The coefficients were fitted to the peak RSS
(`ru_maxrss`, a fresh process per point, as `ouroboros run` runs) of 19 scenarios from tiny to
`benchmarks/scenarios/large.yaml` (`benchmarks/budget_calibration.py`); the estimate is
within 1.0–1.2× of every measured peak (tests/test_budget.py allows 0.9–1.5×). Time follows the
same sizes with throughputs measured on the 2-core reference machine (~10^7 tokens/s); it is
within a factor of 2.5 of measured times, enough for a bound meant to stop days-long mistakes.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import mul
from pathlib import Path
from typing import Any

from simulation import dotted
from simulation.scenario import Scenario, ScenarioError
from simulation.twins import simulations_per_run

MiB, GiB = 2**20, 2**30

# Work bounds, in token-equivalents (estimated seconds × TOKENS_PER_SECOND); `--force` overrides.
MAX_RUN_WORK = 2e11  # one run: ~2 h on the reference machine
MAX_TOTAL_WORK = 1e13  # all runs of a sweep (or replications): ~10 days of one core
MAX_RUNS = 100_000  # runs of one command (a sweep writes two part files per run)
MEMORY_SHARE = 0.8  # of MemAvailable

# Memory coefficients (bytes), fitted to measurements (module docstring).
BASE = 240 * MiB  # interpreter, numpy, scipy, pandas, networkx, mesa, pydantic
CELL_BUILD = 100  # per topic-word cell while p* is built
CELL_KEEP = 30  # per cell afterwards: dense p*, its CSR and alias table
POOL_ENTRY = 12  # float64 count + int32 column
FIT_ENTRY = 30  # word_probs_ CSR (12) + guide table (cols 2, edge 8, 4 guide slots 8)
ALIAS_CELL = 10  # a dense fit: prob 8 + alias 2 (uint16 columns)
NUCLEUS_KEEP = 0.8  # share of a pool's entries a nucleus (top_p < 1) keeps (measured ~0.7)
FIT_TEMP = 60  # per entry of the one fit in progress: normalise, nucleus, guide build
DOC_COLUMNS = 24  # topic, site, author, step (4 each), ai_author 2, flags 2, ai_fraction 4
SAMPLE_TEMP = 30  # per token sampled in a step: uniforms, indices, masks
COUNT_TEMP = 12  # per token counted in a crawl: keys and their sorted copy
SLOT = 36  # per human interest slot: topic, weight, forgetting draws
HUMAN = 48  # per human: assist, site, assistant, copy draws
LINK = 1000  # per link: undirected and directed networkx graphs, CSR adjacency and reading
SITE = 600  # per site: node dicts, PageRank, per-site counts
STEP_ROW = 1000  # per step: DataCollector row and metric frame
# Time coefficients (seconds), the reference machine (2 shared cores), ~1.3× the fitted ones.
TOKENS_PER_SECOND = 2.5e7  # tokens sampled and counted
START_SECONDS = 0.4
CELL_SECONDS = 2.5e-7  # per cell of p*
LINK_SECONDS = 1e-5  # building the graph and its PageRank
STEP_SECONDS = 1e-3  # per step, model, 20,000 interest slots or 10,000 sites
COUNT_SECONDS = 3e-8  # per token a crawler counts
FIT_SECONDS = 1e-7  # per entry of a pool and a fit
DENSE_SECONDS = 1e-8  # per cell of a smoothed (dense) fit
WORDFREQ_SLOPES = ((1.0, 0.95), (1000.0, 1.3), (10000.0, 1.8))  # log-log slopes by rank
# The 16-point Gauss–Hermite rule of a standard normal (numpy.polynomial.hermite_e.hermegauss(16),
# weights divided by their sum), symmetric about 0: its nodes and weights above 0.
# fmt: off
_UPPER_NODES = (0.3867606045005574, 1.1638291005549648, 1.9519803457163334, 2.7602450476307014,
                3.6008736241715487, 4.492955302520011, 5.472225705949343, 6.630878198393129)
_UPPER_WEIGHTS = (0.286568521238012, 0.1583383727509497, 0.04728475235401406, 0.007266937601184749,
                  0.0005259849265739087, 1.530003216248732e-05, 1.309473216286817e-07,
                  1.4978147231618412e-10)
# fmt: on
_NODES = tuple(-x for x in reversed(_UPPER_NODES)) + _UPPER_NODES
_WEIGHTS = tuple(reversed(_UPPER_WEIGHTS)) + _UPPER_WEIGHTS
Bins = tuple[float, ...]  # one value per rank bin

# -------------------------------------------------------------------------------- estimate


@dataclass(frozen=True)
class Estimate:
    """What a command will need: memory on this machine, tokens, runs and time."""

    peak_bytes: int  # peak resident memory on this machine (concurrent runs and coordinator)
    tokens: int  # tokens sampled by the largest run (archive, held-out documents, every step)
    runs: int  # runs the command makes
    run_bytes: int  # peak resident memory of the largest run
    seconds: float  # time of the largest run on one core of the reference machine
    work: float  # token-equivalents of all runs (estimated seconds × TOKENS_PER_SECOND)
    output_bytes: int  # size of the results on disk (an upper bound)
    terms: tuple[tuple[str, int], ...] = ()  # largest memory terms of the largest run

    def describe(self) -> str:
        """One line: peak memory, tokens, runs and time."""
        runs = f"{self.runs} run" + ("s" if self.runs != 1 else "")
        return (
            f"estimated peak memory {size_text(self.peak_bytes)}, {self.tokens / 1e9:.3g} billion "
            f"tokens per run, {runs}, about {_duration(self.seconds)} per run on one core"
        )


def size_text(n: float) -> str:
    """Bytes as MiB or GiB."""
    return f"{n / GiB:,.1f} GiB" if n >= GiB else f"{n / MiB:,.0f} MiB"


def _duration(seconds: float) -> str:
    for unit, width in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= width:
            return f"{seconds / width:.3g} {unit}"
    return f"{seconds:.2g} s"


def _num(cfg: dict[str, Any], key: str, default: float) -> float:
    """A numeric setting of a plain scenario (bools, strings and NaN read as `default`)."""
    value = dotted.get(cfg, key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return float(default)
    return float(min(max(value, -1e300), 1e300))


@lru_cache(maxsize=256)
def _ranks(n: float, slopes: tuple[tuple[float, float], ...]) -> tuple[Bins, Bins]:
    """Ranks 1..n of a piecewise power law in ≤ 64 geometric bins: (ranks per bin, p of each);
    the edges are `np.unique(np.round(np.geomspace(1, n + 1, 64)))` (tests/test_startup.py)."""
    stop = max(n, 1.0) + 1.0
    step = math.log10(stop) / 63
    grid = [1.0, *(round(10.0 ** (i * step)) for i in range(1, 63)), round(stop)]
    edges = [float(edge) for i, edge in enumerate(grid) if i == 0 or edge > grid[i - 1]]
    count = tuple(high - low for low, high in itertools.pairwise(edges))
    mids = [math.sqrt(low * (high - 1.0)) for low, high in itertools.pairwise(edges)]
    log_f = [0.0] * len(mids)
    for i, (start, slope) in enumerate(slopes):
        end = slopes[i + 1][0] if i + 1 < len(slopes) else math.inf
        for j, mid in enumerate(mids):
            log_f[j] -= slope * (math.log(min(max(mid, start), end)) - math.log(start))
    f = [math.exp(x) for x in log_f]
    total = math.sumprod(count, f)
    return count, tuple(x / total for x in f)


@lru_cache(maxsize=4096)
def _support(
    k: float, v: float, topic_zipf: float, words: tuple, sigma: float, length: float, docs: float
) -> tuple[float, float, float, Bins, Bins, Bins]:
    """Expected support of `docs` documents of `length` words drawn from p*: distinct cells,
    empty topics, distinct words, and per topic bin (ranks, tokens, distinct words); a cell is
    seen with probability 1 − exp(−tokens · p_topic · p_word · boost), the boost log-normal."""
    topic_n, topic_p = _ranks(k, ((1.0, topic_zipf),))
    word_n, word_p = _ranks(v, words)
    tokens = docs * length
    boost = [math.exp(sigma * x - sigma**2 / 2) for x in _NODES]
    rates = [p * b for p in word_p for b in boost]  # per (word bin, node), word bins outer
    weights = [n * w for n in word_n for w in _WEIGHTS]
    per_topic = tuple(
        -math.sumprod(weights, map(math.expm1, map(mul, repeat(-tokens * p), rates)))
        for p in topic_p
    )
    empty = math.sumprod(topic_n, [math.exp(-docs * p) for p in topic_p])
    distinct_words = -math.sumprod(word_n, [math.expm1(-tokens * p) for p in word_p])
    topic_tokens = tuple(tokens * p for p in topic_p)
    return math.sumprod(topic_n, per_topic), empty, distinct_words, topic_n, topic_tokens, per_topic


def _run(cfg: dict[str, Any]) -> tuple[float, float, float, float, dict[str, float]]:
    """One run of a plain scenario: (peak bytes, tokens, seconds, output bytes, memory terms)."""
    g = lambda key, default=1.0: _num(cfg, key, default)  # noqa: E731
    k, v, length = g("content.n_topics", 200), g("content.n_words", 5000), g("content.doc_length")
    steps, docs, archive = g("steps"), g("web.docs_per_step"), g("web.archive_docs")
    sites, links = g("web.n_sites", 1000), g("web.links_per_site", 3)
    humans, slots, models = g("humans.count"), g("humans.interests"), g("models.count")
    every, budget = g("models.retrain_every"), g("crawlers.budget")
    smoothing = g("models.smoothing")
    top_p, capacity, window = g("models.top_p", 0.95), g("models.capacity", v), g("models.window")
    regime, scope = dotted.get(cfg, "models.regime", ""), dotted.get(cfg, "crawlers.scope", "")
    windows = max(g("metrics.window"), g("humans.reading_window"))
    cells, wide = k * v, v > 65536
    doc = DOC_COLUMNS + length * (4 if wide else 2)
    zipf = ((1.0, g("content.word_zipf")),)
    words = WORDFREQ_SLOPES if dotted.get(cfg, "content.vocabulary", "") == "wordfreq-en" else zipf
    shape = (k, v, g("content.topic_zipf", 1.1), words, g("content.topic_specificity"), length)
    # Documents per crawl (the first reads the archive), pooled over the run, and fitted on.
    crawls, first = math.floor(steps / every), min(budget, archive)
    later = min(budget, steps * docs + archive if scope == "all" else every * docs)
    pooled = first + crawls * later
    train = {"replace": max(first, later), "window": min(pooled, window * later)}.get(regime)
    if train is None:
        train = min(pooled, g("models.train_budget")) if regime == "subsample" else pooled

    def fitted(n_docs: float) -> float:  # entries of a fit (nucleus and empty topics included)
        seen, empty, distinct_words, topic_n, topic_tokens, per_topic = _support(*shape, n_docs)
        if smoothing <= 0:
            entries = seen * (NUCLEUS_KEEP if top_p < 1 else 1.0) + empty * distinct_words
        elif top_p >= 1 or g("models.temperature") != 1:
            entries = cells  # smoothed counts cover every cell
        else:  # the nucleus keeps top_p of each topic's mass: counts first, then smoothing
            pairs = zip(topic_tokens, per_topic, strict=True)
            extra = [
                (top_p * (t + smoothing * v) - t - smoothing * n) / smoothing for t, n in pairs
            ]
            kept = [n + min(max(e, 0.0), v - n) for e, n in zip(extra, per_topic, strict=True)]
            entries = math.sumprod(topic_n, kept)
        return float(min(entries, cells, k * capacity))

    fit = max(fitted(first), fitted(train))
    dense = fit >= 0.5 * cells  # `generative.sampler`: alias tables for dense fits
    table = (ALIAS_CELL + 2 * wide) * cells + 12 * fit if dense else FIT_ENTRY * fit
    pool = _support(*shape, train)[0] if regime != "subsample" else 0.0
    if regime == "window":
        pool += window * _support(*shape, later)[0]
    pool_docs = pooled * doc if regime == "subsample" else 0.0
    if scope == "all":  # every block, and one concatenation of them for the crawl
        corpus = 2 * (archive + steps * docs) * doc
    else:
        corpus = (archive + (every + windows + max(every, windows)) * docs) * doc
    step_temp = docs * (SAMPLE_TEMP * length + 2 * doc)
    crawl_temp = later * (2 * doc + COUNT_TEMP * length) + pool_docs
    fit_temp = (CELL_BUILD - CELL_KEEP) * cells if dense else (FIT_TEMP + POOL_ENTRY) * fit
    terms = {
        "content.n_topics × content.n_words (p*)": CELL_KEEP * cells,
        "models.count (tables and pools)": models * (POOL_ENTRY * pool + pool_docs + table),
        "web.docs_per_step × content.doc_length (corpus)": corpus
        + max(step_temp, crawl_temp + fit_temp),
        "humans.count × humans.interests": humans * (SLOT * slots + HUMAN),
        "web.n_sites × web.links_per_site (network)": sites * (LINK * links + SITE),
        "steps (metric rows)": steps * STEP_ROW,
    }
    build = CELL_BUILD * cells
    if build > sum(terms.values()):
        terms = {"content.n_topics × content.n_words (p*)": build}
    tokens = (archive + 500 + steps * docs) * length
    per_fit = COUNT_SECONDS * later * length + FIT_SECONDS * (pool + fit)
    per_fit += (smoothing > 0) * DENSE_SECONDS * cells + COUNT_SECONDS * pool_docs / doc * length
    seconds = (
        START_SECONDS
        + cells * CELL_SECONDS
        + sites * links * LINK_SECONDS
        + tokens / TOKENS_PER_SECOND
        + steps * STEP_SECONDS * (1 + models + humans * slots / 2e4 + sites / 1e4)
        + (crawls + 1) * models * per_fit
    )
    return BASE + sum(terms.values()), tokens, seconds, (steps + 1) * 200 + 6 * k * 64, terms


def _design(scenario: Scenario) -> tuple[int, list[dict[str, Any]], bool]:
    """Runs of the command, the plain scenarios that bound its runs, and whether those are
    every design point (so that the work can be summed rather than bounded)."""
    base = {**scenario.to_dict(), "sweep": None}
    sweep = scenario.sweep
    if sweep is None:
        return scenario.replications, [base], True
    factors = dict(sweep.factors)
    points = sweep.n_points()
    arms = dict(sweep.arms) or {scenario.name: {}}
    runs = len(arms) * points * scenario.replications

    def candidates(value: Any) -> list[Any]:
        if not isinstance(value, list):  # a Range: its ends
            return [getattr(value, "low", None), getattr(value, "high", None)]
        distinct = list({repr(x): x for x in value}.values())
        if len(distinct) <= 8:
            return distinct
        numbers = [x for x in distinct if isinstance(x, int | float) and not isinstance(x, bool)]
        return [min(numbers), max(numbers)] if numbers else distinct[:1]

    cands = {key: candidates(value) for key, value in factors.items()}
    exact = sweep.design == "grid" and all(
        len(c) == len(v) for c, v in zip(cands.values(), factors.values(), strict=True)
    )
    combos = math.prod(len(c) for c in cands.values()) * len(arms)
    configs = []
    for overrides in list(arms.values())[:64]:
        arm_base = dotted.updated(base, overrides)
        if combos <= 512:
            for values in itertools.product(*cands.values()):
                configs.append(dotted.updated(arm_base, dict(zip(cands, values, strict=True))))
        else:  # each factor at the value that costs most with the others at their base value
            exact = False
            for index in (0, 2):
                best = {
                    key: max(
                        c, key=lambda x, key=key: _run(dotted.updated(arm_base, {key: x}))[index]
                    )
                    for key, c in cands.items()
                }
                configs.append(dotted.updated(arm_base, best))
    return runs, configs, exact and len(arms) <= 64


def estimate(scenario: Scenario, *, workers: int = 1) -> Estimate:
    """Memory, tokens, runs and time of `ouroboros run` (all replications in one process) or,
    for a scenario with `sweep:`, of `ouroboros sweep` with `workers` runs at a time here."""
    runs, configs, exact = _design(scenario)
    costs = [_run(config) for config in configs]
    peak_run, _, _, _, terms = max(costs, key=lambda cost: cost[0])
    twins = simulations_per_run(scenario.counterfactuals)  # simulated one after another
    seconds = twins * max(cost[2] for cost in costs)
    total = twins * sum(c[2] for c in costs) * scenario.replications if exact else runs * seconds
    frames = twins * runs * max(cost[3] for cost in costs)  # results held, then concatenated
    if scenario.sweep is None:
        peak = peak_run + 2 * frames
    else:
        peak = max(BASE + max(workers, 1) * peak_run, BASE + 2 * frames)
    ordered = sorted(((key, int(value)) for key, value in terms.items()), key=lambda t: -t[1])
    return Estimate(
        peak_bytes=int(min(peak, 2**62)),
        tokens=int(min(max(cost[1] for cost in costs), 2**62)),
        runs=runs,
        run_bytes=int(min(peak_run, 2**62)),
        seconds=seconds,
        work=total * TOKENS_PER_SECOND,
        output_bytes=int(min(frames, 2**62)),
        terms=tuple(ordered[:3]),
    )


def available_memory() -> int:
    """Memory this process may still use: MemAvailable, or a smaller cgroup limit, or RAM."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
        root = Path("/sys/fs/cgroup")
        limit = (root / "memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            return 2**62
    return max(min(found), 0)


def check_budget(
    scenario: Scenario,
    *,
    force: bool,
    available_bytes: int | None = None,
    source: str,
    workers: int = 1,
) -> Estimate:
    """The estimate; `ScenarioError` if it exceeds the memory budget (default: 80% of
    `available_memory()`) or the work bounds, unless `force`."""
    est = estimate(scenario, workers=workers)
    if force:
        return est
    budget = available_bytes if available_bytes is not None else available_memory()
    budget = int(budget * MEMORY_SHARE) if available_bytes is None else budget
    fix = "reduce them, or pass --force to run anyway"
    problems = []
    if est.peak_bytes > budget:
        drivers = ", ".join(f"{key} {size_text(size)}" for key, size in est.terms[:2])
        parallel = f" with --workers {workers}" if scenario.sweep and workers > 1 else ""
        problems.append(
            f"{source}: needs about {size_text(est.peak_bytes)} of memory{parallel}, more than the "
            f"{size_text(budget)} available; one run's largest terms: {drivers}; {fix}"
        )
    sweep = "sweep.factors, sweep.samples, sweep.arms or replications"
    if est.runs > MAX_RUNS:
        problems.append(f"{source}: {est.runs:,} runs, more than {MAX_RUNS:,}; reduce {sweep}")
    if est.seconds * TOKENS_PER_SECOND > MAX_RUN_WORK:
        c = scenario
        problems.append(
            f"{source}: one run would take about {_duration(est.seconds)} (limit "
            f"{_duration(MAX_RUN_WORK / TOKENS_PER_SECOND)}): {est.tokens / 1e9:,.3g} billion "
            f"tokens from steps ({c.steps:,}) × web.docs_per_step ({c.web.docs_per_step:,}) × "
            f"content.doc_length ({c.content.doc_length}), with humans.count, web.n_sites and "
            f"content.n_topics × content.n_words; {fix}"
        )
    elif est.work > MAX_TOTAL_WORK:
        what = sweep if scenario.sweep else "replications"
        problems.append(
            f"{source}: {est.runs:,} runs would take about "
            f"{_duration(est.work / TOKENS_PER_SECOND)} of computing (limit "
            f"{_duration(MAX_TOTAL_WORK / TOKENS_PER_SECOND)}); reduce {what}, or pass --force"
        )
    if problems:
        raise ScenarioError(problems)
    return est
