"""Hostile input: every bad scenario file, `--set` value, sweep design or result folder ends in
one `ScenarioError` line per problem naming the file and the key; never a traceback, a hang or
a huge allocation. The last tests mutate the bundled scenarios (and raw text) at random."""

from __future__ import annotations

import copy
import math
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.load import load_results
from simulation import dotted, yaml_input
from simulation.designs import build
from simulation.runner import run_scenario
from simulation.scenario import (
    Scenario,
    ScenarioError,
    Schedule,
    load,
    load_raw,
    validate,
)
from tests.conftest import small_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BUNDLED = sorted(SCENARIOS.glob("*.yaml")) + sorted((SCENARIOS / "validation").glob("*.yaml"))

# Nine lists of nine aliases of the one before: 9**9 "lol"s, in about 600 bytes.
LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def refused(call, *args, **kwargs) -> str:
    """The message of the ScenarioError that `call(*args)` raises (each line checked short)."""
    with pytest.raises(ScenarioError) as info:
        call(*args, **kwargs)
    for line in info.value.problems:
        assert len(line) < 400, line
    return str(info.value)


def load_text(tmp_path: Path, text: str | bytes, overrides: list[str] | None = None) -> str:
    """The error message of loading `text` as a scenario file named bad.yaml."""
    message = refused(load, write(tmp_path, "bad.yaml", text), overrides)
    assert "bad.yaml" in message
    return message


# --- 1. Reading YAML within limits -----------------------------------------------------------


def test_billion_laughs_is_refused_quickly(tmp_path):
    assert len(LAUGHS) < 700
    started = time.perf_counter()
    message = load_text(tmp_path, LAUGHS + "name: x\n")
    assert time.perf_counter() - started < 1.0
    assert "aliases expand to more than 100000" in message and "lol" not in message


def test_alias_expanding_to_much_text_is_refused(tmp_path):
    text = f"name: x\na: &a '{'x' * 50_000}'\nb: [{', '.join(['*a'] * 100)}]\n"
    assert "aliases expand" in load_text(tmp_path, text)


def test_aliases_within_limits_still_work(tmp_path):
    text = "name: x\nweb: &web {n_sites: 80}\nsweep: {arms: {a: {web.n_sites: 90}}}\n"
    path = write(tmp_path, "ok.yaml", text + "models: {<<: {count: 2}, top_p: 0.5}\n")
    scenario = load(path)
    assert scenario.web.n_sites == 80 and scenario.models.count == 2


def test_recursive_alias_is_refused(tmp_path):
    assert "alias refers to itself" in load_text(tmp_path, "name: x\na: &a [1, *a]\n")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\nd: " + "[" * 20_000 + "]" * 20_000 + "\n", "line 2"),
        ("name: x\nd:\n" + "".join(" " * i + "a:\n" for i in range(1, 200)), "line 65"),
        ("name: x\nd: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", "line 2"),
    ],
    ids=["flow_20000", "block_200", "mapping_5000"],
)
def test_deep_nesting_is_refused_without_recursion_error(tmp_path, text, line):
    message = load_text(tmp_path, text)
    assert "nested deeper than 64 levels" in message and line in message


def test_deep_nesting_through_aliases_is_refused(tmp_path):
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 80)]
    message = load_text(tmp_path, "name: x\n" + "\n".join(lines) + "\n")
    assert "nested deeper than 64 levels" in message and "aliases expanded" in message


def test_file_over_one_mib_is_refused(tmp_path):
    message = load_text(tmp_path, "name: x\n# " + "x" * (1 << 20) + "\n")
    assert "larger than 1 MiB" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "name: x\ncontent: {n_words: 300}\nsteps: 3\ncontent: {n_topics: 4}\n",
            "duplicate key 'content' (lines 2 and 4)",
        ),
        ("name: x\nweb:\n  n_sites: 30\n  ai_share: 0.1\n  n_sites: 40\n", "web: duplicate key"),
        (
            "name: x\nsweep: {arms: {a: {}, b: {}, a: {web.n_sites: 9}}}\n",
            "sweep.arms: duplicate key 'a' (lines 2 and 2)",
        ),
    ],
    ids=["top", "nested", "arms"],
)
def test_duplicate_keys_are_refused_with_both_lines(tmp_path, text, fragment):
    assert fragment in load_text(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: !!python/object/apply:os.system ['true']\n", "`!!python` tags are not allowed"),
        ("name: x\n!!python/name:os.system : 1\n", "`!!python` tags are not allowed"),
        ("name: x\nsteps: !!python/int 3\n", "steps: line 2: `!!python` tags"),
        ("name: !custom x\n", "name: line 1: tag '!custom' is not allowed"),
        ("name: x\nweb: !!omap [{n_sites: 3}]\n", "web: Input should be a valid dictionary"),
    ],
    ids=["python_object", "python_key", "python_int", "custom", "omap_is_not_a_mapping"],
)
def test_tags_are_refused(tmp_path, text, fragment):
    assert fragment in load_text(tmp_path, text)


def test_unreadable_values_are_one_line(tmp_path):
    assert "cannot be read" in load_text(tmp_path, "name: x\nsteps: 1" + "0" * 5000 + "\n")
    assert "month must be in 1..12" in load_text(tmp_path, "name: x\nd: 2001-13-45\n")
    huge = load_text(tmp_path, "name: x\nsteps: 0x" + "f" * 50_000 + "\n")
    assert "steps: Input should be less than or equal to 100000 (got <a 200000-bit" in huge


def test_extends_chain_of_1500_files_is_one_line(tmp_path):
    for i in range(1500):
        write(tmp_path, f"c{i}.yaml", f"extends: c{i + 1}.yaml\nname: c{i}\n")
    write(tmp_path, "c1500.yaml", "name: last\n")
    message = refused(load, tmp_path / "c0.yaml")
    assert len(message.splitlines()) == 1
    assert "c0.yaml: extends: a chain of more than 16 files (at " in message
    write(tmp_path, "c16.yaml", "name: last\n")  # 16 `extends` are fine
    assert load(tmp_path / "c0.yaml").name == "c0"


@pytest.mark.parametrize(
    ("extends", "fragment"),
    [
        ("3", "extends: must be a file name, got 3"),
        ("'.'", "is a directory, not a scenario file"),
        ("'nowhere\\0.yaml'", "extends: base file"),
        ("'" + "x" * 5000 + "'", "extends: base file"),
    ],
    ids=["number", "directory", "nul_byte", "long_name"],
)
def test_bad_extends(tmp_path, extends, fragment):
    message = refused(load, write(tmp_path, "child.yaml", f"extends: {extends}\nname: x\n"))
    assert fragment in message


def test_a_directory_is_not_a_scenario_file(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    message = refused(load, tmp_path / "dir.yaml")
    assert message == f"{tmp_path / 'dir.yaml'}: is a directory, not a scenario file"


def test_special_files_are_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    assert "not a regular file" in refused(load, tmp_path / "fifo.yaml")
    assert "/dev/zero: not a regular file" in refused(load, "/dev/zero")


def test_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    path = write(tmp_path, "secret.yaml", "name: x\n")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads everything: simulate the refusal

        def no_open(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(yaml_input, "open", no_open, raising=False)
    assert "secret.yaml: permission denied" in refused(load, path)


def test_not_utf8_and_not_a_mapping(tmp_path):
    assert "not a UTF-8 text file" in load_text(tmp_path, b"name: \xff\xfe\n")
    assert "top level must be a mapping" in load_text(tmp_path, "just text\n")
    assert "malformed YAML" in load_text(tmp_path, "name: x\n---\nname: y\n")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("steps=" + LAUGHS.replace("\n", ", ").join("{}"), "--set steps: f: aliases expand"),
        ("web..n_sites=3", "a key is names joined by dots"),
        (".".join(["a"] * 100) + "=1", "at most 64 parts"),
        ("steps", "expected KEY=VALUE"),
        ("steps=[", "--set steps: malformed YAML"),
        ("steps=" + "[" * 1000 + "]" * 1000, "--set steps: line 1: nested deeper"),
    ],
    ids=["laughs", "empty_part", "many_parts", "no_value", "malformed", "deep"],
)
def test_bad_overrides(tmp_path, override, fragment):
    path = write(tmp_path, "good.yaml", "name: good\n")
    assert fragment in refused(load, path, [override])


# --- 2. Strict types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        ("steps: true", [], "steps: Input should be a valid integer (got True)"),
        ("steps: '3'", [], "steps: Input should be a valid integer (got '3', a string"),
        ("web: {ai_share: '0.5'}", [], "web.ai_share: Input should be a valid number (got '0.5'"),
        ("", ["steps=true"], "steps: Input should be a valid integer (got True)"),
        ("humans: {count: 3.0}", [], "humans.count: Input should be a valid integer (got 3.0)"),
        ("filtering: {protect_tail: 1}", [], "protect_tail: Input should be a valid boolean"),
        ("models: {top_p: false}", [], "models.top_p: Input should be a valid number (got False)"),
        ("description: 3", [], "description: Input should be a valid string (got 3)"),
        ("models: {smoothing: 1.0e308}", [], "exponent only with a dot and a sign"),
        ("seed: 9223372036854775808", [], "seed: Input should be less than 9223372036854775808"),
        ("seed: -1", [], "seed: Input should be greater than or equal to 0"),
    ],
    ids=[
        "bool_steps",
        "string_steps",
        "string_share",
        "set_bool",
        "float_count",
        "int_bool",
        "bool_float",
        "int_str",
        "string_exponent",
        "seed_2_63",
        "seed_negative",
    ],
)
def test_no_coercion_into_numbers(tmp_path, text, overrides, fragment):
    assert fragment in load_text(tmp_path, f"name: x\n{text}\n", overrides)


def test_ints_are_fine_where_floats_are_expected(tmp_path):
    text = (
        "name: x\nseed: 9223372036854775807\nmodels: {top_p: 1, smoothing: 2}\nweb: {ai_share: 0}\n"
    )
    scenario = load(write(tmp_path, "ok.yaml", text))
    assert isinstance(scenario.models.top_p, float) and scenario.models.top_p == 1.0
    assert isinstance(scenario.web.ai_share, float) and scenario.ai_share_at(1) == 0.0
    assert scenario.seed == 2**63 - 1 and scenario.to_dict()["models"]["smoothing"] == 2.0


# --- 3. Bounds that keep the simulator finite ------------------------------------------------

BOUNDS = {
    "models.smoothing": [".inf", ".nan", "1.0e+308", "1000001.0"],
    "web.ai_share.steepness": ["1500", ".inf", "1.0e-20", "0"],
    "content.n_words": ["100001"],
    "web.n_sites": ["1000000001"],
    "web.docs_per_step": ["10000000001"],
    "web.archive_docs": ["100000000001"],
    "humans.count": ["10000000001"],
    "crawlers.budget": ["100000001"],
    "models.train_budget": ["100000001"],
    "steps": ["1000000000000"],
    "replications": ["10001"],
    "models.temperature": [".inf"],
    "filtering.tail_share": [".nan", "0.0", "1.0"],
    "filtering.detector.tpr": [".nan"],
    "models.retrain_every": ["100001"],
    "metrics.window": ["100001"],
    "name": ["x" * 129],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, values in BOUNDS.items() for v in values])
def test_bounds_are_checked_by_the_schema(tmp_path, key, value):
    data = {"name": "x"}
    if key.startswith("web.ai_share"):
        data["web"] = {"ai_share": {"start": 0.0, "end": 1.0, "shape": "logistic"}}
    text = yaml.safe_dump(dotted.updated(data, {key: yaml.safe_load(value)}))
    message = load_text(tmp_path, text)
    assert f"bad.yaml: {key}: " in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("steepness", [1e-3, 0.37, 10.0, 499.99, 500.0])
def test_logistic_schedule_is_finite_in_the_whole_allowed_range(steepness):
    schedule = Schedule(start=0.1, end=0.9, shape="logistic", steepness=steepness)
    values = [schedule.at(t, steps) for steps in (1, 2, 100_000) for t in (1, 2, steps // 2, steps)]
    assert all(math.isfinite(v) and 0.1 - 1e-9 <= v <= 0.9 + 1e-9 for v in values)
    assert schedule.at(1, 100) == pytest.approx(0.1) and schedule.at(100, 100) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("sweep", "fragment"),
    [
        (
            "{design: lhs, samples: 1000000000, factors: {web.ai_share: {low: 0, high: 1}}}",
            "sweep.samples: Input should be less than or equal to 100000",
        ),
        (
            f"{{factors: {{web.ai_share: [{', '.join(['0.1'] * 1000)}], "
            f"models.top_p: [{', '.join(['0.9'] * 1001)}]}}}}",
            "1 arm(s) × 1001000 design points × 1 replication(s) = 1001000 runs",
        ),
        (
            "{design: morris, samples: 100000, factors: {"
            + ", ".join(f"m{i}: {{low: 0, high: 1}}" for i in range(12))
            + "}}",
            "more than the limit of 1000000",
        ),
    ],
    ids=["lhs_samples", "grid_points", "morris_points"],
)
def test_design_size_is_refused_instantly(tmp_path, sweep, fragment):
    text = f"name: x\nsweep: {sweep}\n".replace("m0", "web.ai_share")
    started = time.perf_counter()
    message = load_text(tmp_path, text)
    assert time.perf_counter() - started < 1.0 and fragment in message


def test_build_refuses_a_huge_design_before_making_a_table():
    scenario = small_scenario(sweep={"factors": {"web.ai_share": [0.1, 0.2]}})
    huge = scenario.model_copy(update={"replications": 10**9})  # as if never validated
    started = time.perf_counter()
    message = refused(build, huge, "huge.yaml")
    assert time.perf_counter() - started < 1.0
    assert "huge.yaml: sweep: 2 arm(s)" not in message and "= 2000000000 runs" in message


# --- 4. Messages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        (
            "",
            ["sweep.factors.web.n_sitez=[100, 200]"],
            "sweep.factors: unknown scenario key 'web.n_sitez' (web has no key 'n_sitez'; "
            "did you mean 'web.n_sites'?)",
        ),
        (
            "",
            ["sweep.arms.a.web.n_sitez=5"],
            "sweep.arms.a: unknown scenario key 'web.n_sitez' (web has no key 'n_sitez'",
        ),
        (
            "sweep: {factors: {webb.n_sites: [1, 2]}}",
            [],
            "unknown scenario key 'webb.n_sites' (a scenario has no key 'webb'; "
            "did you mean 'web'?)",
        ),
        (
            "sweep: {factors: {web.n_sites.x: [1, 2]}}",
            [],
            "(web.n_sites is a value, not a section)",
        ),
        ("sweep: {factors: {sweep.samples: [1, 2]}}", [], "'sweep.samples' cannot be swept"),
        (
            "sweep: {design: lhs, factors: {web.ai_share: [1, 2]}}",
            [],
            "sweep.factors.web.ai_share: a lhs design needs a range",
        ),
    ],
    ids=["set_factor", "set_arm", "factor_section", "factor_past_a_value", "factor_sweep", "kind"],
)
def test_wrong_sweep_keys_name_the_key(tmp_path, text, overrides, fragment):
    assert fragment in load_text(tmp_path, f"name: x\n{text}\n", overrides)


def test_set_sweep_factor_takes_the_whole_dotted_key(tmp_path):
    path = write(tmp_path, "ok.yaml", "name: x\n")
    scenario = load(path, ["sweep.factors.web.n_sites=[100, 200]", "sweep.arms.a.web.ai_share=0"])
    assert scenario.sweep.factors == {"web.n_sites": [100, 200]}
    assert scenario.sweep.arms == {"a": {"web.ai_share": 0}}


def test_long_values_keys_and_many_problems_are_cut(tmp_path):
    message = load_text(tmp_path, f"name: x\nsteps: '{'y' * 100_000}'\n")
    assert len(message) < 250 and "yyy...yyy" in message
    message = load_text(tmp_path, f"name: x\n{'k' * 1000}: 1\nweb: {{{'n' * 900}: 2}}\n")
    assert len(message) < 500 and "unknown key" in message
    message = load_text(tmp_path, "name: x\n" + "".join(f"k{i}: 1\n" for i in range(500)))
    assert len(message.splitlines()) == 50 and "… and 451 more problems" in message
    message = refused(validate, {"name": "x", "steps": list(range(10**5))}, "mem")
    assert len(message) < 200


# --- 5. Folders read by `report` -------------------------------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return run_scenario(small_scenario(steps=2), out_root=tmp_path_factory.mktemp("runs"))


@pytest.fixture
def folder(run_folder, tmp_path) -> Path:
    copy_ = tmp_path / "run"
    shutil.copytree(run_folder, copy_)
    return copy_


def test_the_intact_folder_loads(folder):
    assert load_results(folder).kind == "run"


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    "scenario_tag": ("scenario.yaml", lambda p: p.write_text("name: !!python/object:os.X {}\n")),
    "scenario_list": ("scenario.yaml", lambda p: p.write_text("- 1\n")),
    "scenario_invalid": ("scenario.yaml", lambda p: p.write_text("name: x\nsteps: -1\n")),
    "metrics_truncated": ("metrics.parquet", truncate),
    "metrics_empty": ("metrics.parquet", lambda p: p.write_bytes(b"")),
    "metrics_columns": ("metrics.parquet", lambda p: pd.DataFrame({"x": [1]}).to_parquet(p)),
    "summary_empty": ("summary.csv", lambda p: p.write_text("")),
    "summary_binary": ("summary.csv", lambda p: p.write_bytes(b"\x00\xff\x81" * 100)),
    "summary_columns": ("summary.csv", lambda p: p.write_text("a,b\n1,2\n")),
    "summary_run_id": ("summary.csv", lambda p: p.write_text("run_id,replication\nx,0\n")),
    "summary_directory": ("summary.csv", lambda p: (p.unlink(), p.mkdir())),
    "distributions_truncated": ("distributions.parquet", truncate),
    "manifest_not_json": ("manifest.json", lambda p: p.write_text("{not json")),
    "manifest_list": ("manifest.json", lambda p: p.write_text("[1, 2]")),
    "manifest_sessions": ("manifest.json", lambda p: p.write_text('{"sessions": 3}')),
    "manifest_deep": ("manifest.json", lambda p: p.write_text("[" * 100_000)),
    "status_missing": (
        "design.csv",
        lambda p: p.write_text("run_id,arm,design_point,replication\n0,a,0,0\n"),
    ),
}
EXPECTED = {
    "scenario_tag": "scenario.yaml: name: line 1: `!!python` tags are not allowed",
    "scenario_list": "scenario.yaml: top level must be a mapping",
    "scenario_invalid": "scenario.yaml: steps: Input should be greater than or equal to 1",
    "metrics_truncated": "metrics.parquet: not a readable Parquet table",
    "metrics_empty": "metrics.parquet: not a readable Parquet table",
    "metrics_columns": "metrics.parquet: not an Ouroboros table, no column run_id",
    "summary_empty": "summary.csv: not a readable CSV table",
    "summary_binary": "summary.csv: not",
    "summary_columns": "summary.csv: not an Ouroboros table, no column run_id, replication",
    "summary_run_id": "summary.csv: column run_id holds",
    "summary_directory": "summary.csv: not a readable CSV table",
    "distributions_truncated": "distributions.parquet: not a readable Parquet table",
    "manifest_not_json": "manifest.json: not valid JSON (line 1",
    "manifest_list": "manifest.json: not a manifest",
    "manifest_sessions": "manifest.json: not a manifest",
    "manifest_deep": "manifest.json: not valid JSON",
    "status_missing": "status.csv: missing",
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_folders_are_one_line(folder, case):
    name, damage = DAMAGE[case]
    damage(folder / name)
    message = refused(load_results, folder)
    assert len(message.splitlines()) == 1 and EXPECTED[case] in message, message
    assert str(folder) in message


def test_a_missing_manifest_is_named(folder):
    (folder / "manifest.json").unlink()
    assert "not a run or sweep folder (no manifest.json)" in refused(load_results, folder)


# --- 6. Property-based: random mutations of the bundled scenarios ----------------------------

RESOLVED = [load_raw(path) for path in BUNDLED]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 2**63, 10**12, 0.5, 1e308, "", "0.5", "3", "grid", "x" * 200])
    | st.text(max_size=20)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=150,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def paths_of(tree, prefix=()):
    """Every key path in a nested mapping (those of mappings inside lists are skipped)."""
    for key, value in tree.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from paths_of(value, (*prefix, key))


@st.composite
def mutated(draw):
    data = copy.deepcopy(draw(st.sampled_from(RESOLVED)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(paths_of(data))
        kind = draw(st.sampled_from(["drop", "replace", "add"])) if paths else "add"
        if kind == "add":
            parent = draw(
                st.sampled_from([(), *(p for p in paths if isinstance(dotted.get(data, p), dict))])
            )
            data = dotted.updated(data, [((*parent, draw(st.text(max_size=12))), draw(VALUES))])
            continue
        path = draw(st.sampled_from(paths))
        parent = dotted.get(data, path[:-1]) if len(path) > 1 else data
        if kind == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(VALUES)
    return data


def load_or_refuse(path: Path, overrides: list[str] | None = None) -> None:
    try:
        assert isinstance(load(path, overrides), Scenario)
    except ScenarioError as exc:
        assert exc.problems and all(isinstance(line, str) and line for line in exc.problems)
        assert all(len(line) < 1000 for line in exc.problems)


@FUZZ
@given(data=mutated())
def test_mutated_scenarios_load_or_are_refused(tmp_path, data):
    load_or_refuse(write(tmp_path, "mutated.yaml", yaml.safe_dump(data, sort_keys=False)))


YAMLISH = st.text(alphabet=st.sampled_from(list("[]{}:,-&*!|>'\"#%@`?<=~\n\t \\ab1.0eE+x")))


@FUZZ
@given(text=YAMLISH | st.text(max_size=200), raw=st.binary(max_size=100))
def test_random_text_is_read_or_refused(tmp_path, text, raw):
    load_or_refuse(write(tmp_path, "text.yaml", "name: x\n" + text))
    load_or_refuse(write(tmp_path, "plain.yaml", text))
    load_or_refuse(write(tmp_path, "raw.yaml", raw))


@FUZZ
@given(
    key=st.sampled_from(["steps", "web.ai_share", "sweep.factors.web.n_sites", "a.b"])
    | st.text(max_size=20),
    value=YAMLISH | st.text(max_size=30),
)
def test_random_overrides_are_applied_or_refused(tmp_path, key, value):
    load_or_refuse(write(tmp_path, "base.yaml", "name: x\n"), [f"{key}={value}"])
