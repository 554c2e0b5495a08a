"""The counterfactual twins of a run (docs/ODD.md, "Counterfactuals"): what each changes, and
which differences of them make up the change caused by AI.

Plain data, so that the budget estimate and the sweep's part checks can count the twins
without importing the model.
"""

from __future__ import annotations

from typing import Any

TWIN = "twin"  # the column naming which twin a metric row belongs to
FULL = "full"
# What each counterfactual twin changes. No AI: no model publishes and no human drafts with one,
# so no model-written word reaches the web (and, with no AI-shaped reading, nobody copies).
# No feedback: models keep their first fit (on the pre-AI archive) and never retrain.
TWIN_OVERRIDES: dict[str, dict[str, Any]] = {
    "no_ai": {"web.ai_share": 0.0, "humans.ai_assist": 0.0},
    "no_feedback": {"models.feedback": False},
}
# Each component of the change caused by AI, as (minuend twin, subtrahend twin).
EFFECTS: dict[str, tuple[str, str]] = {
    "ai_effect": (FULL, "no_ai"),
    "dilution": ("no_feedback", "no_ai"),
    "feedback": (FULL, "no_feedback"),
}


def simulations_per_run(counterfactuals: bool) -> int:
    """How many simulations one run makes: itself, and its twins if `counterfactuals` is on."""
    return 1 + len(TWIN_OVERRIDES) if counterfactuals else 1
