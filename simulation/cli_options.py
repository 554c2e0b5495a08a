"""What the `ouroboros` commands share: their common options, loading a scenario with its
overrides, and the checks every command makes before it simulates (`simulation.cli`,
`simulation.calibrate_cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from simulation.console import err, user_errors

if TYPE_CHECKING:
    from simulation.budget import Estimate
    from simulation.scenario import Scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key, e.g. --set web.ai_share=0.5"),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="Run even above the memory or work budget (see `ouroboros check`)."
    ),
]


def check_before_running(
    config: Scenario, out_dir: Path, source: str, *, force: bool, workers: int = 1
) -> Estimate:
    """Everything that can fail before a simulation starts: the budget, the output folder.
    Returns the budget's estimate.

    Also removes the staging folders that killed runs left in `out_dir`, and says so.
    """
    from simulation import budget, files, preflight

    est = budget.check_budget(config, force=force, source=source, workers=workers)
    preflight.check_output_root(out_dir, config.name, need_bytes=est.output_bytes)
    cleaned = files.clean_stale_staging(out_dir)
    if cleaned:
        err.print(
            f"removed {len(cleaned)} unfinished folder(s) that killed runs left in {out_dir} "
            f"(e.g. {cleaned[0].name})",
            highlight=False,
        )
    return est


def load_scenario(path: Path, overrides: list[str] | None) -> Scenario:
    """The scenario at `path` with its `--set` overrides; bad input exits 2 (`user_errors`)."""
    from simulation.scenario import load

    with user_errors():
        return load(path, overrides or [])
    raise AssertionError("unreachable")  # pragma: no cover


def command_record(
    scenario: Path | None, overrides: list[str] | None, implied: list[str], **options: Any
) -> dict[str, Any]:
    """What a manifest records of the command that made its folder (`files.command_line`):
    `argv` and `cwd`, the scenario file, the `--set` pairs as given (`set`), every option as
    given (`options`; paths as text), and `overrides`, the dotted overrides the scenario file
    was loaded with (`--set` pairs plus what options imply, e.g. `replications=3`): with the
    scenario file, what makes the same scenario again."""
    from simulation.files import command_line

    given = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    return command_line(
        scenario=None if scenario is None else str(scenario),
        set=list(overrides or []),
        options=given,
        overrides=[*(overrides or []), *implied],
    )
