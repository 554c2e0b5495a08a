"""The validation report and the `validate` command (theory and cases: test_validation_theory.py,
test_validation_cases.py)."""

from __future__ import annotations

import html
import re

import networkx as nx
import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.validation import checks, write_report
from analysis.validation.checks import CaseResult, Check
from simulation.cli import app
from simulation.network import SiteNetwork
from simulation.scenario import Web

PNG = b"\x89PNG\r\n\x1a\n not really a picture"


def result(key: str, claim: str = "A claim.", fail: bool = False) -> CaseResult:
    return CaseResult(
        key=key,
        title=f"Case {key} & co",
        reference="Someone et al. (2024)",
        claim=claim,
        settings="N=10",
        checks=[
            Check(f"{key}: close", 1.0, 1.05, 0.1),
            Check(f"{key}: exact", 3, 2 if fail else 3, 0, "="),
            Check(f"{key}: greater", 2.0, 1.0, 0.5, ">"),
        ],
        figure=PNG,
    )


def md_verdicts(md: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, verdict, [(check, verdict)]) of every case section of validation.md."""
    out = []
    for section in md.split("\n## ")[1:]:
        title, verdict = re.match(r"(.*) — (pass|FAIL)\n", section).groups()
        rows = re.findall(
            r"^\| (.+?) \| \S+ \| \S \| \S+ \| \S+ \| (pass|\*\*FAIL\*\*) \|$", section, re.M
        )
        out.append((title, verdict, [(label, v.strip("*")) for label, v in rows]))
    return out


def html_verdicts(page: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The same, read from validation.html."""
    out = []
    for section in re.findall(r"<section id=\"\w+\">(.*?)</section>", page, re.S):
        title, verdict = re.search(
            r"<h2>(.*?) — <span class=\"(?:pass|fail)\">(\w+)</span>", section
        ).groups()
        rows = re.findall(
            r"<tr><td class=\"label\">(.*?)</td>.*?"
            r"<td class=\"label (?:pass|fail)\">(\w+)</td></tr>",
            section,
            re.S,
        )
        out.append(
            (html.unescape(title), verdict, [(html.unescape(label), v) for label, v in rows])
        )
    return out


# ---------------------------------------------------------------- report


def test_html_escapes_text_from_a_case(tmp_path):
    write_report([result("x", claim="<script>alert(1)</script> and a < b")], tmp_path)
    page = (tmp_path / "validation.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; and a &lt; b" in page
    assert "Case x &amp; co" in page
    assert "<script>alert(1)</script>" in (tmp_path / "validation.md").read_text()


def test_markdown_and_html_list_the_same_cases_and_verdicts(tmp_path):
    results = [result("a"), result("b", fail=True), result("c")]
    write_report(results, tmp_path, quick=True, overrides=["steps=3"])
    md = (tmp_path / "validation.md").read_text()
    page = (tmp_path / "validation.html").read_text()
    expected = [
        (
            r.title,
            "pass" if r.passed else "FAIL",
            [(c.label, "pass" if c.passed else "FAIL") for c in r.checks],
        )
        for r in results
    ]
    assert md_verdicts(md) == html_verdicts(page) == expected
    assert md.startswith("# Ouroboros validation against the literature\n\n2 of 3 cases pass")
    assert "(quick size; --set steps=3)" in md and "--set steps=3" in page
    for r in results:
        assert f"![{r.title}](figures/{r.key}.png)" in md
        assert (tmp_path / "figures" / f"{r.key}.png").read_bytes() == PNG


def test_report_extends_the_shared_layout(tmp_path):
    write_report([result("x")], tmp_path)
    page = (tmp_path / "validation.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>Ouroboros validation against the literature</h1>" in page
    assert "<figure><img alt=" in page and "data:image/png;base64," in page


# ---------------------------------------------------------------- command


def test_validate_command_writes_report(tmp_path):
    result = CliRunner().invoke(
        app, ["validate", "--quick", "--case", "detector", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    page = (tmp_path / "validation.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.split("<body>")[1]
    md = (tmp_path / "validation.md").read_text()
    assert "| AI share 0.5: human share of what passes |" in md
    assert (tmp_path / "figures" / "detector.png").read_bytes().startswith(b"\x89PNG")


def test_validate_command_exits_1_when_a_case_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "SIGMAS", 0.0)  # no tolerance: the Monte Carlo error must fail
    result = CliRunner().invoke(
        app, ["validate", "--quick", "--case", "detector", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "FAIL" in (tmp_path / "validation.md").read_text()


@pytest.mark.parametrize(
    "args",
    [["--case", "nope"], ["--set", "web.docs_per_step=0"], ["--set", "models.regime=bogus"]],
)
def test_validate_command_rejects_bad_input(tmp_path, args):
    result = CliRunner().invoke(app, ["validate", "--quick", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "validation.html").exists()


# ---------------------------------------------------------------- core fix found here


def test_site_network_computes_pagerank_once(monkeypatch):
    calls = []
    real = nx.pagerank

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(nx, "pagerank", counting)
    net = SiteNetwork(Web(n_sites=50, links_per_site=2), 2, np.random.default_rng(0))
    assert len(calls) == 1
    assert net.pagerank.sum() == pytest.approx(1.0)
    assert np.all(net.pagerank > 0)
