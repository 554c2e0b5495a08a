"""The browser view's figures: one persistent matplotlib Figure per panel, updated in place.

Each panel builds its Figure, axes and artists once per model (the network layout, the axes,
the legend), and a step only changes data: marker colours and sizes, line data, a few texts.
Drawing one of these Figures to PNG costs a few tens of milliseconds; building a Figure from
scratch, laying out the network and autoscaling log axes cost ten times that (the profile is
in benchmarks/PROFILE.md, "Browser view"). Names, labels and units come from the metric
registry only.
"""

from __future__ import annotations

import io
import weakref
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from matplotlib import colormaps, ticker
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from simulation import registry
from simulation.model import WebEcosystem
from simulation.network import SiteNetwork
from simulation.observation import topic_distributions

MAX_DRAWN_SITES = 400
DPI = 90  # figures are ~490 x 340 px; the page shrinks them to narrower columns
FIGSIZE = (5.4, 3.8)
# zlib level 1: PNGs ~1.3x larger than level 6, encoded ~5x faster (loopback, so size is free).
PNG_OPTIONS = {"format": "png", "compress_level": 1}
SHARE_CMAP = colormaps["viridis"].with_extremes(bad="0.85")  # grey: no documents in the window
NO_DOCUMENTS = "no new documents"

# The two time-series panels: registry view -> panel title.
SERIES_TITLES: dict[registry.View, str] = {
    "viz_diversity": "Topic diversity of the corpus window, relative to step 0 (pre-AI)",
    "viz_shares": "Tail survival and synthetic shares",
}
RELATIVE_VIEWS = {"viz_diversity"}  # panels drawn as value / value at step 0


@dataclass(frozen=True)
class SiteLayout:
    """Positions of the drawn sites (the best-connected ones) and the links among them."""

    sites: np.ndarray  # (n,) site ids drawn, ascending
    xy: np.ndarray  # (n, 2) positions
    segments: np.ndarray  # (links, 2, 2) line segments between drawn sites
    n_sites: int  # sites in the whole network


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


class Panel:
    """A persistent Figure drawn by blitting: the static part once, the changing artists per step.

    Subclasses build `figure`, mark the artists a step changes as `animated` (matplotlib's
    `Figure.draw` skips those), list them in `dynamic`, and say in `limits` what the static
    part depends on (axis limits): the background is redrawn only when that changes.
    """

    figure: Figure
    dynamic: list[Artist]

    def __init__(self) -> None:
        self._background: Any = None
        self._drawn_limits: object = None

    def limits(self) -> object:
        """What the static background shows that a step may change (None: nothing)."""
        return None

    def png(self) -> bytes:
        """The figure as PNG bytes, as the page shows it."""
        canvas = self.figure.canvas
        if not isinstance(canvas, FigureCanvasAgg):
            canvas = FigureCanvasAgg(self.figure)
        if self._background is None or self.limits() != self._drawn_limits:
            canvas.draw()  # solves the layout once, then keeps it: re-solving costs most of a draw
            self.figure.set_layout_engine("none")
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._drawn_limits = self.limits()
        else:
            canvas.restore_region(self._background)
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, **PNG_OPTIONS)
        return buffer.getvalue()


def animated[T: Artist](artist: T) -> T:
    """`artist`, drawn per step on top of the cached background."""
    artist.set_animated(True)
    return artist


class NetworkPanel(Panel):
    """The site network: colour = model-written share, size = documents published there.

    The layout, links and colour bar are the background; a step recolours and resizes the sites.
    """

    def __init__(self, model: WebEcosystem):
        super().__init__()
        self.layout = layout = site_layout(model.network)
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        ax = self.figure.subplots()
        ax.add_collection(LineCollection(layout.segments, colors="0.8", linewidths=0.4, zorder=1))
        self.points = animated(
            ax.scatter(
                *layout.xy.T,
                c=np.full(len(layout.sites), np.nan),
                cmap=SHARE_CMAP,
                vmin=0.0,
                vmax=1.0,
                edgecolors="0.3",
                linewidths=0.3,
                zorder=2,
                plotnonfinite=True,
            )
        )
        self.figure.colorbar(self.points, ax=ax, label="model-written share (metrics window)")
        grey = Line2D([], [], ls="", marker="o", mfc=SHARE_CMAP.get_bad(), mec="0.3")
        ax.legend([grey], [NO_DOCUMENTS], loc="lower left", fontsize=7, framealpha=0.8)
        shown, total = len(layout.sites), layout.n_sites
        sample = "" if shown == total else f" (the {shown} best-linked of {total:,})"
        ax.set_title(f"Site network{sample}\nsize = documents published", fontsize=9)
        ax.set_axis_off()
        self.dynamic = [self.points]
        self.update(model)

    def update(self, model: WebEcosystem) -> None:
        """Colour and size the sites by the model's current state."""
        sites = self.layout.sites
        docs = model.corpus.docs_per_site[sites].astype(np.float64)
        self.points.set_array(model_written_share(model)[sites])
        self.points.set_sizes(6 + 140 * np.sqrt(docs / max(docs.max(), 1.0)))


def decade_below(value: float) -> float:
    """The power of ten at or below `value` (> 0): a y limit that rarely moves."""
    return float(10 ** np.floor(np.log10(value)))


class RankFrequencyPanel(Panel):
    """Topic rank-frequency (Zipf) curves of reality, the recent corpus and the average model."""

    def __init__(self, model: WebEcosystem):
        super().__init__()
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        self.ax = ax = self.figure.subplots()
        names = list(topic_distributions(model))
        self.lines = [animated(ax.loglog([1], [1], label=name)[0]) for name in names]
        ax.set_xlim(1, len(model.content.topic_probs))
        for axis in (ax.xaxis, ax.yaxis):  # plain decade labels, no minor ticks: 4x faster
            axis.set_major_formatter(ticker.LogFormatter())
            axis.set_minor_locator(ticker.NullLocator())
        ax.set_xlabel("topic rank (1 = most common)")
        ax.set_ylabel("share of documents or probability")
        ax.set_title("Topic rank-frequency: reality, corpus window, models", fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
        self.dynamic = list(self.lines)
        self.update(model)

    def limits(self) -> object:
        return self.ax.get_ylim()

    def update(self, model: WebEcosystem) -> None:
        """Curves and y range of the model's current state (a curve ends at its last topic)."""
        lowest = 1.0
        for line, probs in zip(self.lines, topic_distributions(model).values(), strict=True):
            freq = np.sort(probs[probs > 0])[::-1]
            line.set_data(np.arange(1, len(freq) + 1), freq)
            lowest = min(lowest, freq[-1])
        self.ax.set_ylim(decade_below(lowest), 1.0)


def scheduled_ai_share(model: WebEcosystem) -> np.ndarray:
    """The AI share of new documents at every step 0..steps, as the `ai_share` metric reads it
    (0 at step 0, the pre-AI archive)."""
    cfg = model.config
    return np.array([0.0] + [cfg.ai_share_at(t) for t in range(1, cfg.steps + 1)])


class SeriesPanel(Panel):
    """The metrics of a registry view against the step, drawn from step 0 to the end.

    The x range is the whole run, so lines grow to the right and the AI-share schedule (on the
    shares panel) shows what is coming; a dotted vertical line marks the current step. In a
    relative view each metric is divided by its value at step 0 (the pre-AI web), so Hill-0
    (hundreds of topics) and Hill-1/Hill-2 (tens) share an axis (the page lists the absolute
    values with their units next to the figure: text in a legend would cost most of a draw).
    """

    def __init__(self, model: WebEcosystem, view: registry.View):
        super().__init__()
        self.view = view
        self.metrics = registry.shown_in(view)
        self.relative = view in RELATIVE_VIEWS
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        self.ax = ax = self.figure.subplots()
        steps = model.config.steps
        self.lines = [
            animated(ax.plot([], [], marker=".", markersize=3, lw=1.2, label=m.label)[0])
            for m in self.metrics
        ]
        if self.relative:
            ax.axhline(1.0, color="0.8", lw=0.8)
            ax.set_ylabel("value / value at step 0")
        else:
            ax.plot(
                np.arange(steps + 1),
                scheduled_ai_share(model),
                color="0.45",
                ls="--",
                lw=1,
                label=f"{registry.AI_SHARE.label} (scheduled)",
            )
            ax.set_ylim(0.0, 1.02)
            ax.set_ylabel("share (0 to 1)")
        self.now = animated(ax.axvline(0, color="0.3", ls=":", lw=1))
        ax.set_xlim(0, max(steps, 1))
        ax.set_xlabel("step (month)")
        ax.set_title(SERIES_TITLES[view], fontsize=9)
        self.figure.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)
        self.dynamic = [*self.lines, self.now]
        self.update(model)

    def limits(self) -> object:
        return self.ax.get_ylim()

    def update(self, model: WebEcosystem) -> None:
        """Lines from step 0 to the current step."""
        columns = model.datacollector.model_vars
        x = np.arange(len(columns[self.metrics[0].name]))
        low, high = 1.0, 1.0
        for line, metric in zip(self.lines, self.metrics, strict=True):
            y = np.asarray(columns[metric.name], dtype=np.float64)
            if self.relative:
                y = y / y[0] if y[0] else np.full_like(y, np.nan)
                low = min(low, float(np.nanmin(y, initial=1.0)))
                high = max(high, float(np.nanmax(y, initial=1.0)))
            line.set_data(x, y)
        if self.relative:  # 0.75-1.25 widened in quarters: a loss shows, redraws are rare
            self.ax.set_ylim(min(0.75, np.floor(low * 4) / 4), max(1.25, np.ceil(high * 4) / 4))
        self.now.set_xdata([model.steps, model.steps])


def panels(model: WebEcosystem) -> list[Panel]:
    """Every panel of the page for `model`, in page order."""
    return [
        NetworkPanel(model),
        SeriesPanel(model, "viz_diversity"),
        SeriesPanel(model, "viz_shares"),
        RankFrequencyPanel(model),
    ]
