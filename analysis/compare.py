"""Run and sweep folders side by side (`ouroboros compare A B …`): how their scenarios differ,
each outcome metric's final values per folder, and each folder's difference from the first.

Differences are paired where the seeds match: two runs with the same root seed and the same
spawn key `(design_point, replication)` draw the same random numbers (common random numbers),
so their per-run difference is free of most replication noise. Its mean gets a t interval
(as `simulation.runner.paired_interval`, vectorised over metrics by `scipy.stats`). Where the
root seeds differ, or no spawn key is shared, the difference of the means is unpaired and
gets Welch's t interval. Pure functions of `analysis.load.load_results` output; the CLI
prints what they return (`simulation.console`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.load import SPAWN_KEY, Results
from analysis.stats import CONFIDENCE, intervals
from simulation import registry

NO_ARM = ""  # the `arm` of every row when no folder is a sweep
VALUE_COLUMNS = ["median", "low", "high", "n"]
DIFFERENCE_COLUMNS = ["difference", "difference_low", "difference_high", "pairs", "paired"]


def labels(results: Sequence[Results]) -> list[str]:
    """A distinct name per folder: its folder name, its path where two names are the same,
    and `<path> (2)`, `(3)`… for a folder given more than once."""
    names = [r.folder.name for r in results]
    paths = [
        str(r.folder) if names.count(n) > 1 else n for r, n in zip(results, names, strict=True)
    ]
    return [
        p if paths[:i].count(p) == 0 else f"{p} ({paths[:i].count(p) + 1})"
        for i, p in enumerate(paths)
    ]


def flat_scenario(scenario: dict[str, Any]) -> dict[str, Any]:
    """A scenario's values by dotted key (`web.ai_share`); lists and the like stay values."""
    return pd.json_normalize(scenario, sep=".").iloc[0].to_dict()


def scenario_differences(results: Sequence[Results]) -> pd.DataFrame:
    """The dotted scenario keys whose values differ between the folders: one row per key (the
    index), one column per folder (`labels`), each value as JSON text (`—` where a folder's
    scenario has no such key). The prose `description` is left out. Empty when the scenarios
    are the same."""
    flat = pd.DataFrame(
        [
            {
                k: json.dumps(v, ensure_ascii=False, default=str)
                for k, v in flat_scenario(r.scenario).items()
                if k != "description"
            }
            for r in results
        ],
        index=labels(results),
    ).T.fillna("—")
    differs = flat.nunique(axis=1) > 1
    return flat[differs].rename_axis("key")


def arms(results: Sequence[Results]) -> list[str]:
    """What the comparison is split by: the arms of the sweeps, in order of appearance (a run
    folder's runs are compared within every arm), or `[NO_ARM]` if no folder is a sweep."""
    names = [arm for r in results if r.kind == "sweep" for arm in r.arms]
    return list(dict.fromkeys(names)) or [NO_ARM]


def _runs_by_arm(result: Results, label: str, names: list[str]) -> pd.DataFrame:
    """`result`'s summary rows with `arm` (one of `names`) and `folder` columns: a sweep's runs
    in their own arm, a run folder's runs in every arm."""
    summary = result.summary
    if result.kind == "sweep":
        rows = summary[summary["arm"].isin(names)]
    else:
        rows = summary.drop(columns="arm").merge(pd.DataFrame({"arm": names}), how="cross")
    return rows.assign(folder=label)


def final_values(results: Sequence[Results], metrics: Sequence[registry.Metric]) -> pd.DataFrame:
    """Each metric's final value per arm and folder: median and interval across runs
    (`analysis.stats.intervals`), long form: arm, folder, metric, median, low, high, n."""
    names, tags = arms(results), labels(results)
    runs = pd.concat(
        [_runs_by_arm(r, tag, names) for r, tag in zip(results, tags, strict=True)],
        ignore_index=True,
    )
    finals = [m.final for m in metrics]
    values = intervals(runs, ["arm", "folder"], finals)
    values["metric"] = values.pop("outcome").map({m.final: m.name for m in metrics})
    return values[["arm", "folder", "metric", *VALUE_COLUMNS]]


def seeds_match(a: Results, b: Results) -> bool:
    """Whether runs of `a` and `b` with the same spawn key draw the same random numbers: the
    same root seed (the spawn keys are then matched run by run)."""
    return a.manifest.get("root_seed") == b.manifest.get("root_seed")


def difference(
    base: pd.DataFrame, other: pd.DataFrame, columns: list[str], paired: bool
) -> pd.DataFrame:
    """`other` − `base` for each summary column (the index of the result): if `paired`, the
    mean per-run difference over the runs that share a spawn key and its t interval
    (`paired` True, `pairs` the runs differenced); if not, or if no key is shared, the
    difference of the means and Welch's t interval (`paired` False, `pairs` 0). An interval
    needs two values on each side; else its bounds are NaN."""
    from scipy import stats  # here: scipy.stats takes half a second to import

    pairs = base[[*SPAWN_KEY, *columns]].merge(
        other[[*SPAWN_KEY, *columns]], on=SPAWN_KEY, suffixes=("_a", "_b")
    )
    a, b = base[columns].to_numpy(float), other[columns].to_numpy(float)
    paired = paired and len(pairs) > 0
    if paired:
        diffs = (
            pairs[[f"{c}_b" for c in columns]].to_numpy()
            - pairs[[f"{c}_a" for c in columns]].to_numpy()
        )
        mean = diffs.mean(axis=0)
        enough = len(diffs) > 1
        test = stats.ttest_1samp(diffs, 0.0, axis=0) if enough else None
    else:
        mean = (
            b.mean(axis=0) - a.mean(axis=0) if len(a) and len(b) else np.full(len(columns), np.nan)
        )
        enough = len(a) > 1 and len(b) > 1
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # no spread: no interval
            warnings.simplefilter("ignore", RuntimeWarning)
            test = stats.ttest_ind(b, a, equal_var=False, axis=0) if enough else None
    nan = np.full(len(columns), np.nan)
    interval = test.confidence_interval(CONFIDENCE) if test is not None else None
    return pd.DataFrame(
        {
            "difference": mean,
            "difference_low": interval.low if interval is not None else nan,
            "difference_high": interval.high if interval is not None else nan,
            "pairs": len(pairs) if paired else 0,
            "paired": paired,
        },
        index=pd.Index(columns, name="column"),
    )


def differences(results: Sequence[Results], metrics: Sequence[registry.Metric]) -> pd.DataFrame:
    """Each folder after the first minus the first, per arm and metric (`difference`), long
    form: arm, folder, metric, difference, difference_low, difference_high, pairs, paired."""
    names, tags = arms(results), labels(results)
    by_arm = [_runs_by_arm(r, tag, names) for r, tag in zip(results, tags, strict=True)]
    base, finals = by_arm[0], [m.final for m in metrics]
    parts = [
        difference(
            base[base["arm"] == arm], runs[runs["arm"] == arm], finals, seeds_match(results[0], r)
        ).assign(arm=arm, folder=tag, metric=[m.name for m in metrics])
        for r, tag, runs in zip(results[1:], tags[1:], by_arm[1:], strict=True)
        for arm in names
    ]
    table = pd.concat(parts, ignore_index=True)
    return table[["arm", "folder", "metric", *DIFFERENCE_COLUMNS]]


def comparison(
    results: Sequence[Results], metrics: Sequence[registry.Metric] | None = None
) -> pd.DataFrame:
    """Final values and differences from the first folder in one long table (the CSV of
    `ouroboros compare`): arm (`NO_ARM` when no folder is a sweep), folder, metric, label,
    unit, median, low, high, n, difference, difference_low, difference_high, pairs, paired
    (the first folder's differences empty).
    `metrics` defaults to the report's outcome metrics (`registry.shown_in("outcome")`)."""
    metrics = registry.shown_in("outcome") if metrics is None else tuple(metrics)
    if len(results) < 2:
        raise ValueError("compare needs at least two folders")
    table = final_values(results, metrics).merge(
        differences(results, metrics), on=["arm", "folder", "metric"], how="left"
    )
    info = pd.DataFrame(
        [(m.name, m.label, m.unit) for m in metrics], columns=["metric", "label", "unit"]
    )
    table = table.merge(info, on="metric").astype({"pairs": "Int64", "paired": "boolean"})
    order = ["arm", "folder", "metric", "label", "unit", *VALUE_COLUMNS, *DIFFERENCE_COLUMNS]
    return table[order]


def pairing_notes(results: Sequence[Results], names: Sequence[str] | None = None) -> list[str]:
    """One line per folder after the first (called by `names`, default `labels`): paired on
    which seeds, or why unpaired."""
    names = labels(results) if names is None else list(names)
    first = results[0].manifest.get("root_seed")
    notes = []
    for result, name in zip(results[1:], names[1:], strict=True):
        seed = result.manifest.get("root_seed")
        if seeds_match(results[0], result):
            notes.append(
                f"{name} − {names[0]}: same root seed ({seed}): runs with the same spawn key "
                "(design point, replication) share random numbers and are paired; mean of "
                "their differences, t interval (unpaired, Welch, where no key is shared)"
            )
        else:
            notes.append(
                f"{name} − {names[0]}: root seeds differ ({first} vs {seed}): unpaired; "
                "difference of the means, Welch t interval"
            )
    return notes
