"""Shared fixtures: small scenarios that run in well under a second per step."""

from __future__ import annotations

import pytest

from simulation.scenario import Scenario, validate


def small_scenario(**sections) -> Scenario:
    """A tiny but complete scenario; keyword sections deep-override the defaults."""
    from simulation.scenario import deep_merge

    base = {
        "name": "small",
        "seed": 7,
        "steps": 12,
        "replications": 1,
        "content": {"vocabulary": "zipf", "n_words": 300, "n_topics": 40, "doc_length": 16},
        "web": {
            "n_sites": 60,
            "links_per_site": 2,
            "docs_per_step": 2000,
            "archive_docs": 6000,
            "ai_share": 0.3,
        },
        "humans": {"count": 200, "interests": 3},
        "models": {"count": 2, "retrain_every": 2, "train_budget": 4000},
        "crawlers": {"strategy": "random", "budget": 4000, "scope": "fresh"},
    }
    return validate(deep_merge(base, sections), "test")


@pytest.fixture
def small() -> Scenario:
    return small_scenario()
