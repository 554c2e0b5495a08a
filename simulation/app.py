"""The browser view: Mesa SolaraViz with matplotlib panels, served by `ouroboros viz SCENARIO`.

`ouroboros viz` validates the scenario, passes it in the environment (`OUROBOROS_VIZ_SCENARIO`,
`OUROBOROS_VIZ_SET`) and runs `solara run simulation.app` on 127.0.0.1 in production mode with
telemetry and version checks off (solara's development mode pings solara.dev from the page).
The controls are SolaraViz model parameters: Reset rebuilds the model from the scenario with the
controls applied, seeded like replication 0 of `ouroboros run`. Everything is drawn with
matplotlib on the server and the front end comes from solara-assets, so nothing is fetched from
a CDN (Altair/vega or solara.Markdown's KaTeX would be).
"""

from __future__ import annotations

import json
import os
import typing
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import solara
from matplotlib import colormaps, ticker
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter

from simulation import dotted, registry
from simulation.model import WebEcosystem
from simulation.network import SiteNetwork
from simulation.observation import topic_distributions
from simulation.runner import run_seed
from simulation.scenario import (
    Models,
    PointSchedule,
    Scenario,
    ScenarioError,
    Schedule,
    load,
    validate,
)

# Served over http on 127.0.0.1, solara warns on every page load that its session cookie falls
# back to SameSite=lax, which is what a local page wants.
warnings.filterwarnings("ignore", message="Cookies with samesite=none", category=UserWarning)

SCENARIO_ENV = "OUROBOROS_VIZ_SCENARIO"
OVERRIDES_ENV = "OUROBOROS_VIZ_SET"
DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"
MAX_DRAWN_SITES = 400
REGIMES: tuple[str, ...] = typing.get_args(Models.model_fields["regime"].annotation)

# The AI-share control is `web_ai_share`, not `ai_share`: that is the name of the metric column
# (the share scheduled at each step). Scheduled rates and the detector are special-cased below.
AI_SHARE_KEY = "web.ai_share"
DETECTOR_KEY = "filtering.detector"
# Control name -> the scenario key of a rate that may follow a schedule.
SCHEDULED_KEYS = {"web_ai_share": AI_SHARE_KEY, "label_rate": "filtering.provenance.label_rate"}
# Control name -> the scenario key it sets.
CONTROL_KEYS = {
    "human_reserve": "filtering.human_reserve",
    "copy_rate": "humans.copy_rate",
    "regime": "models.regime",
    "temperature": "models.temperature",
    "top_p": "models.top_p",
}


def viz_scenario() -> Scenario:
    """The scenario named by the environment (baseline when unset), with its `--set` overrides."""
    path = os.environ.get(SCENARIO_ENV) or str(DEFAULT_SCENARIO)
    return load(path, json.loads(os.environ.get(OVERRIDES_ENV) or "[]"))


def scheduled_end(rate: float | Schedule | PointSchedule) -> float:
    """What the control of a scheduled rate shows: a constant, a schedule's `end`, or the value
    of a point schedule's last point (the rate the run settles at)."""
    if isinstance(rate, PointSchedule):
        return list(rate.points.values())[-1]
    return rate.end if isinstance(rate, Schedule) else rate


def control_values(base: Scenario) -> dict[str, Any]:
    """The controls' starting values: the scenario's own (scheduled rates: `scheduled_end`)."""
    detector = base.filtering.detector
    data = base.to_dict()
    return {
        "web_ai_share": scheduled_end(base.web.ai_share),
        "tpr": detector.tpr if detector else 0.0,
        "fpr": detector.fpr if detector else 0.0,
        "label_rate": scheduled_end(base.filtering.provenance.label_rate),
        **{name: dotted.get(data, key) for name, key in CONTROL_KEYS.items()},
        "seed": str(base.seed),
    }


def with_controls(base: Scenario, **controls: Any) -> Scenario:
    """`base` with the given control values applied; None (or absent) keeps the scenario's value.

    The AI share and the label rate each set a constant, the end of a schedule (start and shape
    are kept), or the value of a point schedule's last point (the other points are kept). A
    scenario without a detector keeps none while TPR and FPR both stay 0 (which flags nothing).
    """
    values = {k: v for k, v in controls.items() if v is not None}
    unknown = set(values) - set(control_values(base))
    if unknown:
        raise ScenarioError([f"viz controls: unknown control(s) {sorted(unknown)}"])
    data = base.to_dict()
    changes = {CONTROL_KEYS[k]: values[k] for k in CONTROL_KEYS if k in values}
    if "seed" in values:
        text = str(values["seed"]).strip()
        if not text.isdigit():
            raise ScenarioError(
                [f"viz controls: seed must be a non-negative integer (got {text!r})"]
            )
        changes["seed"] = int(text)
    for name in SCHEDULED_KEYS.keys() & values.keys():
        key = SCHEDULED_KEYS[name]
        old, at = dotted.get(data, key), ()
        if isinstance(old, dict):
            at = ("points", list(old["points"])[-1]) if "points" in old else ("end",)
        changes[".".join((key, *at))] = float(values[name])
    if {"tpr", "fpr"} & values.keys():
        current = dotted.get(data, DETECTOR_KEY)
        detector = current or {"tpr": 0.0, "fpr": 0.0}
        detector = {**detector, **{k: float(values[k]) for k in ("tpr", "fpr") if k in values}}
        keep_none = current is None and detector == {"tpr": 0.0, "fpr": 0.0}
        changes[DETECTOR_KEY] = None if keep_none else detector
    return validate(dotted.updated(data, changes), "viz controls")


class VizEcosystem(WebEcosystem):
    """A WebEcosystem built from a scenario plus the page's controls (what SolaraViz resets)."""

    def __init__(
        self,
        base: Scenario,
        *,
        web_ai_share: float | None = None,
        tpr: float | None = None,
        fpr: float | None = None,
        label_rate: float | None = None,
        human_reserve: float | None = None,
        copy_rate: float | None = None,
        regime: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: str | int | None = None,
    ):
        config = with_controls(
            base,
            web_ai_share=web_ai_share,
            tpr=tpr,
            fpr=fpr,
            label_rate=label_rate,
            human_reserve=human_reserve,
            copy_rate=copy_rate,
            regime=regime,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        super().__init__(config, rng=run_seed(config.seed, 0, 0))


def control_labels(base: Scenario) -> dict[str, str]:
    """What each control is called on the page."""

    def rate(label: str, value: object) -> str:
        return label if isinstance(value, float) else f"{label} (end of schedule)"

    return {
        "web_ai_share": rate("AI share", base.web.ai_share),
        "tpr": "Detector TPR",
        "fpr": "Detector FPR",
        "label_rate": rate("Provenance label rate", base.filtering.provenance.label_rate),
        "human_reserve": "Human reserve",
        "copy_rate": "Copy rate",
        "regime": "Regime",
        "temperature": "Temperature",
        "top_p": "top_p",
        "seed": "Seed",
    }


def model_params(base: Scenario) -> dict[str, Any]:
    """SolaraViz model parameters: the fixed base scenario and one control per policy knob."""
    v, label = control_values(base), control_labels(base)
    rates = ("web_ai_share", "tpr", "fpr", "label_rate", "human_reserve", "copy_rate")
    return {
        "base": base,
        **{k: Slider(label[k], v[k], 0.0, 1.0, 0.01) for k in rates},
        "regime": {
            "type": "Select",
            "label": label["regime"],
            "value": v["regime"],
            "values": list(REGIMES),
        },
        "temperature": Slider(
            label["temperature"],
            v["temperature"],
            min(0.1, v["temperature"]),
            max(3.0, v["temperature"]),
            0.05,
        ),
        "top_p": Slider(label["top_p"], v["top_p"], min(0.05, v["top_p"]), 1.0, 0.01),
        "seed": {"type": "InputText", "label": label["seed"], "value": v["seed"]},
    }


@dataclass(frozen=True)
class SiteLayout:
    """Positions of the drawn sites (the best-connected ones) and the links among them."""

    sites: np.ndarray  # (n,) site ids drawn, ascending
    xy: np.ndarray  # (n, 2) positions
    segments: np.ndarray  # (links, 2, 2) line segments between drawn sites
    n_sites: int  # sites in the whole network


SHARE_CMAP = colormaps["viridis"].with_extremes(bad="0.85")  # grey: no documents in the window
_layouts: weakref.WeakKeyDictionary[SiteNetwork, SiteLayout] = weakref.WeakKeyDictionary()


def site_layout(network: SiteNetwork, max_sites: int = MAX_DRAWN_SITES) -> SiteLayout:
    """Spring layout of the linked core of the `max_sites` highest-degree sites, once per network.

    Sites of the sample that link to no other sampled site are left out: drawn, they would
    squeeze the core into a corner.
    """
    cached = _layouts.get(network)
    if cached is not None:
        return cached
    adj = network.adjacency
    degree = np.asarray(adj.sum(axis=0)).ravel() + np.asarray(adj.sum(axis=1)).ravel()
    top = network.graph.subgraph(np.argsort(-degree, kind="stable")[:max_sites].tolist())
    core = top.subgraph(max(nx.weakly_connected_components(top), key=len))
    sites = np.sort(np.fromiter(core.nodes, dtype=np.int64))
    pos = nx.spring_layout(core.to_undirected(), seed=0)
    xy = np.array([pos[s] for s in sites.tolist()]).reshape(-1, 2)
    links = adj[sites][:, sites].tocoo()
    layout = SiteLayout(sites, xy, np.stack([xy[links.row], xy[links.col]], axis=1), adj.shape[0])
    _layouts[network] = layout
    return layout


def model_written_share(model: WebEcosystem) -> np.ndarray:
    """Per site, the model-written share of its documents in the metrics window (NaN if none).

    A synthetic document counts 1, an AI-assisted human one its model-written word share; a
    site's share of synthetic documents alone would be 0 or 1 (farms publish all of them).
    """
    docs, n = model.recent, model.network.n_sites
    written = np.bincount(docs.site, minlength=n).astype(np.float64)
    ai = np.bincount(docs.site, weights=docs.ai_fraction, minlength=n)
    return np.divide(ai, written, out=np.full(n, np.nan), where=written > 0)


def network_figure(model: WebEcosystem) -> Figure:
    """The site network: colour = model-written share, size = documents published there."""
    layout = site_layout(model.network)
    share = model_written_share(model)[layout.sites]
    docs = model.corpus.docs_per_site[layout.sites].astype(np.float64)
    sizes = 6 + 140 * np.sqrt(docs / max(docs.max(), 1.0))
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    ax.add_collection(LineCollection(layout.segments, colors="0.8", linewidths=0.4, zorder=1))
    points = ax.scatter(
        *layout.xy.T,
        c=share,
        s=sizes,
        cmap=SHARE_CMAP,
        vmin=0.0,
        vmax=1.0,
        edgecolors="0.3",
        linewidths=0.3,
        zorder=2,
        plotnonfinite=True,
    )
    fig.colorbar(points, ax=ax, label="model-written share (recent window)")
    shown = len(layout.sites)
    sample = "" if shown == layout.n_sites else f", the {shown} best-linked of {layout.n_sites:,}"
    ax.set_title(f"Site network (size = documents{sample})", fontsize=10)
    ax.set_axis_off()
    return fig


def rank_frequency_figure(model: WebEcosystem) -> Figure:
    """Topic rank-frequency (Zipf) curves of reality, the recent corpus and the average model."""
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for name, probs in topic_distributions(model).items():
        freq = np.sort(probs[probs > 0])[::-1]
        ax.loglog(np.arange(1, len(freq) + 1), freq, label=f"{name} ({len(freq)} topics)")
    for axis in (ax.xaxis, ax.yaxis):  # plain decade labels, no minor ticks: 4x faster to draw
        axis.set_major_formatter(ticker.LogFormatter())
        axis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel("topic rank")
    ax.set_ylabel("share")
    ax.set_title(f"Rank-frequency at step {model.steps}", fontsize=10)
    ax.legend(loc="lower left")
    return fig


@solara.component
def NetworkPanel(model: WebEcosystem) -> None:
    """Solara panel for `network_figure`, redrawn after each step or reset."""
    update_counter.get()
    solara.FigureMatplotlib(network_figure(model), format="png", dependencies=[model, model.steps])


@solara.component
def RankFrequencyPanel(model: WebEcosystem) -> None:
    """Solara panel for `rank_frequency_figure`, redrawn after each step or reset."""
    update_counter.get()
    solara.FigureMatplotlib(
        rank_frequency_figure(model), format="png", dependencies=[model, model.steps]
    )


@solara.component
def ModelInUsePanel(model: WebEcosystem) -> None:
    """The running model's control values (the sliders only take effect on Reset).

    Plain Vuetify elements: solara.Markdown would load KaTeX, which solara-assets lacks.
    """
    update_counter.get()
    labels, values = control_labels(model.config), control_values(model.config)
    with solara.Column():
        solara.Text(
            f"Model in use (Reset applies the controls), step {model.steps} of "
            f"{model.config.steps}",
            style={"font-weight": "bold"},
        )
        with solara.v.SimpleTable(dense=True), solara.v.Html(tag="tbody"):
            for key, label in labels.items():
                with solara.v.Html(tag="tr"):
                    solara.v.Html(tag="td", children=[label])
                    solara.v.Html(tag="td", children=[str(values[key])])


# The two time-series panels: registry view -> panel title.
PLOT_PANELS = {
    "viz_diversity": "Topic diversity of the corpus window",
    "viz_shares": "Tail survival and synthetic shares",
}


def titled(metrics: tuple[registry.Metric, ...], title: str):
    """Mesa's post_process hook for a plot of `metrics`: metric titles in the legend, a title."""

    def post_process(ax) -> None:
        for line, metric in zip(ax.get_lines(), metrics, strict=True):
            line.set_label(metric.title)
        ax.legend(loc="best", fontsize=8)
        ax.set_title(title, fontsize=10)

    return post_process


def plot_panel(view: registry.View, title: str):
    """Mesa's plot component for the metrics of a registry view."""
    metrics = registry.shown_in(view)
    return make_plot_component(
        [m.name for m in metrics], post_process=titled(metrics, title), backend="matplotlib"
    )


def components() -> list:
    """The panels: network, the registry views as time series, rank-frequency, controls."""
    plots = [plot_panel(view, title) for view, title in PLOT_PANELS.items()]
    return [NetworkPanel, *plots, RankFrequencyPanel, ModelInUsePanel]


def dashboard(model: VizEcosystem | solara.Reactive[VizEcosystem], base: Scenario):
    """The SolaraViz element for `model`, with controls starting at `base`'s values."""
    return SolaraViz(
        model,
        components=components(),
        model_params=model_params(base),
        name=f"Ouroboros: {base.name}",
    )


@solara.component
def Page() -> None:
    """One model per browser session, built from the scenario `ouroboros viz` was given."""
    base = solara.use_memo(viz_scenario, [])
    model = solara.use_memo(lambda: VizEcosystem(base), [base])
    dashboard(model, base)


page = Page()
