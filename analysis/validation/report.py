"""The validation report: `validation.md`, a self-contained `validation.html`, `figures/*.png`.

Both pages are rendered from templates (`validation.md.j2`, `validation.html.j2`, which
extends the shared `base.html.j2`) through `analysis.render`, so every text in the HTML page
is autoescaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis import render
from analysis.render import EmbeddedFigure
from analysis.validation import checks as ck
from analysis.validation.checks import CaseResult
from simulation.files import atomic_write_bytes

TITLE = "Ouroboros validation against the literature"
CAPTION = "{title}: simulated means with 95% intervals of the mean; dashed lines: theory."


def figures(results: list[CaseResult]) -> dict[str, EmbeddedFigure]:
    """Each case's figure, named after the case (`figures/<key>.png`)."""
    return {r.key: EmbeddedFigure(r.key, CAPTION.format(title=r.title), r.figure) for r in results}


def context(results: list[CaseResult], quick: bool, overrides: list[str]) -> dict[str, Any]:
    """Everything the two templates render."""
    return {
        "title": TITLE,
        "results": results,
        "figures": figures(results),
        "quick": quick,
        "overrides": list(overrides),
        "sigmas": ck.SIGMAS,
    }


def write_report(
    results: list[CaseResult],
    out_dir: Path,
    quick: bool = False,
    overrides: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write `validation.md`, `validation.html` and `figures/*.png` into `out_dir`."""
    out_dir = Path(out_dir)
    values = context(results, quick, list(overrides or []))
    for figure in values["figures"].values():
        atomic_write_bytes(out_dir / figure.file, figure.png)
    md_path = render.render("validation.md.j2", out_dir / "validation.md", **values)
    html_path = render.render("validation.html.j2", out_dir / "validation.html", **values)
    return html_path, md_path
