"""The commands on finished run and sweep folders: `runs` (list them), `compare`, `report` and
`export`; registered on the `ouroboros` app by `simulation.cli`. Each imports what it uses when
it runs, like every command (tests/test_startup.py)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from simulation.console import err, fail, out, user_errors


def list_runs(
    folder: Annotated[
        Path, typer.Argument(help="A folder of run and sweep folders (subfolders too).")
    ] = Path("runs"),
    clean: Annotated[
        bool, typer.Option("--clean", help="Remove the unfinished folders of killed processes.")
    ] = False,
) -> None:
    """List run and sweep folders: kind, state, date, scenario, runs, size on disk."""
    from simulation import catalog
    from simulation.console import print_catalog

    with user_errors():
        removed = catalog.clean(folder) if clean else []
        entries = catalog.scan(folder)
    for path in removed:
        err.print(f"removed {path}, left by a killed process", highlight=False, soft_wrap=True)
    if not entries:
        out.print(f"No run or sweep folders in {folder}", highlight=False)
        return
    print_catalog(entries, folder)


MAX_COMPARED = 26  # folders `compare` names A to Z


class CompareFormat(StrEnum):
    """`ouroboros compare --format` values."""

    table = "table"
    csv = "csv"


def compare(
    folders: Annotated[
        list[Path],
        typer.Argument(help="Two or more run or sweep folders; differences are from the first."),
    ],
    format: Annotated[
        CompareFormat,
        typer.Option("--format", help="Tables, or the long table as CSV on standard output."),
    ] = CompareFormat.table,
    csv_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the long table as CSV to this file.")
    ] = None,
) -> None:
    """Compare runs or sweeps: scenario differences, final outcomes, differences from the first
    (paired run by run where the seeds match)."""
    if not 2 <= len(folders) <= MAX_COMPARED:
        fail([f"compare: give 2 to {MAX_COMPARED} run or sweep folders (got {len(folders)})"])
    if csv_file is not None and (csv_file.is_dir() or not csv_file.parent.is_dir()):
        why = "is a folder" if csv_file.is_dir() else "its folder does not exist"
        fail([f"--out {csv_file}: {why}; give a file path in an existing folder"])
    from analysis import compare as comparing
    from analysis.load import load_results
    from simulation.console import folder_letters, print_comparison

    with user_errors():
        results = [load_results(folder) for folder in folders]
    table = comparing.comparison(results)
    if csv_file is not None:
        from simulation.files import atomic_write_text

        with user_errors():
            atomic_write_text(csv_file, table.to_csv(index=False))
    if format is CompareFormat.csv:
        sys.stdout.write(table.to_csv(index=False))
    else:
        notes = comparing.pairing_notes(results, folder_letters(len(results)))
        print_comparison(folders, comparing.scenario_differences(results), table, notes)
    if csv_file is not None:
        err.print(f"Written: {csv_file}", highlight=False)


class ReportFormat(StrEnum):
    """`ouroboros report --format` values."""

    html = "html"
    md = "md"
    both = "both"


def report(
    folder: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.")],
    format: Annotated[
        ReportFormat, typer.Option("--format", help="report.html, report.md, or both.")
    ] = ReportFormat.both,
    threshold: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Risk threshold as a fraction of each metric's pre-AI value."
        ),
    ] = 0.8,
) -> None:
    """Write the policy report (self-contained HTML, Markdown, figures/) into FOLDER."""
    from analysis.report import write_report

    formats = ("html", "md") if format is ReportFormat.both else (format.value,)
    with user_errors():
        written = write_report(folder, formats, threshold)
    for path in written:
        out.print(f"Report: [bold]{path}[/]", highlight=False)


def export(
    folder: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.")],
    fmt: Annotated[
        str, typer.Option("--format", help="ema (EMA Workbench results .tar.gz) or csv (a folder).")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="New file (ema) or folder (csv).")],
) -> None:
    """Export FOLDER's runs for EMA Workbench (load with ema_workbench.load_results) or as CSV."""
    from analysis.export import export as export_folder

    with user_errors():
        written = export_folder(folder, fmt, out_path)
    out.print(f"Exported: [bold]{written}[/]", highlight=False)
