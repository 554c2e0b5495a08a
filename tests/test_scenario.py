"""Scenario files: schema, extends, --set, and every kind of bad input (exit 2, one clear line)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from simulation import dotted, schema
from simulation.cli import SCENARIO_DIR, app
from simulation.scenario import ScenarioError, Schedule, apply_overrides, load

runner = CliRunner()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


BAD = {
    "ai_share_too_big": (
        "name: x\nweb: {ai_share: 1.3}\n",
        ["web.ai_share", "less than or equal to 1", "1.3"],
    ),
    "negative_rate": (
        "name: x\nhumans: {copy_rate: -0.1}\n",
        ["humans.copy_rate", "greater than or equal to 0"],
    ),
    "top_p_zero": ("name: x\nmodels: {top_p: 0}\n", ["models.top_p", "greater than 0"]),
    "unknown_key": ("name: x\nwebb: {n_sites: 3}\n", ["webb", "unknown key"]),
    "unknown_nested_key": ("name: x\nweb: {n_site: 3}\n", ["web.n_site", "unknown key"]),
    "bad_regime": (
        "name: x\nmodels: {regime: forget}\n",
        ["models.regime", "'replace'", "'subsample'"],
    ),
    "bad_schedule": (
        "name: x\nweb: {ai_share: {start: 0.1, end: 2, shape: cubic}}\n",
        ["web.ai_share.end", "web.ai_share.shape", "'linear' or 'logistic'"],
    ),
    "malformed_yaml": ("name: x\n  bad: [\n", ["malformed YAML", "line 2"]),
    "python_tag": ("name: !!python/object/apply:os.system ['true']\n", ["!!python", "not allowed"]),
    "empty_file": ("", ["empty file"]),
    "not_a_mapping": ("- 1\n- 2\n", ["top level must be a mapping"]),
    "missing_extends": (
        "extends: nowhere.yaml\nname: x\n",
        ["extends", "nowhere.yaml", "not found"],
    ),
    "missing_name": ("steps: 3\n", ["name", "Field required"]),
    "wrong_type": ("name: x\nsteps: many\n", ["steps", "valid integer", "'many'"]),
    "too_few_farms": (
        "name: x\nweb: {n_sites: 10, farm_share: 0.1}\nmodels: {count: 3}\n",
        ["farm"],
    ),
    "no_human_site": (
        "name: x\nweb: {n_sites: 4, farm_share: 0.9}\nmodels: {count: 1}\n",
        ["humans"],
    ),
    "bad_sweep_key": ("name: x\nsweep: {factors: {web.nope: [1, 2]}}\n", ["web.nope"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_clear_message(case, tmp_path):
    text, expected = BAD[case]
    path = write(tmp_path, f"{case}.yaml", text)
    out = tmp_path / "runs"
    for verb in (["check"], ["run", "--out", str(out), "-q"]):
        result = runner.invoke(app, [verb[0], str(path), *verb[1:]])
        assert result.exit_code == 2, result.output
        message = result.output
        assert "Traceback" not in message
        assert f"{case}.yaml" in message
        for fragment in expected:
            assert fragment in message, (fragment, message)
    assert not out.exists() or not any(out.iterdir())


def test_missing_file_and_bad_override(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "file not found" in result.output
    good = write(tmp_path, "good.yaml", "name: good\n")
    for override, fragment in [
        ("web.ai_share=1.5", "web.ai_share"),
        ("foo.bar=1", "foo: unknown key"),
        ("no_equals_sign", "KEY=VALUE"),
    ]:
        result = runner.invoke(app, ["run", str(good), "--set", override, "--out", str(tmp_path)])
        assert result.exit_code == 2, override
        assert fragment in result.output and "Traceback" not in result.output
    assert not any(p for p in tmp_path.iterdir() if p.is_dir())


def test_extends_deep_merges_and_set_overrides(tmp_path):
    write(tmp_path, "base.yaml", "name: base\nsteps: 9\nweb: {n_sites: 50, docs_per_step: 100}\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\nweb: {n_sites: 70}\n")
    scenario = load(child, ["web.ai_share=0.5", "models.regime=replace"])
    assert scenario.name == "child" and scenario.steps == 9
    assert scenario.web.n_sites == 70 and scenario.web.docs_per_step == 100
    assert scenario.web.ai_share == 0.5 and scenario.models.regime == "replace"


def test_filters_that_empty_the_first_crawl_are_a_clear_error(tmp_path):
    path = write(tmp_path, "strict.yaml", "name: strict\nfiltering: {detector: {tpr: 1, fpr: 1}}\n")
    args = ["run", str(path), "--set", "steps=2", "--set", "web.archive_docs=500", "-q"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "first crawl" in result.output and "filtering.detector.fpr" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_circular_extends(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError, match="circular"):
        load(tmp_path / "a.yaml")


def test_schedule_shapes():
    linear = Schedule(start=0.05, end=0.74)
    assert linear.at(1, 120) == pytest.approx(0.05)
    assert linear.at(120, 120) == pytest.approx(0.74)
    assert linear.at(60, 120) == pytest.approx(0.05 + 0.69 * 59 / 119)
    logistic = Schedule(start=0.0, end=1.0, shape="logistic")
    values = [logistic.at(t, 101) for t in range(1, 102)]
    assert values[0] == pytest.approx(0.0) and values[-1] == pytest.approx(1.0)
    assert values[50] == pytest.approx(0.5)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))


def test_bundled_scenarios_are_valid_and_listed():
    paths = sorted(SCENARIO_DIR.rglob("*.yaml"))
    assert len(paths) >= 6
    result = runner.invoke(app, ["check", *map(str, paths)])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and "baseline.yaml" in listing.output
    for path in paths:
        assert load(path).description, f"{path} needs a description"
    # The calibrated baseline (docs/CALIBRATION.md): monthly steps from ChatGPT's release to
    # 2030; farm pages are a few percent of new pages, flat since May 2024, never 74%.
    baseline = load(SCENARIO_DIR / "baseline.yaml")
    assert baseline.date_of(0) == "2022-11" and baseline.date_of(baseline.steps) == "2030-12"
    plateau = baseline.ai_share_at(baseline.step_of("2024-05"))
    assert baseline.ai_share_at(0) == 0.0 and 0.0 < plateau < 0.1
    assert baseline.ai_share_at(baseline.steps) == plateau
    stylised = load(SCENARIO_DIR / "stylised.yaml")
    assert stylised.ai_share_at(1) == pytest.approx(0.05)
    assert stylised.ai_share_at(stylised.steps) == pytest.approx(0.74)


def test_schema_is_json_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert set(schema["properties"]) >= {"content", "web", "humans", "models", "crawlers"}
    assert schema["additionalProperties"] is False


def test_resolved_scenario_round_trips(tmp_path):
    scenario = load(SCENARIO_DIR / "human_reserve.yaml")
    path = write(tmp_path, "resolved.yaml", yaml.safe_dump(scenario.to_dict()))
    again = load(path)
    assert again == scenario and again.config_hash() == scenario.config_hash()


def test_dotted_keys_get_has_and_updated():
    tree = {"web": {"n_sites": 5, "ai_share": {"start": 0.1}}, "sweep": None, "n": [1, 2]}
    assert dotted.get(tree, "web.ai_share.start") == dotted.get(tree, ("web", "ai_share", "start"))
    assert dotted.get(tree, "web.nope", None) is None and dotted.get(tree, "n.0", 7) == 7
    with pytest.raises(KeyError):
        dotted.get(tree, "sweep.design")
    assert dotted.has(tree, "sweep") and dotted.has(tree, "web.n_sites")
    assert not dotted.has(tree, "web.n_sites.x") and not dotted.has(tree, "webb")
    before = json.dumps(tree)
    out = dotted.updated(tree, {"web.ai_share.start": 0.4, "sweep.design": "grid", "a.b": 1})
    assert json.dumps(tree) == before  # the input is left untouched
    assert out["web"] == {"n_sites": 5, "ai_share": {"start": 0.4}}
    assert out["sweep"] == {"design": "grid"} and out["a"] == {"b": 1}
    assert out["n"] is tree["n"]  # off the paths, shared


def test_overrides_apply_in_order_on_a_copy():
    data = {"web": {"n_sites": 5}}
    out = apply_overrides(data, ["web.n_sites=7", "web=3", "web.ai_share=0.5", "name=x"])
    assert out == {"web": {"ai_share": 0.5}, "name": "x"} and data == {"web": {"n_sites": 5}}


def test_scenario_re_exports_the_schema():
    from simulation import scenario

    for name in ("Scenario", "Web", "Humans", "Models", "Sweep", "Range", "Strict"):
        assert getattr(scenario, name) is getattr(schema, name)
