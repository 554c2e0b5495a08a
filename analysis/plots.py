"""Matplotlib figures for reports: fan charts, rank-frequency, tipping curves, sensitivity bars.

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


def rank_frequency(curves: dict[str, dict[str, dict[str, np.ndarray]]]) -> Figure:
    """Rows = groups, columns = moments (e.g. start, end); lines = reality, corpus, models.

    `curves[group][moment][source]` is a share per rank, largest first.
    """
    groups = list(curves)
    moments = list(next(iter(curves.values())))
    fig, axes = plt.subplots(
        len(groups),
        len(moments),
        figsize=(4.0 * len(moments), 2.6 * len(groups)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for row, group in enumerate(groups):
        for col, moment in enumerate(moments):
            ax = axes[row][col]
            for source, shares in curves[group][moment].items():
                ranks = np.arange(1, len(shares) + 1)
                keep = shares > 0
                ax.loglog(ranks[keep], shares[keep], **SOURCE_STYLE[source])
            ax.set_title(f"{group} — {moment}", fontsize=9)
            ax.grid(alpha=0.3, which="both")
        axes[row][0].set_ylabel("topic share")
    for ax in axes[-1]:
        ax.set_xlabel("topic rank")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def tipping_curves(
    panels: dict[str, pd.DataFrame], threshold: float, crossings: dict[str, dict[str, float]]
) -> Figure:
    """Relative metric against AI share per group, with the threshold and the crossings.

    `panels[title]` has columns group, x, low, median, high; `crossings[title][group]` the
    estimated tipping point (NaN where the median never crosses).
    """
    fig = fan_chart(panels, "relative to pre-AI value", "AI share")
    palette = colours(list(dict.fromkeys(g for f in panels.values() for g in f["group"])))
    for ax, title in zip(fig.axes, panels, strict=True):
        ax.axhline(threshold, color="grey", ls="--", lw=1)
        for group, x in crossings[title].items():
            if np.isfinite(x):
                ax.axvline(x, color=palette[group], ls=":", lw=1.2)
    return fig


def sensitivity_bars(table: pd.DataFrame, value: str, error: str, title: str) -> Figure:
    """Horizontal bars of a sensitivity index with its confidence half-width."""
    ordered = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.45 * len(table) + 1.2))
    ax.barh(ordered["factor"], ordered[value], xerr=ordered[error], color="tab:purple", alpha=0.8)
    ax.set_xlabel(value)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
