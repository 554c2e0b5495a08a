"""Matplotlib figures for reports: heatmaps, fan charts, rank-frequency, tipping curves,
sensitivity bars.

Every function returns a `Figure`; `analysis.render.save_figure` writes and embeds it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SOURCE_STYLE = {
    "reality": {"color": "black", "lw": 2.0, "label": "reality (p*)"},
    "corpus": {"color": "tab:blue", "lw": 1.5, "label": "web corpus"},
    "models": {"color": "tab:red", "lw": 1.5, "label": "models"},
}


def colours(groups: list[str]) -> dict[str, str]:
    """A stable colour per group (policy arm)."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {g: cycle[i % len(cycle)] for i, g in enumerate(groups)}


def fan_chart(panels: dict[str, pd.DataFrame], ylabel: str, xlabel: str) -> Figure:
    """One panel per title; in each, a median line and 5–95% band per group.

    Each frame has columns group, x, low, median, high (see `analysis.stats.fan`).
    """
    groups = list(dict.fromkeys(g for f in panels.values() for g in f["group"]))
    palette = colours(groups)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.4), sharey=True, squeeze=False
    )
    for ax, (title, frame) in zip(axes[0], panels.items(), strict=True):
        for group, band in frame.groupby("group", sort=False):
            ax.fill_between(band["x"], band["low"], band["high"], color=palette[group], alpha=0.18)
            ax.plot(band["x"], band["median"], color=palette[group], lw=1.8, label=group)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def rank_frequency(panels: dict[str, dict[str, np.ndarray]], columns: int = 3) -> Figure:
    """One log-log panel per title (e.g. the shared start, then each policy's end); lines are
    reality, corpus and models. `panels[title][source]` is a share per rank, largest first."""
    rows = -(-len(panels) // columns)
    cols = min(columns, len(panels))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.0 * cols, 2.8 * rows), sharex=True, sharey=True, squeeze=False
    )
    for ax, (title, curves) in zip(axes.flat, panels.items(), strict=False):
        for source, shares in curves.items():
            ranks = np.arange(1, len(shares) + 1)
            keep = shares > 0
            ax.loglog(ranks[keep], shares[keep], **SOURCE_STYLE[source])
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("topic share")
    for ax in axes[-1]:
        ax.set_xlabel("topic rank")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def heatmaps(
    panels: dict[str, pd.DataFrame], threshold: float, xlabel: str, scale_label: str
) -> Figure:
    """One heatmap per title: rows policies, columns AI shares, cells the median ratio to the
    reference (annotated as a percentage, bold and boxed where below `threshold`).

    Colours are centred on the threshold: red below it, green at and above 1.
    """
    from matplotlib.colors import TwoSlopeNorm

    values = np.concatenate([f.to_numpy(dtype=float).ravel() for f in panels.values()])
    finite = values[np.isfinite(values)]
    low = min(threshold - 0.1, float(finite.min()) if finite.size else threshold)
    high = max(1.05, float(finite.max()) if finite.size else 1.05)
    norm = TwoSlopeNorm(vcenter=threshold, vmin=low, vmax=high)
    first = next(iter(panels.values()))
    width = 0.9 + 0.55 * first.shape[1]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(width * len(panels) + 1.6, 0.32 * first.shape[0] + 1.2),
        sharey=True,
        squeeze=False,
    )
    image = None
    for ax, (title, frame) in zip(axes[0], panels.items(), strict=True):
        grid = frame.to_numpy(dtype=float)
        image = ax.imshow(grid, cmap="RdYlGn", norm=norm, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            text = "—" if not np.isfinite(v) else f"{100 * v:.0f}%"
            weight = "bold" if np.isfinite(v) and v < threshold else "normal"
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5, fontweight=weight)
        ax.set_xticks(range(grid.shape[1]), [f"{c:g}" for c in frame.columns], fontsize=8)
        ax.set_yticks(range(grid.shape[0]), [str(r) for r in frame.index], fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0][0].set_ylabel("policy", fontsize=8)
    bar = fig.colorbar(image, ax=axes[0].tolist(), shrink=0.95, pad=0.02)
    bar.set_label(scale_label, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    bar.ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    bar.ax.axhline(threshold, color="black", lw=1)
    return fig


def tipping_curves(
    panels: dict[str, pd.DataFrame],
    threshold: float,
    crossings: dict[str, dict[str, float]],
    ylabel: str,
    xlabel: str,
) -> Figure:
    """Relative metric against AI share per group, with the threshold and the crossings.

    `panels[title]` has columns group, x, low, median, high; `crossings[title][group]` the
    estimated tipping point (NaN where the median never crosses).
    """
    fig = fan_chart(panels, ylabel, xlabel)
    palette = colours(list(dict.fromkeys(g for f in panels.values() for g in f["group"])))
    for ax, title in zip(fig.axes, panels, strict=True):
        ax.axhline(threshold, color="grey", ls="--", lw=1)
        for group, x in crossings[title].items():
            if np.isfinite(x):
                ax.axvline(x, color=palette[group], ls=":", lw=1.2)
    return fig


def sensitivity_bars(
    table: pd.DataFrame, value: str, error: str, title: str, xlabel: str
) -> Figure:
    """Horizontal bars of a sensitivity index with its confidence half-width."""
    ordered = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.45 * len(table) + 1.2))
    ax.barh(ordered["factor"], ordered[value], xerr=ordered[error], color="tab:purple", alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def tradeoff_figure(
    trajectory: pd.DataFrame, chosen: int, title: str, min_coverage: float
) -> Figure:
    """Coverage against density of every box on a PRIM peeling trajectory; a dotted line at
    the smallest coverage a chosen box may have."""
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    dims = trajectory["res_dim"].astype(int)
    cmap = plt.get_cmap("viridis", max(dims.max(), 1) + 1)
    points = ax.scatter(
        trajectory["coverage"],
        trajectory["density"],
        c=dims,
        cmap=cmap,
        vmin=-0.5,
        vmax=dims.max() + 0.5,
        s=28,
        zorder=3,
    )
    ax.scatter(
        trajectory.loc[chosen, "coverage"],
        trajectory.loc[chosen, "density"],
        s=150,
        facecolors="none",
        edgecolors="crimson",
        linewidths=2,
        zorder=4,
        label="chosen box",
    )
    colorbar = fig.colorbar(points, ax=ax, ticks=range(dims.max() + 1))
    colorbar.set_label("restricted dimensions")
    ax.axvline(min_coverage, color="grey", ls=":", lw=1)
    ax.set_xlabel("coverage")
    ax.set_ylabel("density")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def envelopes(
    bands: dict[str, pd.DataFrame], arms: list[str], inner: tuple[float, float]
) -> Figure:
    """A row per metric (keyed by its axis label), a panel per arm: the median over time, the
    `inner` quantile band and the min–max envelope. Each frame is indexed by (arm, step) with
    columns 0, inner quantiles, 0.5 and 1."""
    palette = colours(arms)
    fig, axes = plt.subplots(
        len(bands),
        len(arms),
        figsize=(2.6 * len(arms) + 1, 2.5 * len(bands)),
        sharex=True,
        sharey="row",
        squeeze=False,
    )
    low, high = inner
    for r, (row, (label, band)) in enumerate(zip(axes, bands.items(), strict=True)):
        for ax, arm in zip(row, arms, strict=True):
            mine = band.loc[arm].sort_index()
            steps = mine.index.to_numpy()
            ax.fill_between(steps, mine[0.0], mine[1.0], color=palette[arm], alpha=0.15, lw=0)
            ax.fill_between(steps, mine[low], mine[high], color=palette[arm], alpha=0.3, lw=0)
            ax.plot(steps, mine[0.5], color=palette[arm], lw=1.6)
            ax.grid(alpha=0.3)
            ax.set_title(arm if r == 0 else "", fontsize=10)
        row[0].set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel("step (publishing round)")
    fig.tight_layout()
    return fig
