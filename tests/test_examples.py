"""The Python API as the README shows it: examples/python_api.py runs, and every name the
README's "Python API" code uses exists (imports, and attributes of the objects it handles)."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import mesa
import pandas as pd

from analysis.load import Results
from simulation.model import WebEcosystem
from tests.conftest import small_scenario

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_python_api_example_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, "examples/python_api.py", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = tmp_path.iterdir()
    assert f"{run_dir}: run, 2 runs" in done.stdout
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["replication"].tolist() == [0, 1] and (summary["steps"] == 4).all()
    command = json.loads((run_dir / "manifest.json").read_text())["command"]
    assert command["argv"] == ["examples/python_api.py", str(tmp_path)]  # a script's own argv


def _api_code() -> ast.Module:
    """The Python code blocks of the README's "Python API" section, parsed."""
    section = README.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the Python API section has no python code block"
    return ast.parse("\n".join(blocks))


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` of a chain of attributes on a name (None for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def test_the_names_the_readme_api_uses_exist(small_model):
    code = _api_code()
    imported = [
        (node.module, alias.name)
        for node in ast.walk(code)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert len(imported) >= 4
    for module, name in imported:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
    objects = {  # what the README's variables hold
        "scenario": small_scenario(),
        "model": small_model,
        "model.datacollector": mesa.DataCollector,
        "results": Results,
        "pd": pd,
    }
    used = {_dotted(n) for n in ast.walk(code) if isinstance(n, ast.Attribute)} - {None}
    checked = 0
    for name in sorted(used):
        base, attr = name.rsplit(".", 1)
        if base in objects:
            holder = objects[base]
            fields = getattr(holder, "__dataclass_fields__", {})
            assert hasattr(holder, attr) or attr in fields, name
            checked += 1
    assert checked >= 5
    assert isinstance(small_model, WebEcosystem)
