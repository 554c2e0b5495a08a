"""The validation cases: cases.toml against the code, and the simulator against theory."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import analysis.validation as V
from analysis.validation import spec
from simulation import registry

PACKAGE = Path(V.__file__).resolve().parent


# ---------------------------------------------------------------- cases as data


def test_every_case_in_cases_toml_has_an_implementation_and_vice_versa():
    assert set(V.SPECS) == set(V.IMPLEMENTATIONS)
    assert list(V.CASES) == list(V.SPECS)  # report order is the file's order


def test_cases_toml_names_existing_scenarios_each_with_quick_sizes():
    used = {s.scenario for s in V.SPECS.values()}
    on_disk = {p.name for p in V.SCENARIOS.glob("*.yaml")}
    assert used == on_disk
    assert set(spec.QUICK) == used
    for s in V.SPECS.values():
        assert s.title and s.reference and s.claim and s.variants, s.key
        assert all(isinstance(v, str) and "=" in v for run in s.variants for v in run), s.key


def test_references_cite_literature_or_formulas_not_an_absent_design_document():
    assert not [s.key for s in V.SPECS.values() if "DESIGN" in s.reference]
    assert "Hill" in V.SPECS["hill_orders"].reference
    assert "Shumailov" in V.SPECS["hill_orders"].reference
    assert "(1−a)(1−fpr)" in V.SPECS["detector"].reference
    assert "arXiv:2404.01413" in V.SPECS["accumulate_bound"].reference
    assert "arXiv:2410.16713" in V.SPECS["accumulate_bound"].reference
    assert "arXiv:2402.07043" in V.SPECS["tail_cutting"].reference


def test_claims_state_their_power():
    for key in ("one_step", "accumulate_bound", "tail_cutting", "temperature"):
        assert "{detect" in V.SPECS[key].claim or "{delta}" in V.SPECS[key].claim, key


def test_claim_placeholders_are_plain_names():
    for s in V.SPECS.values():
        fields = [f for _, f, _, _ in string.Formatter().parse(s.claim) if f is not None]
        assert all(re.fullmatch(r"\w+", f) for f in fields), (s.key, fields)


def test_no_metric_column_is_named_by_a_string_and_no_loop_steps_a_model():
    source = "\n".join(p.read_text("utf-8") for p in sorted(PACKAGE.glob("*.py")))
    quoted = [m.name for m in registry.METRICS if re.search(rf"[\"']{m.name}[\"']", source)]
    assert not quoted
    assert ".step()" not in source
    assert "runner import simulate" in (PACKAGE / "trace.py").read_text("utf-8")


# ---------------------------------------------------------------- simulator vs theory


@pytest.fixture(scope="module")
def quick() -> V.Context:
    return V.Context(quick=True)


@pytest.mark.parametrize("key", list(V.CASES))
def test_quick_case_passes(quick, key):
    result = V.CASES[key](quick)
    failed = [c for c in result.checks if not c.passed]
    assert result.checks
    assert not failed, failed
    assert result.figure.startswith(b"\x89PNG")
    assert result.key == key and result.title == V.SPECS[key].title
    assert "{" not in result.claim and "}" not in result.claim


@pytest.mark.parametrize(
    "overrides",
    [
        ["web.docs_per_step=300", "crawlers.budget=120", "content.n_topics=25"],
        ["crawlers.budget=400", "content.topic_zipf=0.6", "steps=12", "replications=40"],
        ["models.regime=accumulate", "content.n_topics=15", "content.topic_zipf=1.4"],
        ["models.regime=subsample", "models.train_budget=150"],
    ],
)
def test_wright_fisher_survives_user_overrides(overrides):
    ctx = V.Context(quick=True, overrides=overrides)
    result = V.CASES["wright_fisher"](ctx)
    assert all(c.passed for c in result.checks), result.checks
    sc = ctx.scenario("wright_fisher.yaml")
    for text in overrides:
        key, value = text.split("=")
        node = sc.to_dict()
        for part in key.split("."):
            node = node[part]
        assert str(node) == value


@pytest.mark.slow
def test_full_size_validation_passes(tmp_path):
    results = V.run_cases(quick=False)
    V.write_report(results, tmp_path)
    assert all(r.passed for r in results), [r.key for r in results if not r.passed]
