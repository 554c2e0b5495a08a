"""`ouroboros calibrate`: a scenario against published measurements of today's web, and `--fit`.

The work is `analysis.calibration`'s (imported when the command runs: `simulation` does not
depend on `analysis`); this module reads the command line, checks everything before the first
simulation (scenario, targets file, every fit point, budget, output folder: bad input exits 2
with one line per problem), says what it simulates, and prints the results
(`simulation.console`). Exit 0 when every target is in its band (at the best point of a fit),
1 when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from simulation.cli_options import (
    SCENARIO_DIR,
    Force,
    Overrides,
    Quiet,
    check_before_running,
    load_scenario,
)
from simulation.console import (
    err,
    fail,
    out,
    print_calibration,
    print_fit,
    step_progress,
    user_errors,
)

if TYPE_CHECKING:
    from simulation.scenario import Scenario

DEFAULT_TARGETS = SCENARIO_DIR / "calibration" / "today.toml"
MAX_POINTS = 100_000


def _span(config: Scenario, last: int) -> str:
    """Steps 0…last, with their months when the scenario has a calendar."""
    if config.start_date is None:
        return f"steps 0–{last}"
    return f"steps 0–{last} ({config.date_of(0)} to {config.date_of(last)})"


def calibrate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file to calibrate.")],
    targets: Annotated[
        Path, typer.Option("--targets", help="Targets file (TOML): measurements, free parameters.")
    ] = DEFAULT_TARGETS,
    overrides: Overrides = None,
    replications: Annotated[
        int | None, typer.Option("--replications", "-r", min=1, help="Override replications.")
    ] = None,
    fit: Annotated[
        bool,
        typer.Option("--fit", help="Estimate the free parameters; write the fitted scenario."),
    ] = False,
    points: Annotated[
        int, typer.Option("--points", min=2, max=MAX_POINTS, help="Points of the fit's design.")
    ] = 32,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Parallel runs (results do not change).")
    ] = 1,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the fit's output folder.")
    ] = Path("runs"),
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Compare a scenario with measurements of today's web; exit 1 if one is out of its band.

    With --fit, estimate the targets file's free parameters by the method of simulated moments
    and write the fitted scenario, every point and an account into a new folder under --out.
    """
    from analysis.calibration import check as checks
    from analysis.calibration import fit as fits
    from analysis.calibration import targets as target_files
    from analysis.calibration import write as outputs
    from simulation import budget
    from simulation.scenario import ScenarioError

    extra = [f"replications={replications}"] if replications is not None else []
    config = load_scenario(scenario, (overrides or []) + extra)
    if config.sweep is not None:
        fail([f"{scenario}: has a `sweep:` section; calibrate a scenario without one"])
    with user_errors():
        goals = target_files.load(targets, config)
        if fit and not goals.free:
            raise ScenarioError([f"{targets}: --fit needs at least one [[free]] parameter"])
        design = fits.plan(config, goals, points) if fit else None
        if fit:  # only a fit writes a folder
            check_before_running(config, out_dir, str(scenario), force=force, workers=workers)
        else:
            budget.check_budget(config, force=force, source=str(scenario), workers=workers)
    n_points = points if fit else 1
    runs = n_points * config.replications
    out.print(
        f"Calibrating {config.name} against {len(goals.targets)} target(s) of "
        f"{escape(str(targets))}: "
        f"{config.replications} replication(s), each simulated over "
        f"{_span(config, goals.last_step)}, up to the latest target (the scenario has "
        f"{config.steps} steps).",
        highlight=False,
    )
    if fit:
        keys = ", ".join(free.key for free in goals.free)
        out.print(
            f"Fit: {points} points of a Latin hypercube over {keys} × {config.replications} "
            f"replication(s) = {runs} runs on {workers} worker(s); every point runs on the same "
            "seeds.",
            highlight=False,
        )
    try:
        with user_errors(), step_progress(quiet, f"{config.name}: runs") as progress:
            tick = progress(runs) if progress is not None else None
            if design is not None:
                result = fits.fit(goals, design, config.replications, workers, tick)
                comparisons = checks.compare(goals, result.moments, result.best)
            else:
                comparisons = checks.check(config, goals, workers, tick)
    except KeyboardInterrupt:
        err.print("interrupted: nothing was written")
        raise typer.Exit(130) from None
    where = "at the best fit point" if fit else "at each target's step"
    over = f"mean over {config.replications} replications ± SE"
    if config.replications == 1:
        over = "one replication: no SE, see -r"
    print_calibration(comparisons, f"Targets {where} ({over})")
    if design is not None:
        print_fit(result)
        settings = {
            "scenario": str(scenario),
            "overrides": " ".join(f"--set {o}" for o in overrides or []) or "none",
            "targets": str(targets),
            "replications": config.replications,
            "steps simulated": f"0–{goals.last_step} of {config.steps}",
            "points": points,
            "workers": workers,
        }
        with user_errors():
            folder = outputs.write_fit(
                result, config, scenario, list(overrides or []), out_dir, settings
            )
        written = ", ".join(sorted(path.name for path in folder.iterdir()))
        out.print(
            f"Fit outputs: [bold]{escape(str(folder))}[/] ({written}); run the fitted scenario "
            f"with: ouroboros run {escape(str(folder / outputs.fitted_name(config)))}",
            highlight=False,
            soft_wrap=True,
        )
    passed = sum(c.passed for c in comparisons)
    out.print(f"{passed} of {len(comparisons)} targets in their band.", highlight=False)
    if passed < len(comparisons):
        raise typer.Exit(1)
