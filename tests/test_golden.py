"""Golden results: reduced versions of every bundled and validation scenario, hashed.

A refactor must leave every number bit-identical. Each case runs a shrunken copy of a bundled
scenario (every arm of a sweep at its first and last design point) for two replications and
hashes the metric and distribution tables column by column. Regenerate the hashes only for a
change meant to alter results: `python tests/test_golden.py --update`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulation import dotted  # noqa: E402
from simulation.designs import build  # noqa: E402
from simulation.runner import run_one  # noqa: E402
from simulation.scenario import load, validate  # noqa: E402

GOLDEN = Path(__file__).with_name("golden_hashes.json")
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
CAPS = {
    "content.n_words": 600,
    "content.n_topics": 60,
    "web.n_sites": 120,
    "web.docs_per_step": 800,
    "web.archive_docs": 3000,
    "humans.count": 200,
    "crawlers.budget": 2000,
    "models.train_budget": 2000,
}


def reduced(config: dict[str, Any]) -> dict[str, Any]:
    """A small copy of a plain scenario: sizes capped, two replications, two generations."""
    capped = {key: min(dotted.get(config, key), cap) for key, cap in CAPS.items()}
    steps = min(config["steps"], 2 * dotted.get(config, "models.retrain_every") + 1)
    return dotted.updated(config, {**capped, "steps": steps, "replications": 2, "sweep": None})


def cases() -> dict[str, dict[str, Any]]:
    """Case name → reduced plain scenario, for every bundled file (sweeps: each arm, two points)."""
    found: dict[str, dict[str, Any]] = {}
    for path in SCENARIOS:
        name = str(path.relative_to(ROOT / "scenarios"))
        scenario = load(path)
        if scenario.sweep is None:
            found[name] = reduced(scenario.to_dict())
            continue
        design = build(scenario, name)
        for arm in design.arms:
            for point in sorted({0, len(design.points) - 1}):
                found[f"{name}[{arm},{point}]"] = reduced(design.config(arm, point))
    return found


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's column names, dtypes and values, in column order."""
    digest = hashlib.sha256()
    for column in frame.columns:
        values = frame[column].to_numpy()
        digest.update(f"{column}:{values.dtype}".encode())
        if values.dtype == object:
            digest.update("\x1f".join(map(str, values)).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def run_digest(config: dict[str, Any]) -> dict[str, str]:
    """Digests of the metrics and distributions of both replications of one reduced scenario."""
    scenario = validate(config, "golden")
    outputs = [run_one(scenario, run_id=r, replication=r) for r in range(scenario.replications)]
    metrics = pd.concat([o.metrics for o in outputs], ignore_index=True)
    dists = pd.concat([o.distributions for o in outputs], ignore_index=True)
    return {"metrics": frame_digest(metrics), "distributions": frame_digest(dists)}


CASES = cases()


def test_numerical_kernels_are_the_pinned_ones():
    """The digests are of the AVX2 kernels that tests/conftest.py pins before numpy loads."""
    from numpy._core._multiarray_umath import __cpu_features__
    from threadpoolctl import threadpool_info

    assert not __cpu_features__["X86_V4"], "numpy loaded before conftest pinned its kernels"
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert all(i["architecture"] == "Haswell" for i in blas if i["internal_api"] == "openblas")


def test_every_bundled_scenario_has_a_golden_entry():
    assert sorted(json.loads(GOLDEN.read_text())) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_are_unchanged(name):
    expected = json.loads(GOLDEN.read_text())[name]
    assert run_digest(CASES[name]) == expected, (
        "results changed; if only the environment did (constraints.txt), regenerate the digests"
    )


if __name__ == "__main__" and "--update" in sys.argv:
    environment = dict(os.environ)  # as this process started: importing conftest sets the pins
    from conftest import PINNED_KERNELS  # the kernels the digests are of: restart with them

    if any(environment.get(name) != value for name, value in PINNED_KERNELS.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PINNED_KERNELS})
    hashes = {name: run_digest(config) for name, config in sorted(CASES.items())}
    GOLDEN.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(hashes)} golden digests to {GOLDEN}")
