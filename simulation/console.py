"""What the `ouroboros` command line prints: its consoles, error lines, progress bars, the
table of final metrics (with the dilution/feedback split when a run has twins) and the tables
of `ouroboros calibrate` (targets against simulation, fitted parameters).

Every user error ends here as one line per problem on stderr and exit status 2 (`fail`,
`user_errors`), never a traceback.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from analysis.calibration.check import Comparison
    from analysis.calibration.fit import Fit
    from simulation.catalog import Entry

out = Console()
err = Console(stderr=True)


def new_table(*args: Any, **kwargs: Any) -> Table:
    """A rich `Table`; rich.table is imported when the first one is made, since most commands
    (`check`, `--help`) print none."""
    from rich.table import Table

    return Table(*args, **kwargs)


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


def print_next(quiet: bool, *command: str) -> None:
    """`next: <command>`, the command to type next (a path quoted for the shell), unless quiet."""
    if not quiet:
        import shlex

        out.print(f"next: {shlex.join(command)}", highlight=False, markup=False, soft_wrap=True)


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
    table = new_table(title=f"Final metrics ({len(summary)} replication(s), median)")
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
    table = new_table(title=title, show_edge=False, pad_edge=False)  # fits 80 columns
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
    table = new_table(title="Fitted parameters")
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


STATE_STYLE = {"complete": "green", "partial": "yellow", "failed": "red", "damaged": "red"}


def print_catalog(entries: list[Entry], root: Path) -> None:
    """`ouroboros runs`: one row per run or sweep folder (kind, state, date, scenario, runs,
    size; paths relative to `root`), then the commands that finish partial sweeps and clean
    the leftovers of killed processes. Fits 80 columns: long cells wrap, not cut."""
    from rich import box
    from rich.filesize import decimal

    table = new_table(
        title=f"Runs and sweeps in {escape(str(root))}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=0,
    )
    table.add_column("folder", overflow="fold", min_width=17)  # a whole timestamp
    table.add_column("kind", no_wrap=True, min_width=8)
    narrow = out.width < 100  # on 80 columns, every column must fit: states wrap
    table.add_column("state", overflow="fold", min_width=12, max_width=14 if narrow else None)
    table.add_column("date (UTC)", no_wrap=True, min_width=10)
    table.add_column("scenario", overflow="fold", max_width=12)
    table.add_column("runs", justify="right", no_wrap=True, min_width=4)
    table.add_column("size", justify="right", no_wrap=True, min_width=8)
    for e in entries:
        style = STATE_STYLE.get(e.state.split(" ")[0].rstrip(":"), "yellow")
        table.add_row(
            escape(
                _stamp_on_new_line(str(e.path.relative_to(root)) if e.path != root else str(e.path))
            ),
            e.kind,
            f"[{style}]{escape(e.state)}[/]",
            e.created.strftime("%Y-%m-%d\n%H:%M") if e.created else "",
            escape(e.scenario or ""),
            "" if e.runs is None else str(e.runs),
            decimal(e.size),
        )
    out.print(table)
    commands = dict.fromkeys(e.clean for e in entries if e.clean)  # in order, each once
    for command in commands:
        what = "clean up" if command.endswith("--clean") else "finish"
        out.print(f"{what}: {command}", highlight=False, markup=False, soft_wrap=True)


def _stamp_on_new_line(folder: str) -> str:
    """A folder name with its UTC timestamp (`-20261202T015820Z`) on a line of its own."""
    import re

    return re.sub(r"(-\d{8}T\d{6}Z)", "\n\\1", folder, count=1)


def print_comparison(
    folders: list[Path], scenarios: pd.DataFrame, table: pd.DataFrame, notes: list[str]
) -> None:
    """`ouroboros compare`: the folders as letters A, B, …, the scenario keys that differ,
    then per sweep arm (or once, without sweeps) one table of the outcome metrics: each
    folder's median [interval] and each later folder's difference from A, mean [95%
    interval], paired or not
    (`analysis.compare.comparison`; its `folder` column is `analysis.compare.labels`)."""
    names = list(dict.fromkeys(table["folder"]))
    letter = dict(zip(names, folder_letters(len(names)), strict=True))
    for name, path in zip(names, folders, strict=True):
        out.print(f"{letter[name]} = {path}", highlight=False, markup=False, soft_wrap=True)
    if scenarios.empty:
        out.print("Scenarios: the same in every folder.", highlight=False)
    else:
        keys = new_table(
            title="Scenario keys that differ", show_edge=False, pad_edge=False, min_width=40
        )
        keys.add_column("key", overflow="fold")
        for name in scenarios.columns:
            keys.add_column(letter[name], overflow="fold")
        for key, row in scenarios.iterrows():
            keys.add_row(escape(str(key)), *(escape(_clip(v)) for v in row))
        out.print(keys)
    a = letter[names[0]]
    for arm, rows in table.groupby("arm", sort=False):
        title = f"Final values, arm {arm}" if arm else "Final values"
        grid = new_table(title=escape(title), show_edge=False, pad_edge=False)
        grid.add_column("metric", overflow="fold", min_width=12)
        for name in names:
            grid.add_column(letter[name], justify="right")
        for name in names[1:]:
            grid.add_column(f"{letter[name]} − {a}", justify="right")
        for _, cells in rows.groupby("metric", sort=False):
            by_folder = cells.set_index("folder").reindex(names)  # NaN: no runs in this arm
            label, unit = cells.iloc[0][["label", "unit"]]
            line = [escape(f"{label} ({unit})" if unit else label)]
            line += [_value_cell(by_folder.loc[name]) for name in names]
            line += [_difference_cell(by_folder.loc[name]) for name in names[1:]]
            grid.add_row(*line, end_section=True)
        pairs = rows[rows["folder"] != names[0]].groupby("folder", sort=False)["pairs"].max()
        grid.caption = "; ".join(
            f"{letter[name]} − {a}: " + (f"{int(n)} runs paired" if n else "unpaired")
            for name, n in pairs.items()
        )
        out.print()
        out.print(grid)
    out.print(
        "Values: median [5–95% interval; the range below 5 runs] of the final values across "
        f"runs. Differences from {a}: mean [95% interval].",
        highlight=False,
    )
    for note in notes:
        out.print(note, highlight=False, markup=False, soft_wrap=True)


def folder_letters(n: int) -> list[str]:
    """The names `ouroboros compare` gives its folders: A, B, C, … (at most 26)."""
    return list(string.ascii_uppercase[:n])


def _clip(text: str, width: int = 60) -> str:
    """A scenario value for a table cell, at most `width` characters."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _value_cell(row: pd.Series) -> str:
    """'median\\n[low, high]' of one folder (empty without runs; no interval for one run)."""
    if row["n"] == 0 or math.isnan(row["median"]):
        return "—"
    if row["n"] == 1:
        return f"{row['median']:.4g}"
    return f"{row['median']:.4g}\n[dim][{row['low']:.4g}, {row['high']:.4g}][/]"


def _difference_cell(row: pd.Series) -> str:
    """'+mean\\n[low, high]', marked unpaired where it is."""
    if math.isnan(row["difference"]):
        return "—"
    mark = "" if row["paired"] else " [yellow](unpaired)[/]"
    cell = f"{row['difference']:+.3g}{mark}"
    if not math.isnan(row["difference_low"]):
        cell += f"\n[dim][{row['difference_low']:+.3g}, {row['difference_high']:+.3g}][/]"
    return cell
