"""The documents a reader trusts agree with the code: the ODD's metric tables, cited files."""

from __future__ import annotations

import re
from pathlib import Path

from simulation import registry

ROOT = Path(__file__).resolve().parent.parent
ODD = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def test_the_odd_metric_table_is_the_registry_table():
    generated = section(ODD, "<!-- registry table", "<!-- end of registry table -->")
    assert generated.split("\n", 1)[1].strip() == registry.odd_table()


def test_the_odd_formula_table_covers_every_registry_column_in_order():
    formulas = section(ODD, "The formulas, as implemented", "**Run outputs.**")
    columns = re.findall(r"^\| `(\w+)` \|", formulas, flags=re.M)
    assert columns == ["generation", *registry.COLUMNS]


def test_every_module_the_architecture_names_exists():
    named = set(re.findall(r"`((?:simulation|analysis)/[\w/]+\.py)`", ARCHITECTURE))
    named |= {f"simulation/{m}" for m in re.findall(r"^\| `(\w+\.py)`", ARCHITECTURE, re.M)}
    assert named, "the module table was not found"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing


def test_no_project_document_cites_a_design_file_it_does_not_ship():
    cited = {
        path.relative_to(ROOT): re.findall(r"\b([A-Z][A-Z_]+\.md)\b", path.read_text("utf-8"))
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    }
    absent = {
        str(doc): name
        for doc, names in cited.items()
        for name in names
        if not (ROOT / name).exists()
        and not (ROOT / "docs" / name).exists()
        and not list(ROOT.glob(f"*/{name}"))
    }
    assert not absent
