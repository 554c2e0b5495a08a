"""The `ouroboros` command line (typer): run, check, schema, list, sweep, the verbs on finished
folders (runs, compare, report, export) and the analysis verbs (validate, calibrate, viz); the
options they share are in `simulation.cli_options`.

Each command imports what it uses when it runs, so that `--help` and `--version` load typer and
rich only and `check` adds the scenario schema and the budget estimate, not the model (mesa,
pandas, scipy); tests/test_startup.py holds this.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulation.calibrate_cli import calibrate
from simulation.cli_options import (
    SCENARIO_DIR,
    Force,
    Overrides,
    Quiet,
    check_before_running,
    command_record,
    load_scenario,
)
from simulation.console import (
    err,
    fail,
    new_table,
    out,
    print_next,
    print_summary,
    step_progress,
    user_errors,
)
from simulation.folders_cli import compare, export, list_runs, report

if TYPE_CHECKING:
    from simulation.designs import Design
    from simulation.scenario import Scenario

app = typer.Typer(
    help="Ouroboros: simulate model collapse on the open web.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(given: bool) -> None:
    """`--version`: print `ouroboros <version>` (from the installed package's metadata), exit."""
    if given:
        from importlib.metadata import version

        out.print(f"ouroboros {version('ouroboros')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Ouroboros: simulate model collapse on the open web."""
    from simulation.memory import prepare_process

    prepare_process()


Twins = Annotated[
    bool,
    typer.Option(
        "--twins",
        help="Also run each replication's no-AI and no-feedback twins (counterfactuals=true).",
    ),
]


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for run folders.")] = Path("runs"),
    overrides: Overrides = None,
    replications: Annotated[
        int | None, typer.Option("--replications", "-r", help="Override replications.")
    ] = None,
    quiet: Quiet = False,
    force: Force = False,
    twins: Twins = False,
) -> None:
    """Run a scenario (all its replications) and write a run folder."""
    extra = [f"replications={replications}"] if replications is not None else []
    extra += ["counterfactuals=true"] if twins else []
    config = load_scenario(scenario, (overrides or []) + extra)
    command = command_record(
        scenario, overrides, extra, out=out_dir, replications=replications, twins=twins, force=force
    )
    if config.sweep is not None:
        fail([f"{scenario}: has a `sweep:` section; run it with `ouroboros sweep {scenario}`"])
    with user_errors():
        est = check_before_running(config, out_dir, str(scenario), force=force)
    from simulation.memory import loading_modules

    with loading_modules(est):  # and part of the run's heap warmed meanwhile
        from simulation.runner import run_scenario

    with user_errors(), step_progress(quiet, config.name) as progress:
        run_dir = run_scenario(config, out_root=out_dir, progress=progress, command=command)
    print_summary(run_dir)
    out.print(f"Results: [bold]{run_dir}[/]", highlight=False)
    print_next(quiet, "ouroboros", "report", str(run_dir))


@app.command()
def check(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files to validate.")],
    overrides: Overrides = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Parallel runs (sweeps' memory).")
    ] = 2,
) -> None:
    """Validate scenario files as `run` and `sweep` would (every design point, the memory and
    work budget); print each one's estimated size; exit status 2 if any is invalid."""
    from simulation import budget
    from simulation.scenario import ScenarioError, load

    problems: list[str] = []
    for path in scenarios:
        try:
            config = load(path, overrides or [])
            est = budget.check_budget(config, force=False, source=str(path), workers=workers)
            if config.sweep is not None:  # only sweeps need pandas (and scipy or SALib)
                from simulation.designs import build

                build(config, str(path))
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        sweep = f", sweep: {config.sweep.design}" if config.sweep else ""
        line = f"ok  {path}  ({config.name}, {config.steps} steps{sweep})"
        out.print(line, highlight=False, soft_wrap=True)
        out.print(f"    {est.describe()}", highlight=False, soft_wrap=True)
    if problems:
        fail(problems)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    from simulation.scenario import Scenario

    sys.stdout.write(json.dumps(Scenario.model_json_schema(), indent=2) + "\n")


@app.command("list")
def list_scenarios() -> None:
    """List the bundled scenarios with their descriptions."""
    from simulation.scenario import ScenarioError, load

    table = new_table(title=f"Bundled scenarios ({SCENARIO_DIR})")
    table.add_column("file")
    table.add_column("description")
    for path in sorted(SCENARIO_DIR.rglob("*.yaml")):
        try:
            desc = load(path).description
        except ScenarioError as exc:
            desc = f"[red]invalid: {exc.problems[0]}[/]"
        table.add_row(str(path.relative_to(SCENARIO_DIR)), desc)
    out.print(table)


class ExecutorChoice(StrEnum):
    """`ouroboros sweep --executor` values."""

    process = "process"
    dask = "dask"


def sweep_to_run(
    scenario: Path | None,
    overrides: list[str] | None,
    out_dir: Path,
    resume: Path | None,
    *,
    force: bool,
    workers: int,
    notes: list[str],
) -> tuple[Scenario, Design, Path | None]:
    """The sweep `ouroboros sweep` is asked for, checked before anything runs: its scenario,
    design and, when resuming, its folder (cleaned of a killed sweep's leftovers; None for a new
    sweep, whose folder is made once the executor is up)."""
    from simulation import budget, preflight, sweep_status
    from simulation import sweep as sweeps
    from simulation.designs import build
    from simulation.scenario import load

    if resume is not None:
        given = load(scenario, overrides or []) if scenario is not None else None
        config, design = sweeps.reopen(resume, given)
        preflight.check_output_root(resume, "", "--resume")
        budget.check_budget(config, force=force, source=str(resume), workers=workers)
        notes += [
            f"removed {path}, left by a killed sweep"
            for path in sweep_status.clean_leftovers(resume)
        ]
        return config, design, resume
    if scenario is None:
        fail(["give a SCENARIO to start a sweep, or --resume DIR to finish one"])
    config = load(scenario, overrides or [])
    if config.sweep is None:
        fail([f"{scenario}: no `sweep:` section; use `ouroboros run {scenario}`"])
    check_before_running(config, out_dir, str(scenario), force=force, workers=workers)
    return config, build(config, str(scenario)), None


@app.command()
def sweep(
    scenario: Annotated[
        Path | None, typer.Argument(help="Sweep scenario (a YAML file with a `sweep:` section).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for sweep folders.")] = Path(
        "runs"
    ),
    overrides: Overrides = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Parallel runs.")] = 2,
    executor: Annotated[
        ExecutorChoice, typer.Option(help="Where runs execute: local processes or Dask.")
    ] = ExecutorChoice.process,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler, e.g. tcp://host:8786.")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Finish an interrupted sweep folder: run what is missing.")
    ] = None,
    quiet: Quiet = False,
    force: Force = False,
    twins: Twins = False,
) -> None:
    """Run a sweep (design × arms × replications) in parallel; resumable."""
    import time
    from contextlib import ExitStack

    from simulation import preflight
    from simulation import sweep as sweeps

    started = time.perf_counter()
    notes: list[str] = []
    if twins and scenario is None:
        fail(["--twins: a resumed sweep keeps its own setting; give --resume DIR alone"])
    extra = ["counterfactuals=true"] if twins else []
    command = command_record(
        scenario,
        overrides,
        extra,
        out=out_dir,
        workers=workers,
        executor=executor.value,
        scheduler=scheduler,
        resume=resume,
        twins=twins,
        force=force,
    )
    overrides = (overrides or []) + extra
    with user_errors():
        config, design, sweep_dir = sweep_to_run(
            scenario, overrides, out_dir, resume, force=force, workers=workers, notes=notes
        )
        if scheduler is not None:
            scheduler = preflight.check_scheduler(scheduler)
    with ExitStack() as stack:
        try:  # connect before making a folder: a wrong address leaves nothing behind
            pool = stack.enter_context(sweeps.open_executor(executor.value, workers, scheduler))
        except OSError as exc:
            fail([f"--scheduler {scheduler}: cannot connect ({' '.join(str(exc).split())[:160]})"])
        with user_errors():
            if sweep_dir is None:
                sweep_dir, design = sweeps.create(config, out_dir, str(scenario), design, command)
            todo = int((sweeps.read_status(sweep_dir, design, notes)["state"] != sweeps.DONE).sum())
        for note in notes:
            err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
        err.print(f"Sweep folder: {sweep_dir} ({len(design.table)} runs, {todo} to do)")
        try:
            with step_progress(quiet, f"{config.name}: runs") as progress:
                tick = progress(todo) if progress is not None else None
                status = sweeps.execute(
                    sweep_dir, design, pool, on_finished=(lambda *_: tick()) if tick else None
                )
        except KeyboardInterrupt:
            err.print(
                f"interrupted; finished runs kept. Resume: ouroboros sweep --resume {sweep_dir}"
            )
            raise typer.Exit(130) from None
        except OSError as exc:
            fail([f"{exc}; finished runs kept. Resume: ouroboros sweep --resume {sweep_dir}"])
    session = sweeps.session_record(executor.value, workers, scheduler, started, status, command)
    with user_errors():
        status = sweeps.assemble(sweep_dir, config, design, session)
    failed = status[status["state"] == sweeps.FAILED]
    out.print(
        f"{session['done']} of {len(status)} runs done, {len(failed)} failed, "
        f"{session['wall_seconds']:.1f} s on {workers} worker(s) ({session['executor']})"
    )
    for row in failed.head(5).itertuples():
        err.print(f"[red]run {row.run_id} failed:[/] {row.error}", highlight=False)
    out.print(f"Results: [bold]{sweep_dir}[/]", highlight=False)
    if len(failed):
        print_next(quiet, "ouroboros", "sweep", "--resume", str(sweep_dir))
        raise typer.Exit(1)
    print_next(quiet, "ouroboros", "report", str(sweep_dir))


app.command("runs")(list_runs)
app.command()(compare)


@app.command()
def validate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path(
        "validation"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="Reduced sizes: about half a minute.")
    ] = False,
    overrides: Overrides = None,
    cases: Annotated[
        list[str] | None, typer.Option("--case", help="Run only this case (repeatable).")
    ] = None,
) -> None:
    """Reproduce published collapse results and check them against theory; exit 1 if one fails."""
    from analysis.validation import CASES, run_cases, write_report

    unknown = sorted(set(cases or []) - set(CASES))
    if unknown:
        fail([f"--case {name}: unknown case; choose from {', '.join(CASES)}" for name in unknown])
    table = new_table(title=f"Validation ({'quick' if quick else 'full'} size)")
    table.add_column("case")
    table.add_column("checks", justify="right")
    table.add_column("result")

    def report(result) -> None:
        passed = sum(c.passed for c in result.checks)
        verdict = "[green]pass[/]" if result.passed else "[bold red]FAIL[/]"
        table.add_row(result.title, f"{passed}/{len(result.checks)}", verdict)
        err.print(f"{result.key}: {'pass' if result.passed else 'FAIL'}", highlight=False)

    with user_errors():
        results = run_cases(quick=quick, overrides=overrides or [], only=cases, on_case=report)
        html_path, md_path = write_report(results, out_dir, quick=quick, overrides=overrides)
    out.print(table)
    out.print(f"Report: [bold]{html_path}[/] and {md_path}", highlight=False)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


app.command()(calibrate)
app.command()(report)
app.command()(export)


@app.command()
def viz(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario YAML file (default: the bundled baseline).")
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free).")
    ] = 8765,
    overrides: Overrides = None,
) -> None:
    """Serve the browser view (Mesa SolaraViz) of a scenario on 127.0.0.1 until Ctrl+C."""
    import os

    from simulation.preflight import check_port_free

    path = scenario or SCENARIO_DIR / "baseline.yaml"
    load_scenario(path, overrides)  # bad input exits 2 before any server starts
    with user_errors():
        check_port_free("127.0.0.1", port)
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "false"  # read when solara is imported
    from solara.__main__ import cli as solara_cli

    from simulation.app import OVERRIDES_ENV, SCENARIO_ENV

    os.environ[SCENARIO_ENV] = str(path.resolve())
    os.environ[OVERRIDES_ENV] = json.dumps(overrides or [])
    args = ["run", "simulation.app", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--no-open", "--production", "--no-check-version"]
    solara_cli.main(args, prog_name="ouroboros viz", standalone_mode=False)


if __name__ == "__main__":  # pragma: no cover
    app()
