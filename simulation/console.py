"""What the `ouroboros` command line prints: its consoles, error lines, progress bars, the
table of final metrics (with the dilution/feedback split when a run has twins) and the tables
of `ouroboros calibrate` (targets against simulation, fitted parameters).

Every user error ends here as one line per problem on stderr and exit status 2 (`fail`,
`user_errors`), never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from analysis.calibration.check import Comparison
    from analysis.calibration.fit import Fit

out = Console()
err = Console(stderr=True)


def fail(problems: list[str]) -> None:
    """Print one line per problem to stderr and exit with status 2 (a problem's text is never
    read as markup: it quotes user input, such as a targets file's `[[free]]`)."""
    for line in problems:
        err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def user_errors():
    """Turn bad input into clear messages and exit status 2, never a traceback."""
    from simulation.yaml_input import ScenarioError

    try:
        yield
    except ScenarioError as exc:
        fail(exc.problems)
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError) as exc:
        fail([f"{exc.filename or ''}: {exc.strerror or exc}"])


@contextmanager
def step_progress(quiet: bool, label: str):
    """A rich progress bar with ETA; yields a factory `total -> tick callback`."""
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:

        def factory(total: int) -> Callable[[], None]:
            task = bar.add_task(label, total=total)
            return lambda: bar.advance(task)

        yield factory


def print_summary(run_dir: Path) -> None:
    """Final values of the metrics the CLI shows, median over replications, as a small table.

    With counterfactual twins, each metric also gets its change caused by AI (full − no-AI)
    split into dilution (no-feedback − no-AI) and feedback (full − no-feedback): mean of the
    paired differences over replications ± the half-width of its 95% t interval.
    """
    import pandas as pd

    from simulation import registry
    from simulation.runner import EFFECTS, decomposition, has_twins

    summary = pd.read_csv(run_dir / "summary.csv")
    twins = has_twins(summary)
    table = Table(title=f"Final metrics ({len(summary)} replication(s), median)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    shown = registry.shown_in("cli")
    if twins:
        parts = decomposition(summary, [], shown).set_index("outcome")
        for effect in EFFECTS:
            table.add_column(effect.replace("_", " "), justify="right")
    for metric in shown:
        value = summary[metric.final].median()
        cells = [metric.label, f"{value:.4g}", metric.unit]
        if twins:
            row = parts.loc[metric.name]
            cells += [_plus_minus(row[e], row[e] - row[f"{e}_low"]) for e in EFFECTS]
        table.add_row(*cells)
    out.print(table)
    if twins:
        out.print(
            "AI effect = full − no-AI twin = dilution (no-feedback − no-AI) + feedback "
            "(full − no-feedback); mean over replications ± 95% t interval of the paired "
            "differences.",
            highlight=False,
        )


def _plus_minus(mean: float, half: float) -> str:
    """'mean ± half' (only the mean when the half-width is undefined, e.g. one replication)."""
    return f"{mean:+.3g}" if math.isnan(half) else f"{mean:+.3g} ± {half:.2g}"


def print_calibration(comparisons: list[Comparison], title: str) -> None:
    """Each target against its simulated value: the measurement, its band, the simulated mean
    ± its standard error over replications, pass or FAIL, and where the measurement is from
    (a number in the table, the sources listed once below it)."""
    sources = list(dict.fromkeys(c.target.source for c in comparisons))
    table = Table(title=title, show_edge=False, pad_edge=False)  # fits 80 columns
    table.add_column("target", overflow="fold", min_width=10)
    table.add_column("date")
    for column in ("value", "band", "simulated ± SE", "result", "source"):
        right = column in ("value", "band", "simulated ± SE")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for c in comparisons:
        t = c.target
        se = "" if math.isnan(c.se) else f" ± {c.se:.2g}"
        table.add_row(
            t.name,
            c.when,
            f"{t.value:.4g}",
            f"{t.band[0]:.4g}–{t.band[1]:.4g}",
            f"{c.simulated:.4g}{se}",
            "[green]pass[/]" if c.passed else "[bold red]FAIL[/]",
            f"[{sources.index(t.source) + 1}]",
        )
    out.print(table)
    for number, source in enumerate(sources, start=1):
        out.print(f"[{number}] {source}", highlight=False, markup=False)


def print_fit(fit: Fit) -> None:
    """The fitted parameters: each one's range, its best value and its confidence set."""
    table = Table(title="Fitted parameters")
    for column in ("parameter", "range", "best", f"confidence set ({fit.confidence:.0%})"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    best = fit.plan.values[fit.best]
    for j, free in enumerate(fit.targets.free):
        low, high = fit.extent(j)
        scale = " (log)" if free.log else ""
        table.add_row(
            free.key,
            f"{free.range[0]:.4g}–{free.range[1]:.4g}{scale}",
            f"{best[j]:.4g}",
            f"{low:.4g}–{high:.4g}",
        )
    out.print(table)
    out.print(
        f"Best of {len(fit.loss)} points: loss {fit.loss[fit.best]:.4g}; "
        f"{int(fit.accepted.sum())} point(s) within loss {fit.threshold:.4g} form the "
        "confidence set (loss = Σ ((simulated − value) / σ)², σ = band width / 4).",
        highlight=False,
    )
