"""Cases of the web itself: a web without AI is stationary, and the crawl strategy's synthetic
share follows from the link structure."""

from __future__ import annotations

import mesa
import numpy as np

from analysis import render
from analysis.validation import checks as ck
from analysis.validation import figures as fg
from analysis.validation import theory as th
from analysis.validation.checks import CaseResult, Check, checkpoints, close, exact, greater
from analysis.validation.spec import CaseSpec, Context
from analysis.validation.trace import settings_line
from simulation import registry
from simulation.agents import WebCrawler
from simulation.content import zipf
from simulation.corpus import Documents
from simulation.model import WebEcosystem
from simulation.network import SiteNetwork
from simulation.policies import CrawlFilter

STATIONARY = (registry.TOPIC_HILL1, registry.TAIL_MASS, registry.JS_DIVERGENCE_ARCHIVE)
OLD_HILL1_LOSS = 3.9  # topic Hill-1 lost over 120 steps at AI share 0 by the old forgetting


def _mix_moved(model: WebEcosystem) -> float:
    """1 when the humans' interest mix differs in any entry from their step-0 mix, else 0."""
    humans = model.humans
    return float(not np.array_equal(humans.mix(), humans.reference))


def zero_ai(ctx: Context, spec: CaseSpec) -> CaseResult:
    (trace,) = ctx.runs(spec, probes={"mix_moved": _mix_moved})
    sc = trace.scenario
    steps = sc.steps
    checks: list[Check] = [
        exact(
            "replication-steps where the humans' interest mix ≠ their step-0 mix",
            int(trace.series["mix_moved"].sum()),
            0,
        )
    ]
    fig, axes = fg.axes(len(STATIONARY))
    power: dict[str, float] = {}
    for ax, color, metric in zip(axes, fg.COLORS, STATIONARY, strict=False):
        values = trace.of(metric)
        # Steps ≥ 1 are i.i.d. draws of one step's writing from a fixed population, so the
        # paired difference from step 1 has mean 0 exactly.
        for t in checkpoints(steps):
            if t > 1:
                label = f"{metric.label}: step {t} − step 1 (paired)"
                checks.append(close(label, values[:, t] - values[:, 1], 0.0))
        diff = values[:, steps] - values[:, 1]
        power[metric.name] = ck.SIGMAS * ck.mean_se(diff)[1]
        fg.band(ax, values[:, 1:], metric.label, color)
        ax.axhline(values[:, 1].mean(), color="k", ls="--", lw=1.0, label="step-1 mean")
        ax.set_ylabel(metric.title)
        ax.legend(fontsize=7)
    hill1 = trace.of(registry.TOPIC_HILL1)[:, 1].mean()
    hill_power = power[registry.TOPIC_HILL1.name]
    return spec.result(
        settings_line(sc) + f", {sc.humans.count} humans, forget_rate {sc.humans.forget_rate}, "
        f"copy_rate {sc.humans.copy_rate}",
        checks,
        render.png_bytes(fig),
        steps=steps,
        reps=sc.replications,
        at=", ".join(str(t) for t in checkpoints(steps) if t > 1),
        hill=f"{hill_power:.2f}",
        hill_rel=f"{hill_power / hill1:.1%}",
        old=OLD_HILL1_LOSS,
        tail=f"{power[registry.TAIL_MASS.name]:.3f}",
        js=f"{power[registry.JS_DIVERGENCE_ARCHIVE.name]:.1e}",
    )


def even_candidates(network: SiteNetwork, per_site: int) -> Documents:
    """`per_site` documents on every site; those on farms are synthetic (model-published)."""
    n = network.n_sites
    site = np.repeat(np.arange(n, dtype=np.int32), per_site)
    farm = network.farm_owner[site] >= 0
    parts = [
        Documents.new(
            np.zeros(int(mask.sum()), np.int64),
            np.zeros((int(mask.sum()), 1), np.int64),
            site[mask],
            1,
            ai_author=0 if synthetic else -1,
        )
        for synthetic, mask in ((False, ~farm), (True, farm))
    ]
    return Documents.concat(parts)


def expected_farm_share(inclusion: np.ndarray, per_site: int, budget: int, k: int) -> float:
    """Expected farm share of a crawl of `budget` documents over sites holding `per_site` each:
    the first k = budget // per_site sites in visit order are taken whole and the next one in
    part. `inclusion` (farms, k + 2) holds P(rank < j) of every farm, j = 0..k + 1."""
    whole = per_site * inclusion[:, k].sum()
    part = (budget - k * per_site) * (inclusion[:, k + 1] - inclusion[:, k]).sum()
    return float((whole + part) / budget)


def crawl_strategy(ctx: Context, spec: CaseSpec) -> CaseResult:
    sc = ctx.scenario(spec.scenario)
    world = mesa.Model(rng=np.random.default_rng(sc.seed))
    c = sc.content
    network = SiteNetwork(
        sc.web, sc.models.count, world.rng, topic_probs=zipf(c.n_topics, c.topic_zipf)
    )
    n = network.n_sites
    per_site = max(1, sc.web.docs_per_step // n)
    budget = sc.crawlers.budget
    k = budget // per_site
    if not 0 < k < n - 1:
        raise ValueError(f"crawl_strategy: the budget must cover 1..{n - 2} sites, not {k}")
    candidates = even_candidates(network, per_site)
    farms = np.flatnonzero(network.farm_owner >= 0)
    uniform = np.tile(np.arange(k + 2) / n, (farms.size, 1))  # a random order: P(rank < j) = j/n
    theory = {
        "random": expected_farm_share(uniform, per_site, budget, k),
        "pagerank": expected_farm_share(
            th.successive_inclusion(network.pagerank, farms, k + 1), per_site, budget, k
        ),
    }
    no_filter = CrawlFilter(sc.filtering, np.zeros(c.n_topics, bool), network.is_human_site())
    crawlers = {
        name: WebCrawler(
            world, sc.crawlers.model_copy(update={"strategy": name}), network, no_filter, None
        )
        for name in theory
    }
    reps = sc.replications
    shares = {
        name: np.array([crawler.collect(candidates).synthetic.mean() for _ in range(reps)])
        for name, crawler in crawlers.items()
    }
    checks = [
        close(f"{name}: synthetic share of the crawl", shares[name], theory[name])
        for name in theory
    ]
    checks.append(
        greater("synthetic share: random − pagerank", shares["random"], shares["pagerank"])
    )
    gap = theory["random"] - theory["pagerank"]
    detect = ck.SIGMAS * ck.mean_se(shares["pagerank"])[1] / gap
    fig, (ax,) = fg.axes(1)
    ax.set_xlabel("crawl strategy")
    for i, (name, color) in enumerate(zip(theory, fg.COLORS, strict=False)):
        mean, se = ck.mean_se(shares[name])
        ax.errorbar(
            [i], [mean], yerr=[1.96 * se], fmt="o", color=color, label=f"{name} (simulated)"
        )
        ax.plot([i - 0.2, i + 0.2], [theory[name]] * 2, "k--", lw=1.2)
    ax.set_xticks(range(len(theory)), list(theory))
    ax.set_ylabel("synthetic share of the crawl (dashed: exact)")
    ax.legend(fontsize=7)
    settings = (
        f"{n} sites ({farms.size} farms, farm_links {sc.web.farm_links}), {per_site} candidate "
        f"documents per site, budget {budget} ({k} sites), {reps} crawls per strategy, "
        f"seed {sc.seed}"
    )
    return spec.result(
        settings,
        checks,
        render.png_bytes(fig),
        farms=farms.size,
        n_sites=n,
        k=k,
        random=f"{theory['random']:.4f}",
        pagerank=f"{theory['pagerank']:.4f}",
        detect=f"{detect:.0%}",
    )
