"""Rendering shared by the policy report and the validation report: templates and figures.

One Jinja2 environment (autoescaping every `.html.j2` template, so text from a scenario file can
never become markup), one page layout (`templates/base.html.j2`) and one way to turn a
matplotlib figure into a file under `figures/` plus the base64 text an HTML page embeds.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure

from simulation.files import atomic_write_bytes, atomic_write_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
DPI = 110


@dataclass(frozen=True)
class EmbeddedFigure:
    """A figure written to `figures/<name>.png`, with its caption and its PNG for embedding."""

    name: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def file(self) -> str:
        """Path relative to the report folder (for Markdown)."""
        return f"figures/{self.name}.png"

    @property
    def b64(self) -> str:
        """The PNG as base64 text (for a self-contained HTML page)."""
        return base64.b64encode(self.png).decode("ascii")


def png_bytes(fig: Figure) -> bytes:
    """Render a matplotlib figure to PNG bytes (no timestamp, so identical figures match)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def save_figure(fig: Figure, folder: Path, name: str, caption: str = "") -> EmbeddedFigure:
    """Write `fig` to `folder/figures/<name>.png` atomically and return it for embedding."""
    figure = EmbeddedFigure(name, caption, png_bytes(fig))
    atomic_write_bytes(Path(folder) / figure.file, figure.png)
    return figure


def number(value: Any, digits: int = 3) -> str:
    """Numbers as readers read them: `digits` significant digits, '—' for missing."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def cell(text: Any) -> str:
    """Text for a Markdown table cell: a '|' in it would end the cell."""
    return str(text).replace("|", "\\|")


def environment() -> Environment:
    """The Jinja2 environment of every report: autoescaped HTML, shared filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["cell"] = cell
    return env


def render(template: str, path: Path, **context: Any) -> Path:
    """Render `template` with `context` into `path`, atomically."""
    atomic_write_text(Path(path), environment().get_template(template).render(**context))
    return Path(path)
