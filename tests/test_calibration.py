"""Calibration against today's web: the metrics published measurements observe (AI-share bins
of new pages, of what search shows and of what crawlers collect; the similarity of assisted
writing), and `ouroboros calibrate` (targets files, the check's exit status, the fit)."""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from analysis.calibration import fit as fits
from analysis.calibration import status as calibration_status
from analysis.calibration.check import check
from analysis.calibration.simulate import evaluate
from analysis.calibration.targets import load
from simulation import observation, registry
from simulation.cli import app
from simulation.corpus import Documents
from simulation.runner import metric_frame
from simulation.scenario import Scenario
from simulation.scenario import load as load_scenario
from tests.conftest import small_scenario, stepped

runner = CliRunner()
BINS = registry.NEW_PAGE_SHARES[:6]  # pure human … pure AI, in bin order
TOP = {m.name: m for m in registry.TOP_RANKED_SHARES}

# A run of about 60 ms: writers who neither adopt nor copy, so a share 1 − ai_assist of the
# human documents (0.7 of all) is purely human at every step.
TINY = {
    "name": "tiny",
    "steps": 4,
    "start_date": "2024-01",
    "content": {"n_words": 200, "n_topics": 20, "doc_length": 16},
    "web": {"n_sites": 40, "docs_per_step": 600, "archive_docs": 1500, "ai_share": 0.3},
    "humans": {"count": 100, "adopt_rate": 0.0, "copy_rate": 0.0, "ai_assist": 0.35},
    "models": {"count": 1, "retrain_every": 2, "train_budget": 1500},
    "crawlers": {"budget": 1500},
}


def tiny(**humans: float) -> Scenario:
    return small_scenario(**{**TINY, "humans": {**TINY["humans"], **humans}})


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny().to_dict()))
    return path


def write_targets(tmp_path: Path, text: str, name: str = "targets.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def target(name: str, metric: str, when: str, value: float, band: tuple[float, float]) -> str:
    return (
        f'[[target]]\nname = "{name}"\nmetric = "{metric}"\n{when}\nvalue = {value}\n'
        f'band = [{band[0]}, {band[1]}]\nsource = "test"\n'
    )


def documents(f: np.ndarray, site: np.ndarray | None = None, **columns) -> Documents:
    """A hand-built batch with model-written shares `f` (one word per document)."""
    n = len(f)
    return Documents.new(
        columns.get("topic", np.zeros(n, dtype=np.int32)),
        columns.get("tokens", np.zeros((n, 1), dtype=np.uint16)),
        np.zeros(n, dtype=np.int32) if site is None else site,
        1,
        author=columns.get("author", np.zeros(n, dtype=np.int32)),
        ai_fraction=f,
    )


def observed(model, monkeypatch, docs: Documents) -> None:
    """Make `docs` the documents `model` published at its current step."""
    monkeypatch.setattr(model.corpus, "since", lambda step: docs)
    model._observation = None


# --- the metrics -------------------------------------------------------------------------------


def test_new_page_bins_of_hand_built_documents(small_model, monkeypatch):
    # Shares on the bin edges in float32, as stored: 1/10 is minimal, 4/10 moderate, 7/10
    # substantial; 3/32 minimal and 13/32 substantial.
    f = np.array([0, 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 10]) / 10
    f = np.concatenate([f, [3 / 32, 13 / 32, 31 / 32, 0.0]])
    observed(small_model, monkeypatch, documents(f))
    counts = {"pure human": 3, "minimal": 2, "moderate": 2, "substantial": 4, "dominant": 3}
    counts["pure AI"] = 2
    shares = [metric.compute(small_model) for metric in BINS]
    assert shares == pytest.approx([c / 16 for c in counts.values()], abs=0)
    assert registry.NEW_PAGE_SHARES[6].compute(small_model) == 7 / 16  # f > 0.5
    assert math.isnan(observation.ai_profile(np.zeros(0, dtype=np.float32))[0])


def test_new_page_bins_partition_every_step_of_a_run():
    model = stepped(small_scenario(steps=4, humans={"ai_assist": 0.5}), 4)
    frame = metric_frame(model)
    total = frame[[m.name for m in BINS]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    new = model.corpus.since(4)
    assert frame[registry.NEW_PAGE_SHARES[5].name].iloc[-1] == np.mean(new.ai_fraction == 1)
    assert frame[BINS[0].name].iloc[0] == 1.0  # step 0: the archive, all human


def test_top_ranked_metrics_are_the_shares_on_the_top_five_percent_of_sites(
    small_model, monkeypatch
):
    rank = small_model.network.pagerank
    top = np.argsort(-rank, kind="stable")[: math.ceil(0.05 * rank.size)]
    rest = np.setdiff1d(np.arange(rank.size), top)
    f = np.array([1.0, 1.0, 0.0, 0.6, 0.25, 1.0, 0.0, 0.0, 0.9, 1.0])
    site = np.concatenate([np.resize(top, 5), np.resize(rest, 5)])  # 5 on top, 5 elsewhere
    observed(small_model, monkeypatch, documents(f, site))
    assert TOP["top_ranked_pure_ai_share"].compute(small_model) == 2 / 5
    assert TOP["top_ranked_pure_human_share"].compute(small_model) == 1 / 5
    assert TOP["top_ranked_majority_ai_share"].compute(small_model) == 3 / 5
    observed(small_model, monkeypatch, documents(f[5:], site[5:]))
    assert math.isnan(TOP["top_ranked_pure_ai_share"].compute(small_model))


def test_top_ranked_shares_in_a_run_with_pure_ai_pages_by_writers():
    model = stepped(small_scenario(steps=3, humans={"ai_assist": 0.6, "pure_ai": 0.5}), 3)
    top = np.zeros(model.network.n_sites, dtype=bool)
    top[np.argsort(-model.network.pagerank, kind="stable")[:3]] = True  # ⌈0.05 · 60⌉
    new = model.corpus.since(3)
    f = new.ai_fraction[top[new.site]]
    assert TOP["top_ranked_pure_ai_share"].compute(model) == np.mean(f == 1) > 0
    assert TOP["top_ranked_pure_human_share"].compute(model) == np.mean(f == 0) > 0


def test_crawl_share_is_that_of_the_documents_the_crawlers_collected():
    model = stepped(small_scenario(steps=2), 2)  # crawled at step 2
    for crawler in model.crawlers:
        assert crawler.ai_fraction.shape == crawler.synthetic.shape
        assert np.all(crawler.ai_fraction[crawler.synthetic] == 1)
    f = np.concatenate([c.ai_fraction for c in model.crawlers])
    assert registry.CRAWL_MAJORITY_AI_SHARE.compute(model) == np.mean(f > 0.5)
    assert 0.2 < np.mean(f > 0.5) < 0.5  # about the AI share, 0.3, of the fresh crawl


def brute_force_similarity(docs: Documents, keep: np.ndarray, n_words: int) -> float:
    """Mean cosine similarity of the word counts over same-topic pairs of documents `keep`."""
    counts = np.zeros((len(docs), n_words))
    np.add.at(
        counts, (np.repeat(np.arange(len(docs)), docs.tokens.shape[1]), docs.tokens.ravel()), 1
    )
    sims = [
        counts[i] @ counts[j] / np.linalg.norm(counts[i]) / np.linalg.norm(counts[j])
        for i, j in combinations(np.flatnonzero(keep), 2)
        if docs.topic[i] == docs.topic[j]
    ]
    return float(np.mean(sims))


def random_documents(seed: int, n: int = 90, n_topics: int = 4, n_words: int = 12) -> Documents:
    rng = np.random.default_rng(seed)
    author = np.where(rng.random(n) < 0.2, -1, rng.integers(50, size=n)).astype(np.int32)
    f = np.where(rng.random(n) < 0.5, 0.0, rng.integers(1, 9, size=n) / 8)
    tokens = rng.integers(n_words, size=(n, 8)).astype(np.uint16)
    return documents(f, topic=rng.integers(n_topics, size=n), tokens=tokens, author=author)


@pytest.mark.parametrize("seed", [1, 2])
def test_similarity_gain_is_the_brute_force_pairwise_ratio(seed):
    docs = random_documents(seed)
    human = docs.author >= 0
    assisted = brute_force_similarity(docs, human & (docs.ai_fraction > 0), 12)
    plain = brute_force_similarity(docs, human & (docs.ai_fraction == 0), 12)
    gain = observation.assisted_similarity_gain(docs, 4, 12)
    assert gain == pytest.approx(assisted / plain - 1, rel=1e-12)


def test_similarity_gain_of_many_documents_uses_an_evenly_spaced_sample(monkeypatch):
    docs = random_documents(3, n=200)
    monkeypatch.setattr(observation, "SIMILARITY_SAMPLE", 60)
    human = np.flatnonzero(docs.author >= 0)
    sample = docs.take(human[np.linspace(0, human.size - 1, 60).astype(int)])
    assisted = brute_force_similarity(sample, sample.ai_fraction > 0, 12)
    plain = brute_force_similarity(sample, sample.ai_fraction == 0, 12)
    gain = observation.assisted_similarity_gain(docs, 4, 12)
    assert gain == pytest.approx(assisted / plain - 1, rel=1e-12)


def test_similarity_gain_is_undefined_without_a_pair_in_either_group():
    docs = random_documents(4)
    plain_only = docs.take(docs.ai_fraction == 0)
    assert math.isnan(observation.assisted_similarity_gain(plain_only, 4, 12))
    one_each = docs.take(np.flatnonzero((docs.author >= 0) & (docs.topic == 0))[:2])
    assert math.isnan(observation.assisted_similarity_gain(one_each, 4, 12))


# --- the check ---------------------------------------------------------------------------------

PASSING = (
    target("archive_is_human", "new_pure_human_share", "step = 0", 1.0, (0.95, 1.0))
    + target("human_pages", "new_pure_human_share", 'date = "2024-04"', 0.455, (0.35, 0.56))
    + '[[target]]\nname = "fpr"\nkey = "filtering.detector.fpr"\nvalue = 0.05\n'
    'band = [0.04, 0.06]\nsource = "test: a scenario value"\n'
)
FAILING = PASSING + target("pure_ai_pages", "new_pure_ai_share", "step = 3", 0.9, (0.8, 1.0))


def calibrate(*args: str):
    return runner.invoke(app, ["calibrate", *map(str, args)])


def said(result) -> str:
    """What a command printed, with the console's line breaks undone."""
    return " ".join(result.stdout.split())


def test_check_exits_0_in_band_and_1_out_of_band(scenario_file, tmp_path):
    passing = calibrate(scenario_file, "--targets", write_targets(tmp_path, PASSING), "-r", "2")
    assert passing.exit_code == 0, passing.output
    assert "2 replication(s), each simulated over steps 0–3 (2024-01 to 2024-04)" in said(passing)
    assert "(mean over 2 replications ± SE)" in said(passing)
    assert "2024-04" in passing.stdout and "(step 3)" in passing.stdout  # the target date
    assert "3 of 3 targets in their band" in said(passing)
    failing = calibrate(scenario_file, "--targets", write_targets(tmp_path, FAILING), "-r", "2")
    assert failing.exit_code == 1, failing.output
    assert "FAIL" in failing.stdout and "3 of 4 targets in their band" in said(failing)


def test_check_reads_the_replications_mean_at_the_target_step(scenario_file, tmp_path):
    config = load_scenario(scenario_file, ["replications=3"])
    targets = load(write_targets(tmp_path, FAILING), config)
    moments = evaluate([config.to_dict()], targets, 3)
    metric_targets = [i for i, t in enumerate(targets.targets) if t.metric is not None]
    by_hand = []
    for rep in range(3):
        frame = metric_frame(stepped(config, 3, replication=rep))
        by_hand.append(
            [frame[targets.targets[i].metric].iloc[targets.steps[i]] for i in metric_targets]
        )
    np.testing.assert_allclose(moments.mean[0, metric_targets], np.mean(by_hand, axis=0))
    se = np.std(by_hand, axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(moments.se[0, metric_targets], se, rtol=1e-12)
    assert moments.mean[0, 2] == 0.05 and math.isnan(moments.se[0, 2])  # a scenario value


def test_a_reports_calibration_status_equals_the_check_from_the_runs_metrics(tmp_path):
    # The report reads its runs' metrics instead of simulating again: the same means and SEs as
    # `evaluate`, the same verdicts; a target past the runs' last step is NaN, never in band.
    config = tiny().model_copy(update={"replications": 2})
    path = write_targets(
        tmp_path, FAILING + target("later", "new_pure_ai_share", "step = 4", 0.3, (0, 1))
    )
    frames = [metric_frame(stepped(config, 3, replication=rep)) for rep in range(2)]
    metrics = pd.concat(
        [f.assign(replication=rep) for rep, f in enumerate(frames)], ignore_index=True
    )
    reported = calibration_status.status(config, metrics, path)
    short = write_targets(tmp_path, FAILING, "short.toml")
    checked = check(config, load(short, config))
    for row, twin in zip(reported.rows, checked, strict=False):
        assert row.simulated == pytest.approx(twin.simulated, abs=1e-12)
        assert row.passed == twin.passed
    assert math.isnan(reported.rows[-1].simulated) and not reported.rows[-1].passed
    assert reported.summary.startswith("3 of 5 targets of targets.toml in their band")
    assert "1 lies after the runs' last step (3)" in reported.summary
    short_run = config.model_copy(update={"steps": 3})  # a target at step 4 is past its end
    assert "1 lies after the runs' last step (3)" in (
        calibration_status.status(short_run, metrics, path).summary
    )
    undated = config.model_copy(update={"start_date": None})
    assert calibration_status.status(undated, metrics, path).summary.startswith("Not calibrated")


GOOD = target("t", "new_pure_human_share", "step = 2", 0.5, (0.3, 0.7))
BAD = {
    "unknown metric": (
        target("t", "new_pure_humans_share", "step = 2", 0.5, (0.3, 0.7)),
        "new_pure_humans_share' is no metric column",
    ),
    "unknown scenario key": (
        GOOD + '[[free]]\nkey = "humans.copy_rat"\nrange = [0.0, 0.1]\n',
        "did you mean 'humans.copy_rate'",
    ),
    "band without its value": (
        target("t", "new_pure_human_share", "step = 2", 0.5, (0.6, 0.7)),
        "band [0.6, 0.7] must contain value (0.5)",
    ),
    "range in the wrong order": (
        GOOD + '[[free]]\nkey = "humans.copy_rate"\nrange = [0.1, 0.0]\n',
        "range: low (0.1) must be below high (0.0)",
    ),
    "range the schema refuses": (
        GOOD + '[[free]]\nkey = "humans.copy_rate"\nrange = [0.0, 2.0]\n',
        "range end 2.0 is not allowed",
    ),
    "log scale from zero": (
        GOOD + '[[free]]\nkey = "humans.copy_rate"\nrange = [0.0, 0.1]\nlog = true\n',
        "a log scale needs low above 0",
    ),
    "a section as a parameter": (
        GOOD + '[[free]]\nkey = "humans"\nrange = [0.0, 0.1]\n',
        "not a number",
    ),
    "date after the run": (
        target("t", "new_pure_human_share", 'date = "2031-01"', 0.5, (0.3, 0.7)),
        "date 2031-01 is step 84 outside the scenario's steps 0–4",
    ),
    "not a month": (
        target("t", "new_pure_human_share", 'date = "2025-13"', 0.5, (0.3, 0.7)),
        "YYYY-MM",
    ),
    "unknown field": (GOOD + 'colour = "red"\n', "target #1 t.colour: unknown key"),
    "both metric and key": (GOOD + 'key = "humans.copy_rate"\n', "give either metric"),
    "twice the same name": (GOOD + GOOD, "the name 't' is used twice"),
    "not TOML": ("[[target]\n", "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_targets_files_exit_2_with_one_line(case, scenario_file, tmp_path):
    text, fragment = BAD[case]
    path = write_targets(tmp_path, text)
    result = calibrate(scenario_file, "--targets", path)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and str(path) in line and fragment in line, line
    assert not result.stdout  # nothing ran


def test_dates_need_a_start_date_and_a_fit_needs_free_parameters(scenario_file, tmp_path):
    dated = write_targets(
        tmp_path, target("t", "new_pure_human_share", 'date = "2024-03"', 0.5, (0, 1))
    )
    result = calibrate(scenario_file, "--targets", dated, "--set", "start_date=null")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "need a start_date in tiny" in line and "step = N" in line
    result = calibrate(scenario_file, "--targets", dated, "--fit")
    assert result.exit_code == 2
    assert "--fit needs at least one [[free]] parameter" in result.stderr
    result = calibrate(scenario_file, "--targets", tmp_path / "missing.toml")
    assert result.exit_code == 2 and "missing.toml: file not found" in result.stderr


# --- the fit -----------------------------------------------------------------------------------

TRUE_ASSIST = 0.35


def test_fit_recovers_a_known_parameter_whatever_the_workers(scenario_file, tmp_path):
    # Targets made from the scenario's own runs at a known ai_assist, with bands of ±0.1.
    config = load_scenario(scenario_file, ["replications=2"])
    reads = write_targets(
        tmp_path,
        target("h2", "new_pure_human_share", "step = 2", 0.5, (0, 1))
        + target("h3", "new_pure_human_share", "step = 3", 0.5, (0, 1)),
        "reads.toml",
    )
    simulated = evaluate([config.to_dict()], load(reads, config), 2).mean[0]
    text = "".join(
        target(f"h{step}", "new_pure_human_share", f"step = {step}", v, (v - 0.1, v + 0.1))
        for step, v in zip((2, 3), simulated, strict=True)
    )
    targets = write_targets(
        tmp_path, text + '[[free]]\nkey = "humans.ai_assist"\nrange = [0.05, 0.8]\n'
    )
    out = tmp_path / "out"
    args = ["--targets", targets, "--fit", "--points", "12", "-r", "2", "-w", "2", "--out", out]
    result = calibrate(scenario_file, *args, "-q")
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    assert f"Fit outputs: {folder}" in said(result)
    assert sorted(p.name for p in folder.iterdir()) == [
        "calibration.md",
        "fit_points.csv",
        "manifest.json",
        "tiny-fitted.yaml",
    ]
    # Two worker processes give the points one process gives, to the last bit.
    goals = load(targets, config)
    serial = fits.fit(goals, fits.plan(config, goals, 12), 2, workers=1)
    assert (folder / "fit_points.csv").read_text() == serial.table().to_csv(index=False)
    points = pd.read_csv(folder / "fit_points.csv")
    assert len(points) == 12
    best = points.loc[points["loss"].idxmin()]
    accepted = points.loc[points["accepted"], "humans.ai_assist"]
    assert accepted.min() <= TRUE_ASSIST <= accepted.max()
    assert abs(best["humans.ai_assist"] - TRUE_ASSIST) < 0.1
    assert 2 <= len(accepted) < 12  # informative: not every point
    assert yaml.safe_load((folder / "tiny-fitted.yaml").read_text())["extends"] == "../../tiny.yaml"
    fitted = load_scenario(folder / "tiny-fitted.yaml")
    assert fitted.humans.ai_assist == best["humans.ai_assist"]
    assert fitted.name == "tiny-fitted"
    account = (folder / "calibration.md").read_text()
    assert "| `humans.ai_assist` | [0.05, 0.8] | linear |" in account
    assert "| h2 | `new_pure_human_share` | step 2 |" in account
