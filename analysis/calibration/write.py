"""A fit's output folder: the fitted scenario, every point, and a readable account.

`<out>/<name>-fit-<UTC stamp>/` is staged and renamed into place (`simulation.files`), so it
appears complete or not at all, even if the process is killed while writing. It holds
`<name>-fitted.yaml` (a scenario that `extends:` the calibrated file and sets the `--set`
overrides and the best point's values; it is loaded before the folder is published, and must
give the best point's scenario), `fit_points.csv` (`Fit.table`), `calibration.md` and
`manifest.json`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from analysis.calibration.check import compare
from analysis.calibration.fit import CONFIDENCE, Fit
from simulation import dotted
from simulation.files import (
    atomic_write_frame,
    atomic_write_text,
    manifest,
    new_run_dir,
    staged_dir,
)
from simulation.runner import rescue_root
from simulation.scenario import Scenario, ScenarioError, apply_overrides, deep_merge, load

FITTED_SUFFIX = "-fitted"
NAME_LIMIT = next(  # the longest scenario name the schema allows
    rule.max_length
    for rule in Scenario.model_fields["name"].metadata
    if hasattr(rule, "max_length")
)


def fitted_name(scenario: Scenario) -> str:
    """The file name of the fitted scenario in the fit's folder."""
    return f"{scenario.name}{FITTED_SUFFIX}.yaml"


def fitted_settings(fit: Fit) -> dict[str, Any]:
    """The best point's value of every free parameter, as the plain numbers a scenario holds."""
    best = fit.plan.configs[fit.best]
    return {free.key: dotted.get(best, free.key) for free in fit.targets.free}


def fitted_yaml(
    fit: Fit, scenario: Scenario, source: Path, overrides: list[str], folder: Path
) -> str:
    """The fitted scenario: `extends:` the calibrated file, its `--set` overrides, a new name
    and description, and the best point's values. The file is named by a path relative to
    `folder` when the two share a folder below the root (a project moved as a whole keeps
    working), else by its absolute path."""
    source, folder = source.resolve(), folder.resolve()
    try:
        shared = Path(os.path.commonpath([source, folder])) != Path(folder.anchor)
    except ValueError:  # another drive (Windows)
        shared = False
    parent = os.path.relpath(source, folder) if shared else str(source)
    name = scenario.name[: NAME_LIMIT - len(FITTED_SUFFIX)] + FITTED_SUFFIX
    head = {
        "extends": parent,
        "name": name,
        "description": (
            f"{scenario.name} with {', '.join(f.key for f in fit.targets.free)} fitted to "
            f"{fit.targets.source} (ouroboros calibrate --fit)"
        ),
    }
    body = deep_merge(apply_overrides({}, overrides), dotted.updated({}, fitted_settings(fit)))
    return yaml.safe_dump(head, sort_keys=False) + yaml.safe_dump(body, sort_keys=False)


def write_fit(
    fit: Fit,
    scenario: Scenario,
    source: Path,
    overrides: list[str],
    out_root: Path,
    settings: dict[str, Any],
) -> Path:
    """Write the fit's folder under `out_root` and return it (see the module docstring).

    `settings` (the command's: points, replications, workers, steps…) go into the account and
    the manifest. If the folder cannot be written there (a full disk, a read-only folder), it
    is written under `runner.rescue_root()` and a `ScenarioError` says where: a finished fit
    is not lost.
    """
    args = (fit, scenario, source, overrides)
    try:
        return _write(*args, Path(out_root), settings)
    except OSError as exc:
        failed = f"--out {out_root}: cannot write the fit's folder ({exc.strerror or exc})"
        try:
            rescued = _write(*args, rescue_root(), settings)
        except OSError:
            raise ScenarioError([f"{failed}; nor under {rescue_root()}: nothing kept"]) from exc
        raise ScenarioError([f"{failed}; it was written to {rescued} instead"]) from exc


def _write(
    fit: Fit,
    scenario: Scenario,
    source: Path,
    overrides: list[str],
    out_root: Path,
    settings: dict[str, Any],
) -> Path:
    stage = staged_dir(new_run_dir(out_root, f"{scenario.name}-fit"))
    with stage as staging:
        fitted = staging / fitted_name(scenario)
        atomic_write_text(fitted, fitted_yaml(fit, scenario, source, overrides, staging))
        _check_fitted(fitted, fit, scenario)
        atomic_write_frame(staging / "fit_points.csv", fit.table())
        atomic_write_text(staging / "calibration.md", account(fit, scenario, settings))
        keys = [[0, r] for r in range(scenario.replications)]  # every point's seeds
        info = manifest(scenario, keys, kind="calibration fit", calibration=settings)
        atomic_write_text(staging / "manifest.json", json.dumps(info, indent=2) + "\n")
    assert stage.final is not None
    return stage.final


def _check_fitted(path: Path, fit: Fit, scenario: Scenario) -> None:
    """The fitted file must load and give the best point's scenario (name, description and
    the replications of the command aside)."""
    loaded = load(path).to_dict()
    best = fit.plan.configs[fit.best]
    aside = ("name", "description", "replications")
    if {k: v for k, v in loaded.items() if k not in aside} != {
        k: v for k, v in best.items() if k not in aside
    }:
        raise ScenarioError([f"{path.name}: does not reproduce the best point's scenario"])


def _cell(text: object) -> str:
    """Text for a Markdown table cell (pipes escaped, lines joined)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def account(fit: Fit, scenario: Scenario, settings: dict[str, Any]) -> str:
    """calibration.md: the fit's settings, the targets with their sources and the best point's
    values, and the fitted parameters with their ranges and confidence sets."""
    targets = fit.targets
    accepted = int(fit.accepted.sum())
    lines = [
        f"# Calibration of `{scenario.name}`",
        "",
        f"Targets: `{targets.source}`. {targets.spec.description}".strip(),
        "",
        "## Settings",
        "",
        *[f"- {key}: {_cell(value)}" for key, value in settings.items()],
        "- method: simulated moments; loss = Σ ((simulated − value) / σ)², σ = band width / 4 "
        "(the band read as ±2σ); every point simulated on the same seeds",
        f"- confidence set: the points with loss ≤ best + χ²({CONFIDENCE}, "
        f"{len(targets.free)}) = {fit.threshold:.4g} ({accepted} of {len(fit.loss)} points)",
        "",
        "## Targets at the best point",
        "",
        "| target | measure | when | value | band | simulated ± SE | result | source | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in compare(targets, fit.moments, fit.best):
        t = c.target
        se = "" if math.isnan(c.se) else f" ± {c.se:.3g}"
        lines.append(
            f"| {t.name} | `{t.metric or t.key}` | {c.when} | {t.value:.4g} | "
            f"[{t.band[0]:.4g}, {t.band[1]:.4g}] | {c.simulated:.4g}{se} | "
            f"{'pass' if c.passed else 'FAIL'} | {_cell(t.source)} | {_cell(t.note)} |"
        )
    lines += [
        "",
        "## Fitted parameters",
        "",
        f"| parameter | range | scale | best | {CONFIDENCE:.0%} confidence set (min – max) |",
        "|---|---|---|---|---|",
    ]
    best = fitted_settings(fit)
    for j, free in enumerate(targets.free):
        low, high = fit.extent(j)
        lines.append(
            f"| `{free.key}` | [{free.range[0]:.4g}, {free.range[1]:.4g}] | "
            f"{'log' if free.log else 'linear'} | {best[free.key]:.4g} | {low:.4g} – {high:.4g} |"
        )
    lines += [
        "",
        f"Best point: {fit.best} of {len(fit.loss)}, loss {fit.loss[fit.best]:.4g}. "
        "Every point is in `fit_points.csv`; the fitted scenario is "
        f"`{fitted_name(scenario)}` (run it with `ouroboros run`).",
        "",
    ]
    return "\n".join(lines)
