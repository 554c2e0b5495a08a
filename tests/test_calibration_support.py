"""Model support for calibrating today's web: a spread of drafted shares (`assist_spread`),
purely AI-written pages by individuals (`pure_ai`), a schedule for the background adoption
level (`humans.ai_assist`), absolute-time point schedules with a calendar (`start_date`), and
the refusal of bad input. Laws are checked with real numbers; defaults reproduce today's runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from simulation import app as viz
from simulation.cli import app
from simulation.corpus import Documents
from simulation.designs import build
from simulation.runner import metric_frame
from simulation.scenario import PointSchedule, ScenarioError, load, validate
from tests.conftest import small_scenario, stepped

runner = CliRunner()
# Writers who neither adopt, copy nor forget: their documents show the drafting rules alone.
STILL = {"adopt_rate": 0.0, "copy_rate": 0.0, "unlearn_rate": 0.0, "forget_rate": 0.0}
MODEL_WORD, REAL_WORD = 1, 2


def written(monkeypatch, n: int, always: bool = True, length: int = 16, **humans) -> Documents:
    """`n` documents of the small scenario's writers (style 0) at step 0, with every
    model-written word set to MODEL_WORD and every real one to REAL_WORD; `always`: every
    writer drafts with AI, else only the odd-numbered ones."""
    model = stepped(small_scenario(content={"doc_length": length}, humans={**STILL, **humans}))
    pop = model.humans
    pop.assist = np.ones(len(pop)) if always else (np.arange(len(pop)) % 2).astype(np.float64)

    def tagged(word: int):
        return lambda topics, k, rng: np.full((len(topics), k), word)

    monkeypatch.setattr(model.content, "sample_real_words", tagged(REAL_WORD))
    for ai in model.ai_models:
        monkeypatch.setattr(ai.generator, "sample_words", tagged(MODEL_WORD))
    return pop.write(n, 1, model.ai_models)


def assert_human_published(docs: Documents) -> None:
    assert not docs.synthetic.any() and not docs.labeled.any()
    assert (docs.author >= 0).all() and (docs.ai_author == -1).all()


# --- humans.assist_spread ---------------------------------------------------------------------


@pytest.mark.parametrize(("kappa", "mean"), [(4.0, 0.3), (0.7, 0.55)])
def test_drafted_shares_follow_the_rounded_beta_law(monkeypatch, kappa, mean):
    n, length = 20_000, 64
    docs = written(monkeypatch, n, length=length, assist_words=mean, assist_spread=kappa)
    by_model = docs.tokens == MODEL_WORD
    # The drafted words are the first ones: no real word before a model word.
    assert not (np.diff(by_model.astype(np.int8), axis=1) > 0).any()
    np.testing.assert_array_equal(docs.ai_fraction, by_model.sum(axis=1) / length)
    assert_human_published(docs)
    # Exact law of round(S·L)/L, S ~ Beta(κm, κ(1 − m)); its mean and variance within 4 SE.
    j = np.arange(length + 1)
    edges = stats.beta.cdf(np.clip((j + 0.5) / length, 0, 1), kappa * mean, kappa * (1 - mean))
    p = np.diff(np.concatenate([[0.0], edges]))
    x = j / length
    mu = float(p @ x)
    var = float(p @ (x - mu) ** 2)
    mu4 = float(p @ (x - mu) ** 4)
    share = docs.ai_fraction.astype(np.float64)
    assert abs(share.mean() - mu) < 4 * np.sqrt(var / n)
    assert abs(share.var() - var) < 4 * np.sqrt((mu4 - var**2) / n)
    # The law is the Beta's, up to rounding to whole words.
    assert abs(mu - mean) < 1 / length
    assert abs(var - mean * (1 - mean) / (kappa + 1)) < 1 / length


def test_without_spread_every_assisted_document_drafts_the_same_words(monkeypatch):
    docs = written(monkeypatch, 3000, always=False, assist_words=0.3)
    odd = docs.author % 2 == 1
    np.testing.assert_array_equal(docs.ai_fraction[odd], round(0.3 * 16) / 16)
    assert (docs.ai_fraction[~odd] == 0).all()


# --- humans.pure_ai ---------------------------------------------------------------------------


@pytest.mark.parametrize("spread", [None, 3.0])
def test_pure_ai_publishes_that_share_of_assisted_documents_wholly_model_written(
    monkeypatch, spread
):
    n, rate = 20_000, 0.25
    docs = written(
        monkeypatch, n, always=False, assist_words=0.5, assist_spread=spread, pure_ai=rate
    )
    assert_human_published(docs)
    odd = docs.author % 2 == 1  # odd writers always draft, even ones never
    assert (docs.ai_fraction[~odd] == 0).all()
    pure = docs.ai_fraction[odd] == 1
    assert (docs.tokens[odd][pure] == MODEL_WORD).all()
    k = int(odd.sum())
    if spread is None:  # the others draft exactly half their words
        assert (docs.ai_fraction[odd][~pure] == 0.5).all()
        assert abs(pure.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / k)
    else:  # a Beta draw may itself round to all words: P(S ≥ 1 − 1/(2L))
        full = stats.beta.sf(1 - 1 / 32, 1.5, 1.5)
        expected = rate + (1 - rate) * full
        assert abs(pure.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / k)


# --- defaults reproduce today's runs ----------------------------------------------------------


def run_metrics(**sections) -> pd.DataFrame:
    scenario = small_scenario(steps=6, **sections)
    return metric_frame(stepped(scenario, scenario.steps))


def test_default_and_constant_point_schedules_reproduce_todays_results_exactly():
    today = run_metrics()
    explicit = run_metrics(
        start_date=None, humans={"assist_spread": None, "pure_ai": 0.0, "ai_assist": 0.1}
    )
    pd.testing.assert_frame_equal(today, explicit)
    one_point = run_metrics(
        web={"ai_share": {"points": {0: 0.3}}}, humans={"ai_assist": {"points": {5: 0.1}}}
    )
    pd.testing.assert_frame_equal(today, one_point)
    # The new keys do act: wholly model-written pages raise the model-written token share.
    pure = run_metrics(humans={"pure_ai": 0.5})["synthetic_token_share"]
    assert (pure.iloc[1:] > today["synthetic_token_share"].iloc[1:]).all()


# --- point schedules and the calendar ---------------------------------------------------------


def test_point_schedules_interpolate_between_points_and_hold_outside():
    schedule = PointSchedule(points={0: 0.0, 24: 0.5, 30: 0.2})
    assert schedule.points == {"0": 0.0, "24": 0.5, "30": 0.2}
    assert [schedule.at(t) for t in (0, 24, 30)] == [0.0, 0.5, 0.2]  # exactly at points
    assert schedule.at(12) == pytest.approx(0.25, abs=1e-15)
    assert schedule.at(27) == pytest.approx(0.35, abs=1e-15)
    assert schedule.at(-5) == 0.0 and schedule.at(31) == schedule.at(10**5) == 0.2
    dated = small_scenario(
        start_date="2025-04", web={"ai_share": {"points": {"2024-10": 0.2, "2025-10": 0.8}}}
    )
    share = dated.ai_share_at
    assert (share(-6), share(6)) == (0.2, 0.8)  # 2024-10 and 2025-10
    assert share(0) == pytest.approx(0.5, abs=1e-15) and share(3) == pytest.approx(0.65)
    assert share(-100) == 0.2 and share(100) == 0.8


def test_the_calendar_counts_one_month_per_step_from_start_date():
    dated = small_scenario(start_date="2025-04")
    assert [dated.date_of(t) for t in (0, 8, 9, -4)] == ["2025-04", "2025-12", "2026-01", "2024-12"]
    assert dated.step_of("2026-01") == 9 and dated.step_of("2022-11") == -29
    assert all(dated.step_of(dated.date_of(t)) == t for t in range(-30, 200, 7))
    plain = small_scenario()
    assert plain.date_of(3) is None
    with pytest.raises(ScenarioError, match="no start_date"):
        plain.step_of("2025-04")
    with pytest.raises(ScenarioError, match="YYYY-MM"):
        dated.step_of("2025-13")


def test_changing_steps_moves_stretched_schedules_but_not_point_schedules(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nstart_date: '2023-01'\n"
        "web: {ai_share: {points: {'2022-11': 0.0, '2024-11': 0.5, '2030-12': 0.5}}}\n"
        "humans: {ai_assist: {points: {0: 0.1, 36: 0.7}}}\n"
    )
    short, long = load(path, ["steps=24"]), load(path, ["steps=240"])
    for t in range(0, 25):
        assert short.ai_share_at(t) == long.ai_share_at(t)
        assert short.ai_assist_at(t) == long.ai_assist_at(t)
    assert short.ai_share_at(22) == 0.5 and short.ai_share_at(10) == pytest.approx(0.25)
    assert short.ai_assist_at(18) == pytest.approx(0.4)
    stretched = {"start": 0.0, "end": 1.0}
    a = small_scenario(steps=24, web={"ai_share": stretched})
    b = small_scenario(steps=240, web={"ai_share": stretched})
    assert a.ai_share_at(12) != pytest.approx(b.ai_share_at(12))


# --- humans.ai_assist as a schedule -----------------------------------------------------------


@pytest.mark.parametrize(
    "level", [{"points": {0: 0.05, 4: 0.45, 9: 0.2}}, {"start": 0.1, "end": 0.6}, 0.3]
)
def test_adoption_targets_the_background_level_of_each_step(level):
    """Exposure 0 (no AI share, no drafted or copied words) and adopt_rate 1: each step's
    assist is exactly that step's level, and step 0's is the initial one."""
    humans = {**STILL, "adopt_rate": 1.0, "assist_words": 0.0, "ai_assist": level}
    scenario = small_scenario(steps=10, web={"ai_share": 0.0}, humans=humans)
    assist = metric_frame(stepped(scenario, 10))["human_ai_assist"].to_numpy()
    expected = [scenario.ai_assist_at(t) for t in range(11)]
    np.testing.assert_allclose(assist, expected, rtol=1e-12, atol=1e-15)
    assert np.ptp(expected) > 0.3 or isinstance(level, float)


def test_one_read_moves_assist_toward_the_level_at_the_models_step():
    r = 0.3
    humans = {**STILL, "adopt_rate": r, "ai_assist": {"points": {0: 0.1, 10: 0.6}}}
    model = stepped(small_scenario(humans=humans))
    pop = model.humans
    np.testing.assert_array_equal(pop.assist, 0.1)
    a = np.random.default_rng(3).random(len(pop))
    pop.assist = a.copy()
    model.steps = 4  # the level at step 4 is 0.3
    window = model.archive  # real text only: exposure 0
    pop.read(window)
    np.testing.assert_allclose(pop.assist, a + r * (0.3 - a), rtol=1e-12)


# --- who else reads schedules -----------------------------------------------------------------


def test_the_ai_share_control_sets_the_last_point_of_a_point_schedule():
    points = {"points": {0: 0.1, 12: 0.4, 24: 0.6}}
    scheduled = small_scenario(web={"ai_share": points})
    assert viz.control_values(scheduled)["web_ai_share"] == 0.6
    moved = viz.with_controls(scheduled, web_ai_share=0.9).web.ai_share
    assert moved.points == {"0": 0.1, "12": 0.4, "24": 0.9}
    assert viz.with_controls(scheduled).config_hash() == scheduled.config_hash()


def test_the_label_rate_follows_its_schedule_step_by_step_and_its_control_sets_the_end():
    # Farms write every document; labels are adopted from 0 at step 0 to 0.8 at step 4, so the
    # farm documents of step t are labelled with probability 0.2·t (binomial, 4 SE).
    points = {"points": {0: 0.0, 4: 0.8}}
    scenario = small_scenario(
        steps=3, web={"ai_share": 1.0}, filtering={"provenance": {"label_rate": points}}
    )
    model = stepped(scenario)
    for t in (1, 2, 3):
        model.step()
        labeled = model.corpus.since(t).labeled
        expected = 0.2 * t
        se = np.sqrt(expected * (1 - expected) / labeled.size)
        assert abs(labeled.mean() - expected) < 4 * se
    assert viz.control_values(scenario)["label_rate"] == 0.8
    moved = viz.with_controls(scenario, label_rate=0.5).filtering.provenance.label_rate
    assert moved.points == {"0": 0.0, "4": 0.5}


def test_a_sweep_factor_can_set_one_point_and_schedules_round_trip_through_yaml(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: s\nstart_date: '2025-01'\n"
        "web: {ai_share: {points: {'2025-01': 0.1, '2026-01': 0.5}}}\n"
        "humans: {ai_assist: {points: {0: 0.1, 24: 0.4}}}\n"
        "sweep: {factors: {web.ai_share.points.2026-01: [0.2, 0.8]}}\n"
    )
    scenario = load(path)
    design = build(scenario)
    arm = next(iter(design.arms))
    shares = [validate(design.config(arm, point)).ai_share_at(12) for point in (0, 1)]
    assert shares == [0.2, 0.8]
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(yaml.safe_dump(scenario.to_dict()))
    again = load(resolved)
    assert again == scenario and again.config_hash() == scenario.config_hash()
    # An override of an integer-keyed point replaces it.
    assert load(path, ["humans.ai_assist.points.24=0.9"]).ai_assist_at(24) == 0.9


# --- bad input: one line naming file and key, exit status 2 -----------------------------------

MONTHS = "web: {ai_share: {points: {'2022-11': 0.0, '2024-11': 0.5}}}\n"
BAD = {
    "months_without_start_date": (
        MONTHS,
        "web.ai_share.points: YYYY-MM times such as '2022-11' need a top-level start_date",
    ),
    "assist_months_without_start_date": (
        "humans: {ai_assist: {points: {'2023-01': 0.1}}}\n",
        "humans.ai_assist.points: YYYY-MM times",
    ),
    "start_date_not_a_month": (
        "start_date: 2025-4\n" + MONTHS,
        "start_date: must be a month written YYYY-MM",
    ),
    "start_date_a_day": ("start_date: 2025-04-01\n", "start_date: must be a month written YYYY-MM"),
    "points_out_of_order": (
        "web: {ai_share: {points: {24: 0.5, 12: 0.1}}}\n",
        "web.ai_share.points: times must strictly increase, but '12' comes after '24'",
    ),
    "points_mixed": (
        "start_date: '2025-01'\nweb: {ai_share: {points: {0: 0.1, '2026-01': 0.5}}}\n",
        "web.ai_share.points: use step numbers or YYYY-MM months",
    ),
    "point_time_bad": (
        "web: {ai_share: {points: {'soon': 0.5}}}\n",
        "web.ai_share.points: time 'soon' is neither a step",
    ),
    "point_value_above_1": (
        "web: {ai_share: {points: {0: 0.1, 12: 1.5}}}\n",
        "web.ai_share.points.12: Input should be less than or equal to 1",
    ),
    "points_empty": ("web: {ai_share: {points: {}}}\n", "web.ai_share.points"),
    "points_and_start": (
        "web: {ai_share: {points: {0: 0.1}, start: 0.1}}\n",
        "web.ai_share.start: unknown key",
    ),
    "spread_needs_inner_mean": (
        "humans: {assist_spread: 5, assist_words: 1.0}\n",
        "humans: assist_spread needs assist_words strictly between 0 and 1",
    ),
    "spread_zero": (
        "humans: {assist_spread: 0}\n",
        "humans.assist_spread: Input should be greater than 0",
    ),
    "spread_huge": (
        "humans: {assist_spread: 1.0e+5}\n",
        "humans.assist_spread: Input should be less than or equal to 10000",
    ),
    "pure_ai_above_1": (
        "humans: {pure_ai: 1.5}\n",
        "humans.pure_ai: Input should be less than or equal to 1",
    ),
    "ai_assist_schedule_bad": (
        "humans: {ai_assist: {start: 0.1}}\n",
        "humans.ai_assist.end: Field required",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_calibration_keys_are_one_line_and_exit_2(tmp_path, case):
    text, fragment = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n" + text)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{path}: {fragment}" in lines[0], result.output
    assert "Traceback" not in result.output


def test_a_bad_set_value_is_refused_before_any_run(tmp_path):
    args = ["--set", "humans.ai_assist={points: {'2023-01': 0.1}}", "--out", str(tmp_path)]
    # The stylised scenario has no start_date, so a month in a schedule cannot be placed.
    result = runner.invoke(app, ["run", "scenarios/stylised.yaml", "-q", *args])
    assert result.exit_code == 2, result.output
    assert "stylised.yaml (with --set): humans.ai_assist.points: YYYY-MM" in result.output
    assert not any(tmp_path.iterdir())
