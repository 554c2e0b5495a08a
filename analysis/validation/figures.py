"""Figure pieces of the validation cases: simulated bands, theory curves, axes.

Figures become PNG bytes through `analysis.render.png_bytes`, the one rendering path of both
reports; `report.py` writes them to `figures/<case>.png` and embeds them in the HTML page.
"""

from __future__ import annotations

import numpy as np

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
GS_AXIS = "Gini–Simpson diversity of corpus topics"


def axes(n: int = 1):
    """A row of `n` panels whose x axis is the step; laid out tightly when rendered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(1, n, figsize=(5.2 * n, 3.6), squeeze=False, layout="tight")
    for ax in grid[0]:
        ax.set_xlabel("step (= generation)")
        ax.grid(alpha=0.3)
    return fig, list(grid[0])


def band(ax, values: np.ndarray, label: str, color: str) -> None:
    """Mean over replications (axis 0) with a 95% interval of the mean."""
    steps = np.arange(values.shape[1])
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0]) if values.shape[0] > 1 else 0
    ax.fill_between(steps, mean - 1.96 * se, mean + 1.96 * se, color=color, alpha=0.25, lw=0)
    ax.plot(steps, mean, color=color, lw=1.5, label=f"{label} (simulated)")


def theory(ax, values: np.ndarray, label: str, color: str) -> None:
    """A theory curve over steps 0..S, dashed."""
    ax.plot(np.arange(values.size), values, color=color, ls="--", lw=1.2, label=label)
