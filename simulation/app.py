"""The browser view served by `ouroboros viz SCENARIO`: a Solara page on Mesa's model.

`ouroboros viz` validates the scenario, passes it in the environment (`OUROBOROS_VIZ_SCENARIO`,
`OUROBOROS_VIZ_SET`) and runs `solara run simulation.app` on 127.0.0.1 in production mode with
telemetry and version checks off (solara's development mode pings solara.dev from the page).

The page is laid out like Mesa's SolaraViz (controls in the sidebar, panels in the main area)
but built here, because SolaraViz redraws every figure from scratch at every step of Play, turns
a bad control value into a traceback page on Reset, and adds a tab bar and a time box this page
does not need. Step, Play/Pause and Reset drive a `simulation.viz_frames.Stepper`, which draws
the step after the one shown ahead of the next click; during Play the panels are redrawn at
most every `FRAME_SECONDS` (the model runs on in between), so the run plays at the model's
speed. Panels are persistent matplotlib figures (`simulation.viz_panels`); the front
end comes from solara-assets, so nothing is fetched from a CDN (Altair/vega or
solara.Markdown's KaTeX would be).
"""

from __future__ import annotations

import html
import time
import warnings
from typing import Any

import reacton.ipywidgets as rw
import solara
import solara.lab
import solara.server.settings
from mesa.visualization import Slider

from simulation import registry, viz_panels
from simulation.scenario import Scenario, ScenarioError
from simulation.schedules import month_number, month_text
from simulation.viz_controls import (
    OVERRIDES_ENV,
    SCENARIO_ENV,
    VizEcosystem,
    control_labels,
    control_problem,
    control_values,
    model_params,
    viz_scenario,
    with_controls,
)
from simulation.viz_frames import Frame, Stepper

# What other modules read of the view (the `viz` command, tests of scheduled controls).
__all__ = [
    "OVERRIDES_ENV",
    "SCENARIO_ENV",
    "Page",
    "control_values",
    "dashboard",
    "page",
    "with_controls",
]

# Served over http on 127.0.0.1, solara warns on every page load that its session cookie falls
# back to SameSite=lax, which is what a local page wants.
warnings.filterwarnings("ignore", message="Cookies with samesite=none", category=UserWarning)
# Solara's "This website runs on Solara" badge sits over the bottom-right figure.
solara.server.settings.theme.show_banner = False

FRAME_SECONDS = 0.4  # during Play, the panels are redrawn at most this often


def step_text(cfg: Scenario, t: int) -> str:
    """The page's step counter at step `t`, e.g. "Step 3 of 97 (2023-02)"."""
    month = f" ({month_text(month_number(cfg.start_date) + t)})" if cfg.start_date else ""
    return f"Step {t} of {cfg.steps}{month}"


def slider_label(label: str, value: Any) -> str:
    """A slider's label with its value, which Vuetify's slider does not show."""
    return f"{label}: {value:g}" if isinstance(value, int | float) else f"{label}: {value}"


def info_paragraphs(base: Scenario) -> list[tuple[str, str]]:
    """The info panel: (heading, text) pairs, plain text (no Markdown: it would load KaTeX)."""
    diversity = ", ".join(m.label for m in registry.shown_in("viz_diversity"))
    shares = ", ".join(m.label for m in registry.shown_in("viz_shares"))
    return [
        (
            "The model",
            "Human writers, AI models and web crawlers share a web of sites. Each "
            "step (one month) humans publish documents, some drafted with AI; content farms "
            "publish model-written pages at the scheduled AI share; crawlers collect and filter "
            "what is new; the models retrain on what the crawlers kept. When models learn from "
            "their own output, rare topics and words can vanish: model collapse. docs/ODD.md "
            "describes the model in full.",
        ),
        (f"This scenario: {base.name}", base.description or "(no description)"),
        (
            "Site network",
            "The best-linked sites and their links. Colour: the model-written "
            "share of a site's documents in the metrics window (dark purple 0 = all human, yellow "
            "1 = all model-written; grey = no new documents there in the window). Size: documents "
            "the site has published so far.",
        ),
        (
            "Topic diversity",
            f"{diversity}, each divided by its value at step 0 (the pre-AI "
            "web), so 1 means as diverse as before AI and lines below 1 show topics being lost. "
            "The table under the figure gives the values with their units.",
        ),
        (
            "Shares",
            f"{shares} (0 to 1); the dashed grey line is the scheduled AI share of new "
            "documents over the whole run. The dotted vertical line marks the current step.",
        ),
        (
            "Rank-frequency",
            "Topics sorted from most to least common, on log axes: reality "
            "(the true topic distribution), the corpus window and the average model. Collapse "
            "shows as the corpus and model curves ending before reality's (lost tail topics).",
        ),
        (
            "Controls",
            "Step runs one month, Play runs to the end (Pause stops), Reset builds a "
            "new model with the controls' values (seeded like replication 0 of ouroboros run). "
            "The controls take effect on Reset only; 'Model in use' shows the running values.",
        ),
        (
            "Not shown",
            "A no-AI counterfactual line: running the no-AI twin costs as much as "
            "the run itself; ouroboros run --twins computes it.",
        ),
    ]


@solara.component
def InfoPanel(base: Scenario) -> None:
    """A collapsed "About" section: what the model is and how to read each panel."""
    items = [
        solara.v.Html(tag="p", children=[solara.v.Html(tag="b", children=[f"{head}. "]), text])
        for head, text in info_paragraphs(base)
    ]
    solara.Details(
        summary="About this view: the model, the panels, colours and sizes", children=items
    )


def value_table(frame: Frame, view: registry.View) -> str:
    """HTML table of a time-series panel's metrics at step 0 and at the frame's step, with
    units. One HTML string, not a widget per cell: the page redraws it at every step."""
    rows = [("", "step 0", f"step {frame.step}", "unit")] + [
        (m.label, f"{frame.values[m.name][0]:.3g}", f"{frame.values[m.name][1]:.3g}", m.unit)
        for m in registry.shown_in(view)
    ]
    td = '<td style="padding: 1px 14px 1px 0">'
    cells = ["".join(f"{td}{html.escape(cell)}</td>" for cell in row) for row in rows]
    body = "".join(f"<tr>{row}</tr>" for row in cells)
    return f'<table class="value-table"><tbody>{body}</tbody></table>'


@solara.component
def Panels(stepper: Stepper, frame: solara.Reactive[Frame]) -> None:
    """The figures of the frame shown. Only this component and `RunControls` read `frame`:
    re-rendering the whole page per step would cost as much as the drawing."""
    shown = frame.value
    with solara.ColumnsResponsive(12, large=6):
        for panel, image in zip(stepper.panels, shown.images, strict=True):
            with solara.Column(gap="0px"):
                rw.Image(value=image, format="png", layout=rw.Layout(max_width="100%"))
                if isinstance(panel, viz_panels.SeriesPanel):
                    solara.HTML(
                        tag="div",
                        unsafe_innerHTML=value_table(shown, panel.view),
                        style={"padding": "0 16px", "font-size": "0.9em"},
                    )


@solara.component
def ControlInputs(base: Scenario, chosen: solara.Reactive[dict[str, Any]]) -> None:
    """One input per control; a bad value is shown with its problem under the input and never
    reaches a model (Reset is disabled until it is fixed)."""
    for name, spec in model_params(base).items():
        value = chosen.value[name]

        def change(new: Any, name: str = name) -> None:
            chosen.value = {**chosen.value, name: new}

        problem = control_problem(base, name, value)
        if isinstance(spec, Slider):
            solara.SliderFloat(
                slider_label(spec.label, value),
                value=value,
                min=spec.min,
                max=spec.max,
                step=spec.step,
                on_value=change,
            )
        elif spec["type"] == "Select":
            solara.Select(spec["label"], value=value, values=spec["values"], on_value=change)
        else:
            solara.InputText(
                spec["label"],
                value=value,
                on_value=change,
                continuous_update=True,
                error=problem or False,
            )
            continue  # InputText shows its own error
        if problem:
            solara.Error(problem, dense=True)


@solara.component
def RunControls(
    model: solara.Reactive[VizEcosystem],
    stepper: Stepper,
    frame: solara.Reactive[Frame],
    base: Scenario,
    chosen: solara.Reactive[dict[str, Any]],
) -> None:
    """Reset, Play/Pause and Step, the step counter and why Reset is off (if it is)."""
    playing = solara.use_reactive(False)
    failed = solara.use_reactive(None)  # why the last Reset built no model
    shown = frame.value
    done = shown.step >= stepper.last_step
    choice = chosen.value
    bad = solara.use_memo(
        lambda: [
            label
            for name, label in control_labels(base).items()
            if control_problem(base, name, choice[name])
        ],
        [choice],
    )

    def step() -> None:
        frame.value = stepper.step()

    def play() -> None:
        """Step until Pause, Reset or the end; draw a frame at most every FRAME_SECONDS."""
        if not playing.value:
            return
        drawn = time.monotonic()
        while playing.value and model.value is stepper.model:
            stepper.run()
            if stepper.model.steps >= stepper.last_step:
                break
            if time.monotonic() - drawn >= FRAME_SECONDS:
                frame.value = stepper.current()
                drawn = time.monotonic()
        if model.value is stepper.model:
            frame.value = stepper.current()
        playing.value = False

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)

    def reset() -> None:
        playing.value = False
        try:  # each control is valid (else Reset is off); a model can still refuse them
            fresh = VizEcosystem(base, **chosen.value)
        except ScenarioError as error:
            failed.value = "; ".join(error.problems)
            return
        failed.value = None
        model.value = fresh

    solara.Text(
        step_text(stepper.model.config, shown.step),
        style={"font-weight": "bold", "font-size": "1.1em"},
    )
    with solara.Row(justify="space-between"):
        solara.Button("Reset", color="primary", on_click=reset, disabled=bool(bad))
        solara.Button(
            "Pause" if playing.value else "Play",
            color="primary",
            on_click=lambda: playing.set(not playing.value),
            disabled=done,
        )
        solara.Button("Step", color="primary", on_click=step, disabled=playing.value or done)
    if bad:
        solara.Warning(f"Reset is off until these controls are valid: {', '.join(bad)}", dense=True)
    if failed.value:
        solara.Error(f"Reset kept the running model: {failed.value}", dense=True)


@solara.component
def ModelInUsePanel(model: VizEcosystem) -> None:
    """The running model's control values (the controls only take effect on Reset)."""
    labels, values = control_labels(model.config), control_values(model.config)
    solara.Text("Model in use (Reset applies the controls)", style={"font-weight": "bold"})
    with solara.v.SimpleTable(dense=True, class_="model-in-use"), solara.v.Html(tag="tbody"):
        for key, label in labels.items():
            with solara.v.Html(tag="tr"):
                solara.v.Html(tag="td", children=[label])
                solara.v.Html(tag="td", children=[str(values[key])])


@solara.component
def Dashboard(model: solara.Reactive[VizEcosystem], base: Scenario) -> None:
    """The page on `model`: controls in the sidebar, the about section and the panels."""
    stepper = solara.use_memo(lambda: Stepper(model.value), [model.value])
    # The frame shown, one reactive per model (a Reset starts from the new model's step 0).
    frame = solara.use_memo(lambda: solara.reactive(stepper.current()), [stepper])
    chosen = solara.use_reactive(control_values(base))
    solara.Title(f"Ouroboros: {base.name}")
    with solara.AppBar():
        solara.AppBarTitle(f"Ouroboros: {base.name}")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            RunControls(model, stepper, frame, base, chosen)
        with solara.Card("Controls (applied on Reset)"):
            ControlInputs(base, chosen)
        with solara.Card():
            ModelInUsePanel(model.value)
    with solara.Column():
        InfoPanel(base)
        Panels(stepper, frame)


def dashboard(model: solara.Reactive[VizEcosystem], base: Scenario):
    """The page element for `model`, with controls starting at `base`'s values."""
    return Dashboard(model, base)


@solara.component
def Page() -> None:
    """One model per browser session, built from the scenario `ouroboros viz` was given."""
    base = solara.use_memo(viz_scenario, [])
    model = solara.use_reactive(solara.use_memo(lambda: VizEcosystem(base), [base]))
    dashboard(model, base)


page = Page()
