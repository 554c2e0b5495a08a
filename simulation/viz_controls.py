"""The browser view's controls: what they are called, where they start, and the scenario they
make (`ouroboros viz` runs the page in simulation.app).

A control's value comes from the page as typed (the seed is text), so every value is checked
the way a scenario file is (`simulation.scenario.validate`): `control_problem` says what is
wrong with one control, and the page shows it next to that control instead of building a model.
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Any

from mesa.visualization import Slider

from simulation import dotted
from simulation.model import WebEcosystem
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

SCENARIO_ENV = "OUROBOROS_VIZ_SCENARIO"
OVERRIDES_ENV = "OUROBOROS_VIZ_SET"
SOURCE = "viz controls"  # how errors of the controls name their source
DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"
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
        raise ScenarioError([f"{SOURCE}: unknown control(s) {sorted(unknown)}"])
    data = base.to_dict()
    changes = {CONTROL_KEYS[k]: values[k] for k in CONTROL_KEYS if k in values}
    if "seed" in values:
        text = str(values["seed"]).strip()
        if not text.isdigit():
            raise ScenarioError([f"{SOURCE}: seed must be a non-negative integer (got {text!r})"])
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
    return validate(dotted.updated(data, changes), SOURCE)


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


def rate_step(value: float) -> float:
    """A rate slider's step: 0.01, or 0.0001 where the scenario's value lies between (a slider
    snaps its value to its step, so the baseline's AI share 0.0044 would become 0)."""
    return 0.01 if abs(value * 100 - round(value * 100)) < 1e-9 else 0.0001


def model_params(base: Scenario) -> dict[str, Any]:
    """One control per policy knob, in Mesa's user-parameter format (a `Slider`, or a dict with
    the input's type, label, value and choices), in page order."""
    v, label = control_values(base), control_labels(base)
    rates = ("web_ai_share", "tpr", "fpr", "label_rate", "human_reserve", "copy_rate")
    return {
        **{k: Slider(label[k], v[k], 0.0, 1.0, rate_step(v[k])) for k in rates},
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


def control_problem(base: Scenario, name: str, value: Any) -> str | None:
    """What is wrong with `value` for control `name` on top of `base`, or None if it is valid."""
    try:
        with_controls(base, **{name: value})
    except ScenarioError as error:
        return "; ".join(line.removeprefix(f"{SOURCE}: ") for line in error.problems)
    return None
