"""Hostile input at the command line: every case ends in one clear line and exit status 2 (or
works), before any simulation starts, with no traceback and nothing half-written.

Each case is data (`CASES`): the command's arguments, with `{tmp}`, `{tiny}`, `{tiny_sweep}`,
`{run}`, `{sweep}` and `{busy_port}` filled in by `materialise`, the files it writes first,
the exit status expected and a fragment of the message. A property-based test then runs
mutated small scenarios through `ouroboros run`: exit 0 or 2, never a half-written folder.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from simulation import sweep as sweeps
from simulation.cli import app

TINY = """\
name: tiny
seed: 7
steps: 3
content: {vocabulary: zipf, n_words: 300, n_topics: 40, doc_length: 16}
web: {n_sites: 60, links_per_site: 2, docs_per_step: 500, archive_docs: 2000, ai_share: 0.3}
humans: {count: 100, interests: 3}
models: {count: 2, retrain_every: 2, train_budget: 2000}
crawlers: {strategy: random, budget: 2000, scope: fresh}
"""
TINY_SWEEP = TINY + "sweep: {design: grid, factors: {web.ai_share: [0.0, 0.5]}}\n"
LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def extends_chain(tmp: Path, depth: int = 1500) -> None:
    """f0.yaml extends f1.yaml … extends f{depth}.yaml, the last one a tiny scenario."""
    for i in range(depth):
        (tmp / f"f{i}.yaml").write_text(f"extends: f{i + 1}.yaml\n")
    (tmp / f"f{depth}.yaml").write_text(TINY)


def truncate_part(tmp: Path) -> None:
    part = next((tmp / "sweep" / "parts").glob("*.metrics.parquet"))
    part.write_bytes(part.read_bytes()[:100])


@dataclass(frozen=True)
class Case:
    """One hostile command: `args` after `ouroboros`, files written first, what must happen."""

    args: list[str]
    code: int = 2
    fragment: str = ""
    files: dict[str, str | bytes] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None


def scenario(text: str, *args: str, **kw) -> Case:
    """`ouroboros run bad.yaml ARGS` with bad.yaml holding `text`."""
    return Case(["run", "{tmp}/bad.yaml", "-q", *args], files={"bad.yaml": text}, **kw)


def tiny(*args: str, **kw) -> Case:
    """`ouroboros run {tiny} ARGS`."""
    return Case(["run", "{tiny}", "-q", *args], **kw)


CASES: dict[str, Case] = {
    # Reading scenario files.
    "duplicate_keys": scenario(
        TINY + "content: {n_topics: 4}\n", fragment="duplicate key 'content' (lines 4 and 9)"
    ),
    "billion_laughs": scenario(TINY + LAUGHS, fragment="aliases expand to more than"),
    "nested_20000": scenario(TINY + "x: " + "[" * 20000 + "]" * 20000, fragment="nested deeper"),
    "extends_1500": Case(
        ["check", "{tmp}/f0.yaml"], fragment="a chain of more than", prepare=extends_chain
    ),
    "extends_missing": scenario("extends: nowhere.yaml\n", fragment="nowhere.yaml' not found"),
    "extends_cycle": scenario("extends: bad.yaml\nname: x\n", fragment="circular chain"),
    "directory": Case(["check", "{tmp}"], fragment="is a directory, not a scenario file"),
    "missing_file": Case(["run", "{tmp}/none.yaml"], fragment="none.yaml: file not found"),
    "empty_file": scenario("", fragment="empty file"),
    "not_utf8": scenario(b"name: \xff\xfe\n", fragment="not a UTF-8 text file"),
    "top_level_list": scenario("- 1\n- 2\n", fragment="top level must be a mapping"),
    "malformed_yaml": scenario("name: [x\n", fragment="malformed YAML"),
    "python_tag": scenario(
        "name: !!python/object/apply:os.system ['echo hi']\n", fragment="`!!python` tags"
    ),
    "unknown_key": scenario(TINY + "colour: red\n", fragment="colour: unknown key"),
    "file_over_1mib": scenario(TINY + "# " + "x" * (1 << 20), fragment="larger than 1 MiB"),
    # Types and bounds.
    "steps_true": scenario(
        TINY.replace("steps: 3", "steps: true"), fragment="steps: Input should be a valid"
    ),
    "steps_string": scenario(TINY.replace("steps: 3", 'steps: "3"'), fragment="a string"),
    "set_steps_true": tiny("--set", "steps=true", fragment="steps: Input should be a valid"),
    "smoothing_inf": tiny("--set", "models.smoothing=.inf", fragment="models.smoothing"),
    "smoothing_1e308": tiny("--set", "models.smoothing=1.0e+308", fragment="models.smoothing"),
    "steepness_1500": tiny(
        "--set",
        "web.ai_share={start: 0, end: 1, shape: logistic, steepness: 1500}",
        fragment="steepness",
    ),
    "steepness_inf": tiny(
        "--set",
        "web.ai_share={start: 0, end: 1, shape: logistic, steepness: .inf}",
        fragment="steepness",
    ),
    "steepness_1e-20": tiny(
        "--set",
        "web.ai_share={start: 0, end: 1, shape: logistic, steepness: 1.0e-20}",
        fragment="steepness",
    ),
    "n_sites_1e10": tiny("--set", "web.n_sites=10000000000", fragment="web.n_sites"),
    "n_sites_1e9": tiny("--set", "web.n_sites=1000000000", fragment="web.n_sites"),
    "steps_1e12": tiny("--set", "steps=1000000000000", fragment="steps"),
    "seed_2_64": tiny("--set", "seed=18446744073709551616", fragment="seed"),
    "replications_0": tiny("-r", "0", fragment="replications"),
    "set_without_equals": tiny("--set", "steps", fragment="expected KEY=VALUE"),
    "set_bad_yaml": tiny("--set", "steps=[", fragment="malformed YAML"),
    "set_unknown_key": tiny("--set", "web.n_sitez=3", fragment="unknown key"),
    # Budget: memory and work, estimated before anything runs.
    "memory_over_budget": tiny(
        "--set",
        "content.n_topics=20000",
        "--set",
        "content.n_words=100000",
        fragment="of memory",
    ),
    "work_over_budget": tiny(
        "--set", "steps=100000", "--set", "web.docs_per_step=10000000", fragment="would take"
    ),
    # Sweep designs.
    "lhs_samples_1e9": Case(
        ["sweep", "{tmp}/bad.yaml", "-q"],
        files={
            "bad.yaml": TINY + "sweep: {design: lhs, samples: 1000000000, "
            "factors: {web.ai_share: {low: 0, high: 1}}}\n"
        },
        fragment="sweep.samples",
    ),
    "grid_1e6_points": Case(
        ["sweep", "{tmp}/bad.yaml", "-q"],
        files={
            "bad.yaml": TINY
            + "sweep: {design: grid, factors: {"
            + ", ".join(
                f"{k}: [{', '.join(str(i / 100) for i in range(100))}]"
                for k in ("web.ai_share", "humans.ai_assist", "humans.copy_rate")
            )
            + "}}\n"
        },
        fragment="runs, more than",
    ),
    "sweep_factor_unknown": Case(
        ["check", "{tiny_sweep}", "--set", "sweep.factors.web.ai_sharez=[0.1]"],
        fragment="unknown scenario key 'web.ai_sharez'",
    ),
    "sweep_grid_needs_list": Case(
        ["check", "{tiny_sweep}", "--set", "sweep.factors.web.ai_share={low: 0, high: 1}"],
        fragment="a grid design needs a non-empty list",
    ),
    "sobol_not_power_of_two": Case(
        ["check", "{tmp}/bad.yaml"],
        files={
            "bad.yaml": TINY + "sweep: {design: sobol, samples: 6, "
            "factors: {web.ai_share: {low: 0, high: 1}}}\n"
        },
        fragment="power of two",
    ),
    "run_a_sweep": Case(["run", "{tiny_sweep}", "-q"], fragment="run it with `ouroboros sweep"),
    "sweep_a_run": Case(["sweep", "{tiny}", "-q"], fragment="no `sweep:` section"),
    # Output location, checked before the run.
    "out_is_a_file": tiny("--out", "{tmp}/afile", files={"afile": "x"}, fragment="is a file"),
    "out_not_writable": tiny("--out", "/proc/ouroboros-runs", fragment="cannot be written"),
    "scheduler_not_a_url": Case(
        ["sweep", "{tiny_sweep}", "-q", "--out", "{tmp}/runs", "--scheduler", "not a url"],
        fragment="expected an address like tcp://host:8786",
    ),
    # Resuming damaged or foreign folders.
    "resume_a_file": Case(
        ["sweep", "--resume", "{tmp}/afile"], files={"afile": "x"}, fragment="is not a folder"
    ),
    "resume_a_run_folder": Case(["sweep", "--resume", "{run}"], fragment="not a sweep folder"),
    "resume_corrupt_manifest": Case(
        ["sweep", "--resume", "{sweep}", "-q"],
        files={"sweep/manifest.json": "{not json"},
        fragment="manifest.json: damaged",
    ),
    "resume_corrupt_status": Case(
        ["sweep", "--resume", "{sweep}", "-q"],
        code=0,
        files={"sweep/status.csv": "\x00\x01garbage"},
        fragment="rebuilt from the parts on disk (2 of 2 runs done)",
    ),
    "resume_truncated_part": Case(
        ["sweep", "--resume", "{sweep}", "-q"],
        code=0,
        prepare=truncate_part,
        fragment="will be rerun",
    ),
    # Reports of damaged folders.
    "report_tagged_scenario": Case(
        ["report", "{run}"],
        files={"run/scenario.yaml": "name: !!python/object/apply:os.system ['echo hi']\n"},
        fragment="`!!python` tags are not allowed",
    ),
    "report_corrupt_table": Case(
        ["report", "{run}"],
        files={"run/metrics.parquet": b"PAR1garbage"},
        fragment="not a readable Parquet table",
    ),
    "report_missing_folder": Case(["report", "{tmp}/nowhere"], fragment="no such folder"),
    # Listing and comparing folders.
    "compare_one_folder": Case(["compare", "{run}"], fragment="give 2 to 26 run or sweep"),
    "compare_a_plain_folder": Case(
        ["compare", "{run}", "{tmp}/plain"],
        prepare=lambda tmp: (tmp / "plain").mkdir(),
        fragment="plain: not a run or sweep folder (no scenario.yaml)",
    ),
    "compare_corrupt_manifest": Case(
        ["compare", "{run}", "{sweep}"],
        files={"sweep/manifest.json": "{not json"},
        fragment="manifest.json: not valid JSON",
    ),
    "runs_missing_folder": Case(["runs", "{tmp}/nowhere"], fragment="nowhere: no such folder"),
    # Other commands.
    "validate_bad_set": Case(["validate", "--quick", "--set", "steps=true"], fragment="steps"),
    "validate_unknown_case": Case(["validate", "--case", "nope"], fragment="unknown case"),
    "viz_busy_port": Case(["viz", "{tiny}", "--port", "{busy_port}"], fragment="already in use"),
}


@contextmanager
def thread_pool(kind: str = "process", workers: int = 1, scheduler: str | None = None):
    """`sweeps.open_executor` here: threads, not worker processes, which take seconds each to
    start. What a sweep's runs execute on is not what these cases are about; sweeps, resumed
    ones too, on process pools and Dask are tested in test_sweep.py and test_durability.py."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield pool


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict[str, Path]:
    """A tiny scenario, a tiny sweep scenario, a finished run folder and sweep folder."""
    root = tmp_path_factory.mktemp("finished")
    (root / "tiny.yaml").write_text(TINY)
    (root / "tiny_sweep.yaml").write_text(TINY_SWEEP)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweeps, "open_executor", thread_pool)
        for command in ("run", "sweep"):
            name = "tiny" if command == "run" else "tiny_sweep"
            args = [command, str(root / f"{name}.yaml"), "-q", "--out", str(root / command)]
            result = runner.invoke(app, args + (["--workers", "1"] if command == "sweep" else []))
            assert result.exit_code == 0, result.output
    (run,) = (root / "run").iterdir()
    (sweep,) = (root / "sweep").iterdir()
    return {
        "tiny": root / "tiny.yaml",
        "tiny_sweep": root / "tiny_sweep.yaml",
        "run": run,
        "sweep": sweep,
    }


def materialise(case: Case, tmp: Path, finished: dict[str, Path], port: int) -> list[str]:
    """Copy the finished folders into `tmp`, write the case's files, and fill in its args."""
    shutil.copytree(finished["run"], tmp / "run")
    shutil.copytree(finished["sweep"], tmp / "sweep")
    for name, content in case.files.items():
        path = tmp / name
        path.unlink(missing_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    if case.prepare is not None:
        case.prepare(tmp)
    values = {
        "tmp": tmp,
        "tiny": finished["tiny"],
        "tiny_sweep": finished["tiny_sweep"],
        "run": tmp / "run",
        "sweep": tmp / "sweep",
        "busy_port": port,
    }
    args = list(case.args)
    for key, value in values.items():
        args = [arg.replace(f"{{{key}}}", str(value)) for arg in args]
    return args


def entries(folder: Path) -> set[str]:
    """Every path below `folder`, hidden ones included."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


Outcome = tuple[Path, Result, set[str]]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, finished) -> Callable[[str, int], Outcome]:
    """`outcome(name, port)`: case `name` run once per test process in a folder of its own (the
    current folder, where the default --out runs/ lands; sweeps on `thread_pool`): the folder,
    the result and the paths the command created there. Tests only read what a case left."""
    done: dict[str, Outcome] = {}

    def outcome(name: str, port: int) -> Outcome:
        if name not in done:
            tmp = tmp_path_factory.mktemp(name)
            with pytest.MonkeyPatch.context() as patch:
                patch.chdir(tmp)
                patch.setattr(sweeps, "open_executor", thread_pool)
                args = materialise(CASES[name], tmp, finished, port)
                before = entries(tmp)
                result = CliRunner().invoke(app, args)
            done[name] = tmp, result, entries(tmp) - before
        return done[name]

    return outcome


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_command(name, outcomes, busy_port):
    case = CASES[name]
    _, result, created = outcomes(name, busy_port)
    output = " ".join(result.output.split())
    assert result.exit_code == case.code, result.output
    assert isinstance(result.exception, SystemExit | None), result.exception  # no traceback
    assert case.fragment in output, result.output
    if case.code == 2:
        assert created == set(), f"a refused command left {sorted(created)[:5]}"
        assert len([line for line in result.output.splitlines() if "error:" in line]) >= 1
    assert not [p for p in created if "staging" in p], created


def test_the_truncated_part_is_set_aside_and_rerun(outcomes, finished, busy_port):
    """The assembled results are replaced only by complete new ones, equal to the originals."""
    tmp, result, _ = outcomes("resume_truncated_part", busy_port)  # its run of the case above
    assert result.exit_code == 0, result.output
    assert list((tmp / "sweep" / "parts" / "damaged").iterdir())
    for table in ("metrics.parquet", "distributions.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp / "sweep" / table),
            pd.read_parquet(finished["sweep"] / table),
        )


def test_report_escapes_a_script_in_the_description(tmp_path, finished):
    folder = tmp_path / "run"
    shutil.copytree(finished["run"], folder)
    data = yaml.safe_load((folder / "scenario.yaml").read_text())
    data["description"] = "<script>alert(1)</script>"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["report", str(folder), "--format", "html"])
    assert result.exit_code == 0, result.output
    html = (folder / "report.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


# --- Property-based: mutated small scenarios through `ouroboros run` ----------------------------

KEYS = [
    "steps",
    "seed",
    "replications",
    "content.n_words",
    "content.n_topics",
    "content.doc_length",
    "web.n_sites",
    "web.docs_per_step",
    "web.ai_share",
    "humans.count",
    "humans.copy_rate",
    "models.count",
    "models.retrain_every",
    "models.top_p",
    "models.smoothing",
    "crawlers.budget",
    "crawlers.strategy",
    "filtering.detector",
    "metrics.window",
]
VALUES = st.one_of(
    st.integers(-3, 8),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=3),
    st.sampled_from(["pagerank", "zipf", "1e3", "0.5", "{tpr: 0.9, fpr: 0.1}"]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3))
def test_mutated_scenarios_run_or_are_refused(tmp_path_factory, changes):
    tmp = tmp_path_factory.mktemp("mutated")
    (tmp / "s.yaml").write_text(TINY.replace("steps: 3", "steps: 2"))
    args = ["run", str(tmp / "s.yaml"), "-q", "--out", str(tmp / "runs")]
    for key, value in changes:
        args += ["--set", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
        args[-1] = args[-1].removesuffix("\n...").removesuffix(" ...")
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 2), result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    made = list((tmp / "runs").iterdir()) if (tmp / "runs").exists() else []
    if result.exit_code == 2:
        assert made == [], made
    else:
        (folder,) = made
        assert {"metrics.parquet", "summary.csv", "manifest.json"} <= set(os.listdir(folder))
