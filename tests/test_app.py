"""The browser view in-process: controls to scenario, the panels, `ouroboros viz` input."""

from __future__ import annotations

import json
import re

import ipyvuetify as v
import ipywidgets
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import solara
import yaml
from typer.testing import CliRunner

from simulation import app as viz
from simulation import registry, viz_frames
from simulation import viz_controls as ctl
from simulation import viz_panels as panels
from simulation.cli import app as cli
from simulation.runner import run_one
from simulation.scenario import ScenarioError
from tests.conftest import small_scenario

SCHEDULE = {"start": 0.1, "end": 0.6, "shape": "logistic"}


@pytest.fixture
def base():
    return small_scenario(steps=6)


@pytest.fixture
def render():
    """Render dashboards inside an AppLayout (which hosts the sidebar); close them afterwards.

    Closing matters: Mesa's step counter is a global reactive, so a live page from an earlier
    test would redraw on every later Step.
    """
    contexts = []

    def _render(element):
        _, rc = solara.render(solara.AppLayout(children=[element]))
        contexts.append(rc)
        return rc

    yield _render
    for rc in contexts:
        rc.close()


def dashboard(render, base):
    """A dashboard on a fresh model of `base`: (the reactive model, the render context)."""
    model = solara.reactive(ctl.VizEcosystem(base))
    return model, render(viz.dashboard(model, base))


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def model_in_use(rc) -> dict[str, str]:
    """The "Model in use" table: control label -> value shown."""
    table = rc.find(v.SimpleTable, class_="model-in-use")
    cells = [w.children[0] for w in table.find(v.Html, tag="td").widgets]
    return dict(zip(cells[::2], cells[1::2], strict=True))


def control(rc, widget, label: str):
    """The input of a control; a slider's label ends with its value ("Copy rate: 0.2")."""
    if widget is not v.Slider:
        return rc.find(widget, label=label).widget
    (found,) = [w for w in rc.find(v.Slider).widgets if w.label.startswith(f"{label}: ")]
    return found


# --- controls -> scenario -------------------------------------------------------------------


def test_no_controls_reproduce_the_scenario(base):
    assert ctl.with_controls(base).config_hash() == base.config_hash()
    assert ctl.with_controls(base, **ctl.control_values(base)).config_hash() == base.config_hash()


# Every control: (its name, a value, where the scenario keeps it).
SCENARIO_KEYS = [
    ("web_ai_share", 0.55, lambda s: s.web.ai_share),
    ("tpr", 0.42, lambda s: s.filtering.detector.tpr),
    ("fpr", 0.2, lambda s: s.filtering.detector.fpr),
    ("label_rate", 0.9, lambda s: s.filtering.provenance.label_rate),
    ("human_reserve", 0.1, lambda s: s.filtering.human_reserve),
    ("copy_rate", 0.3, lambda s: s.humans.copy_rate),
    ("regime", "replace", lambda s: s.models.regime),
    ("temperature", 1.7, lambda s: s.models.temperature),
    ("top_p", 0.5, lambda s: s.models.top_p),
    ("seed", "123", lambda s: s.seed),
]

# Every control on the page: (widget, label, name, a value the `base` scenario does not have).
PAGE_CONTROLS = [
    (v.Slider, "AI share", "web_ai_share", 0.62),
    (v.Slider, "Detector TPR", "tpr", 0.33),
    (v.Slider, "Detector FPR", "fpr", 0.12),
    (v.Slider, "Provenance label rate", "label_rate", 0.8),
    (v.Slider, "Human reserve", "human_reserve", 0.15),
    (v.Slider, "Copy rate", "copy_rate", 0.4),
    (v.Select, "Regime", "regime", "window"),
    (v.Slider, "Temperature", "temperature", 1.25),
    (v.Slider, "top_p", "top_p", 0.7),
    (v.TextField, "Seed", "seed", "99"),
]


def test_every_control_is_tested_and_on_the_page_with_its_label_and_scenario_value(base):
    """The tables above cover all controls; each page control starts at the scenario's value."""
    values, labels = ctl.control_values(base), ctl.control_labels(base)
    assert sorted(name for name, _, _ in SCENARIO_KEYS) == sorted(values) == sorted(labels)
    assert sorted(name for _, _, name, _ in PAGE_CONTROLS) == sorted(values)
    params = ctl.model_params(base)
    assert sorted(params) == sorted(values)
    for _, label, name, value in PAGE_CONTROLS:
        assert params[name].get("label") == labels[name] == label
        assert params[name].get("value") == values[name] != value


@pytest.mark.parametrize(("control", "value", "read"), SCENARIO_KEYS)
def test_each_control_sets_its_scenario_key_only(base, control, value, read):
    changed = ctl.with_controls(base, **{control: value})
    assert read(changed) == (123 if control == "seed" else value)
    others = {k: v for k, v in ctl.control_values(changed).items() if k != control}
    assert others == {k: v for k, v in ctl.control_values(base).items() if k != control}


def test_ai_share_moves_the_end_of_a_schedule(base):
    scheduled = small_scenario(web={"ai_share": SCHEDULE})
    assert ctl.control_values(scheduled)["web_ai_share"] == 0.6
    share = ctl.with_controls(scheduled, web_ai_share=0.9).web.ai_share
    assert (share.start, share.end, share.shape) == (0.1, 0.9, "logistic")
    assert ctl.control_labels(scheduled)["web_ai_share"] == "AI share (end of schedule)"
    assert ctl.control_labels(base)["web_ai_share"] == "AI share"


def test_a_scenario_without_detector_keeps_none_until_tpr_or_fpr_is_raised():
    bare = small_scenario(filtering={"detector": None})
    assert ctl.control_values(bare)["tpr"] == ctl.control_values(bare)["fpr"] == 0.0
    assert ctl.with_controls(bare, tpr=0.0, fpr=0.0).filtering.detector is None
    detector = ctl.with_controls(bare, tpr=0.7).filtering.detector
    assert (detector.tpr, detector.fpr) == (0.7, 0.0)


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"seed": "twelve"}, "seed must be a non-negative integer (got 'twelve')"),
        ({"seed": "-3"}, "seed must be a non-negative integer"),
        ({"tpr": 1.5}, "filtering.detector.tpr"),
        ({"regime": "forget"}, "models.regime"),
        ({"gain": 1.0}, "unknown control(s) ['gain']"),
    ],
)
def test_bad_control_values_are_scenario_errors(base, controls, message):
    with pytest.raises(ScenarioError) as err:
        ctl.with_controls(base, **controls)
    assert any(message in line for line in err.value.problems), err.value.problems


def test_viz_model_is_replication_zero_of_ouroboros_run(base):
    """Same scenario and seed: the page's model steps exactly like `ouroboros run`'s first run."""
    model = ctl.VizEcosystem(base, seed="11")
    for _ in range(base.steps):
        model.step()
    shown = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    ran = run_one(ctl.with_controls(base, seed="11")).metrics
    pd.testing.assert_frame_equal(shown, ran[shown.columns].reset_index(drop=True))


def test_scenario_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small_scenario().to_dict()))
    monkeypatch.setenv(ctl.SCENARIO_ENV, str(path))
    monkeypatch.setenv(ctl.OVERRIDES_ENV, json.dumps(["humans.copy_rate=0.25"]))
    config = ctl.viz_scenario()
    assert (config.name, config.humans.copy_rate) == ("small", 0.25)
    monkeypatch.delenv(ctl.SCENARIO_ENV)
    monkeypatch.delenv(ctl.OVERRIDES_ENV)
    assert ctl.viz_scenario().name == "baseline"


# --- panels -------------------------------------------------------------------------------


def test_layout_draws_the_linked_core_of_the_best_linked_sites_once_per_network():
    model = ctl.VizEcosystem(small_scenario(web={"n_sites": 300}))
    network = model.network
    layout = panels.site_layout(network, max_sites=50)
    assert panels.site_layout(network, max_sites=50) is layout  # cached: computed once
    degree = np.asarray(network.adjacency.sum(0)).ravel() + network.adjacency.sum(1).A1
    top = np.argsort(-degree, kind="stable")[:50]
    assert 25 <= len(layout.sites) <= 50 and set(layout.sites) <= set(top)
    assert layout.n_sites == 300 and layout.xy.shape == (len(layout.sites), 2)
    assert nx.is_weakly_connected(network.graph.subgraph(layout.sites.tolist()))
    inside = network.adjacency[layout.sites][:, layout.sites].nnz
    assert layout.segments.shape == (inside, 2, 2)


def test_a_small_connected_network_is_drawn_whole(base):
    layout = panels.site_layout(ctl.VizEcosystem(base).network)
    assert np.array_equal(layout.sites, np.arange(base.web.n_sites))


def test_model_written_share_is_one_on_farms_and_partial_on_human_sites(base):
    model = ctl.VizEcosystem(small_scenario(humans={"ai_assist": 0.5}))
    model.step()
    share = panels.model_written_share(model)
    farms = model.network.farm_owner >= 0
    posted = np.bincount(model.recent.site, minlength=model.network.n_sites) > 0
    assert np.all(share[farms & posted] == 1.0)
    human = share[~farms & posted]
    assert np.all((human >= 0) & (human < 1)) and human.max() > 0
    assert np.isnan(share[~posted]).all()


def test_rank_frequency_panel_has_reality_corpus_and_models(base):
    panel = panels.RankFrequencyPanel(ctl.VizEcosystem(base))
    assert [line.get_label() for line in panel.lines] == ["reality", "corpus", "models"]
    reality = panel.lines[0].get_ydata()
    assert len(reality) == base.content.n_topics
    assert np.all(np.diff(reality) <= 0) and reality.sum() == pytest.approx(1.0)
    smallest = min(line.get_ydata().min() for line in panel.lines)
    low, high = panel.ax.get_ylim()  # a decade at or below the smallest share drawn
    assert high == 1.0 and low <= smallest < 10 * low


@pytest.mark.parametrize("view", list(panels.SERIES_TITLES))
def test_series_panels_plot_step_0_by_registry_label_to_the_current_step(base, view):
    model = ctl.VizEcosystem(base)
    panel = panels.SeriesPanel(model, view)
    metrics = registry.shown_in(view)
    assert [line.get_label() for line in panel.lines] == [m.label for m in metrics]
    assert all(list(line.get_xdata()) == [0] for line in panel.lines)  # step 0 is drawn
    assert panel.ax.get_xlim() == (0, base.steps)  # the whole run, from the start
    for _ in range(2):
        model.step()
    panel.update(model)
    assert list(panel.now.get_xdata()) == [2, 2]
    for line, metric in zip(panel.lines, metrics, strict=True):
        values = np.array(model.datacollector.model_vars[metric.name])
        expected = values / values[0] if view in panels.RELATIVE_VIEWS else values
        assert list(line.get_xdata()) == [0, 1, 2]
        np.testing.assert_allclose(line.get_ydata(), expected)
    assert panel.png().startswith(b"\x89PNG")


def test_hill_numbers_are_drawn_relative_to_step_0(base):
    model = ctl.VizEcosystem(base)
    model.step()
    panel = panels.SeriesPanel(model, "viz_diversity")
    assert [line.get_ydata()[0] for line in panel.lines] == [1.0, 1.0, 1.0]
    low, high = panel.ax.get_ylim()  # 0.75-1.25, widened in quarters to hold every line
    drawn = np.concatenate([line.get_ydata() for line in panel.lines])
    assert low <= min(0.75, drawn.min()) and high >= max(1.25, drawn.max())
    assert (4 * low, 4 * high) == (round(4 * low), round(4 * high))


def test_shares_panel_draws_the_ai_share_schedule_over_the_whole_run():
    scheduled = small_scenario(steps=6, web={"ai_share": SCHEDULE})
    model = ctl.VizEcosystem(scheduled)
    panel = panels.SeriesPanel(model, "viz_shares")
    (schedule,) = [line for line in panel.ax.get_lines() if "scheduled" in line.get_label()]
    assert list(schedule.get_xdata()) == list(range(7))
    expected = [0.0] + [scheduled.ai_share_at(t) for t in range(1, 7)]
    np.testing.assert_allclose(schedule.get_ydata(), expected)
    assert expected[1] < expected[-1] <= 0.6  # the logistic rise from 0.1 towards 0.6
    model.step()
    assert model.datacollector.model_vars[registry.AI_SHARE.name][-1] == expected[1]


def test_panels_redraw_only_what_a_step_changes(base):
    """A step changes the picture; the same state draws the same picture; the static
    background is drawn once (its limits did not move)."""
    model = ctl.VizEcosystem(base)
    network = panels.NetworkPanel(model)
    first = network.png()
    background = network._background
    assert network.png() == first
    model.step()
    network.update(model)
    assert network.png() != first and network._background is background


def test_stepper_draws_the_next_step_ahead_and_shows_what_stepping_on_demand_shows(base):
    stepper = viz_frames.Stepper(ctl.VizEcosystem(base))
    assert stepper.current().step == 0
    assert stepper.step().step == 1
    stepper.wait()
    assert stepper.model.steps == 2  # drawn ahead, not shown
    second = stepper.step()
    assert second.step == 2
    on_demand = ctl.VizEcosystem(base)
    for _ in range(2):
        on_demand.step()
    fresh = viz_frames.Stepper(on_demand).current()
    assert second.images == fresh.images and second.values == fresh.values
    hill1 = registry.TOPIC_HILL1.name
    assert second.values[hill1] == tuple(
        on_demand.datacollector.model_vars[hill1][i] for i in (0, 2)
    )
    stepper.wait()
    stepper.run()  # Play: the step drawn ahead (3) counts as this one
    assert stepper.model.steps == 3
    for _ in range(5):
        stepper.run()
    assert stepper.model.steps == base.steps == stepper.current().step  # stops at the end
    assert stepper.step().step == base.steps


def test_value_table_gives_step_0_and_now_with_registry_labels_and_units(base):
    stepper = viz_frames.Stepper(ctl.VizEcosystem(base))
    stepper.step()
    frame = stepper.step()
    stepper.wait()  # the model is at step 3 now; the frame shows step 2
    table = viz.value_table(frame, "viz_diversity")
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    cells = [re.findall(r">([^<]*)</td>", row) for row in rows]
    assert cells[0] == ["", "step 0", "step 2", "unit"]
    hill0 = registry.TOPIC_RICHNESS
    column = stepper.model.datacollector.model_vars[hill0.name]
    assert cells[1] == [hill0.label, f"{column[0]:.3g}", f"{column[2]:.3g}", hill0.unit]
    assert [row[0] for row in cells[1:]] == [m.label for m in registry.shown_in("viz_diversity")]


# --- the Solara page ------------------------------------------------------------------------


def test_step_advances_model_time_and_redraws_every_panel(render, base):
    model, rc = dashboard(render, base)
    before = images(rc)
    assert len(before) == 4
    click(rc, "Step")
    assert model.value.steps >= 1  # 2 once the next step is drawn ahead
    after = images(rc)
    assert all(a != b for a, b in zip(before, after, strict=True))
    rc.find(v.Html, children=["Step 1 of 6"]).assert_single()


def test_changing_the_controls_then_reset_rebuilds_the_model_with_them(render, base):
    """Every control end to end on one page: the sliders, the regime Select and the seed
    InputText (checked as typed). That each sets its own scenario key and no other is
    `test_each_control_sets_its_scenario_key_only`."""
    model, rc = dashboard(render, base)
    first = model.value
    start = {name: control(rc, w, label).v_model for w, label, name, _ in PAGE_CONTROLS}
    assert start == ctl.control_values(base)
    for widget, label, _, value in PAGE_CONTROLS:
        control(rc, widget, label).v_model = value
    assert model.value is first and model.value.config == base  # controls apply on Reset only
    click(rc, "Reset")
    assert model.value is not first and model.value.steps == 0
    chosen = {name: value for _, _, name, value in PAGE_CONTROLS}
    assert ctl.control_values(model.value.config) == chosen
    assert model.value.config == ctl.with_controls(base, **chosen)  # nothing else changed
    assert model.value.config.seed == 99
    assert model_in_use(rc) == {label: str(value) for _, label, _, value in PAGE_CONTROLS}


def test_a_bad_seed_is_shown_at_its_input_and_disables_reset_only(render, base):
    model, rc = dashboard(render, base)
    seed = control(rc, v.TextField, "Seed")
    seed.v_model = "abc"
    assert seed.error and seed.messages == ["seed must be a non-negative integer (got 'abc')"]
    reset = rc.find(v.Btn, children=["Reset"]).widget
    assert reset.disabled
    rc.find(v.Alert, children=["Reset is off until these controls are valid: Seed"]).assert_single()
    click(rc, "Step")  # the running model goes on
    rc.find(v.Html, children=["Step 1 of 6"]).assert_single()
    assert model.value.steps >= 1 and model.value.config == base
    seed.v_model = "7"
    assert not reset.disabled and not seed.error and seed.messages == []
    click(rc, "Reset")
    assert model.value.config.seed == 7 and model.value.steps == 0


def test_page_builds_its_model_from_the_environment(render, tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small_scenario(filtering={"human_reserve": 0.37}).to_dict()))
    monkeypatch.setenv(ctl.SCENARIO_ENV, str(path))
    monkeypatch.delenv(ctl.OVERRIDES_ENV, raising=False)
    rc = render(viz.Page())
    assert model_in_use(rc)["Human reserve"] == "0.37"
    assert len(rc.find(ipywidgets.Image).widgets) == 4


# --- ouroboros viz: bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.yaml"], "nope.yaml"),
        (["scenarios/baseline.yaml", "--set", "web.ai_share=2"], "web.ai_share"),
        (["scenarios/baseline.yaml", "--port", "70000"], "--port"),
    ],
)
def test_viz_rejects_bad_input_with_status_2_before_serving(args, message):
    result = CliRunner().invoke(cli, ["viz", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and "Solara server" not in result.output


def test_slider_ranges_hold_the_scenario_value():
    extreme = small_scenario(models={"temperature": 5.0, "top_p": 0.01})
    params = ctl.model_params(extreme)
    for name, value in (("temperature", 5.0), ("top_p", 0.01)):
        assert params[name].min <= value <= params[name].max and params[name].value == value
