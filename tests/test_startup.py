"""Start fast: `ouroboros --help` and `--version` load typer and rich only, and `check` adds the
scenario schema and the budget estimate (pydantic, yaml), never numpy (the estimate is pure
Python) nor the model's libraries (mesa, pandas, scipy, networkx, …).

Each command imports what it uses when it runs (`simulation.cli`); these tests hold that by
looking at what a fresh interpreter has imported after each command, not by timing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulation import budget
from simulation.memory import NUMPY_AT_START

ROOT = Path(__file__).resolve().parent.parent
MODEL_LIBRARIES = ("mesa", "pandas", "scipy", "matplotlib", "dask", "networkx", "SALib")
# Runs commands one after another in one fresh interpreter (imports only accumulate, so what
# is loaded after each command is an upper bound of what that command loads) and prints, as
# its last line, the exit status and the modules loaded after each.
CHILD = """
import json, sys
from simulation.cli import app

loaded = {"import": sorted(sys.modules)}
for args in json.loads(sys.argv[1]):
    try:
        app(args, prog_name="ouroboros")
    except SystemExit as exc:
        loaded[" ".join(args)] = [exc.code, sorted(sys.modules)]
print(json.dumps(loaded))
"""
COMMANDS = [
    ["--help"],
    ["--version"],
    ["check", "scenarios/baseline.yaml"],
    ["check", "scenarios/ai_share_sweep.yaml"],
]


def _loaded_after_each(commands: list[list[str]]) -> dict[str, Any]:
    """What a fresh interpreter has imported after `import simulation.cli` and each command."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(commands)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    return {
        key: [value[0], _packages(value[1])] if key != "import" else _packages(value)
        for key, value in loaded.items()
    }


def _packages(modules: list[str]) -> set[str]:
    """The modules and the top-level packages they belong to."""
    return set(modules) | {name.split(".")[0] for name in modules}


def test_commands_import_only_what_they_use():
    loaded = _loaded_after_each(COMMANDS)
    assert not {"numpy", "pydantic", "yaml", *MODEL_LIBRARIES} & loaded["import"]
    code, help_modules = loaded["--help"]
    assert code == 0
    assert not {"numpy", "pydantic", "yaml", "importlib.metadata", *MODEL_LIBRARIES} & help_modules
    code, version_modules = loaded["--version"]
    assert code == 0
    assert not {"numpy", "pydantic", "yaml", *MODEL_LIBRARIES} & version_modules
    code, check_modules = loaded["check scenarios/baseline.yaml"]
    assert code == 0
    assert {"pydantic", "yaml"} <= check_modules  # the schema needs them
    assert not {"numpy", *MODEL_LIBRARIES} & check_modules
    code, sweep_modules = loaded["check scenarios/ai_share_sweep.yaml"]
    assert code == 0  # a grid design's table is a pandas frame; only LHS needs scipy
    assert not {"mesa", "scipy", "matplotlib", "dask", "networkx", "SALib"} & sweep_modules


def test_check_alone_prints_no_table():
    """`check` first in a fresh interpreter (`--help` loads rich.table for its own tables)."""
    code, modules = _loaded_after_each([["check", "scenarios/baseline.yaml"]])[
        "check scenarios/baseline.yaml"
    ]
    assert code == 0
    assert not {"rich.table", "numpy"} & modules


def test_budget_rank_bins_match_np_unique():
    """The budget's rank bins drop repeated edges exactly as `np.unique` would."""
    for n in (1.0, 2.0, 3.0, 50.0, 5000.0, 65_535.0, 1e5, 1e8, 1e15):
        edges = np.unique(np.round(np.geomspace(1.0, n + 1.0, 64)))
        count, _ = budget._ranks(n, ((1.0, 1.0),))
        assert np.array_equal(count, np.diff(edges)), n


def test_budget_quadrature_is_numpys_gauss_hermite_rule():
    """The budget's 16 nodes and weights, written out so that `check` needs no numpy, are
    exactly `hermegauss(16)`'s (weights divided by their sum)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(16)
    assert np.array_equal(budget._NODES, nodes)
    assert np.array_equal(budget._WEIGHTS, weights / weights.sum())


# A fresh interpreter runs `check` through the CLI, then loads numpy as `run` would; it prints
# numpy's huge-page choice and its BLAS thread setting.
NUMPY_CHILD = """
import json, os
from simulation.cli import app

try:
    app(["check", "scenarios/baseline.yaml"])
except SystemExit:
    pass
import numpy
huge = numpy._core.multiarray._get_madvise_hugepage()
print(json.dumps([huge, os.environ["OPENBLAS_NUM_THREADS"]]))
"""


def _numpy_settings(**env: str) -> list:
    environ = {k: v for k, v in os.environ.items() if k not in NUMPY_AT_START} | env
    out = subprocess.run(
        [sys.executable, "-c", NUMPY_CHILD], capture_output=True, text=True, cwd=ROOT, env=environ
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ouroboros_loads_numpy_with_small_pages_and_one_blas_thread():
    assert _numpy_settings() == [False, "1"]


def test_a_users_numpy_settings_win():
    assert _numpy_settings(NUMPY_MADVISE_HUGEPAGE="1", OPENBLAS_NUM_THREADS="2") == [True, "2"]


# A fresh interpreter with ouroboros's malloc and numpy settings (small pages) counts the page
# faults of touching a new 64 MiB array, with or without a warmed heap of 128 MiB first
# (argv[1]: "1" to warm).
WARM_CHILD = """
import resource, sys, threading
import numpy as np
import pytest
from simulation.memory import keep_freed_memory, warm_heap

keep_freed_memory()
if sys.argv[1] == "1":
    warm_heap(128 << 20)
    next(t for t in threading.enumerate() if t.name == "ouroboros-warm-heap").join()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(8 << 20)  # 64 MiB
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults_of_a_new_array(warm: bool) -> int:
    out = subprocess.run(
        [sys.executable, "-c", WARM_CHILD, "1" if warm else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | NUMPY_AT_START,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc (Linux)")
def test_a_warmed_heap_spares_a_run_its_page_faults():
    """Touching 64 MiB maps 16,384 fresh 4 KiB pages; from a heap warmed beforehand (and kept
    by glibc, `keep_freed_memory`) it maps none of them again."""
    assert _faults_of_a_new_array(warm=False) >= 16_384 * 0.9
    assert _faults_of_a_new_array(warm=True) <= 16_384 * 0.1


# A fresh interpreter leaves an object with a finaliser in a reference cycle, with or without
# `skip_collections_at_exit` (argv[1]: "1" to skip), and exits.
EXIT_CHILD = """
import sys
from simulation.memory import skip_collections_at_exit

if sys.argv[1] == "1":
    skip_collections_at_exit()


class Cycle:
    def __del__(self):
        print("collected")


cycle = Cycle()
cycle.me = cycle
"""


@pytest.mark.parametrize("skip", [False, True])
def test_skipping_collections_at_exit_leaves_only_cycles_uncollected(skip):
    """The collector's last passes at exit find a cycle's finaliser unless they are skipped;
    what the process printed before exiting is there either way."""
    out = subprocess.run(
        [sys.executable, "-c", EXIT_CHILD, "1" if skip else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("" if skip else "collected\n")


# A fresh interpreter imports a module in `loading_modules` and prints what the collector did
# meanwhile and after: collections run, objects frozen, whether it is enabled (argv[1]: "off"
# to disable it beforehand).
LOADING_CHILD = """
import gc, json, sys
from simulation.memory import loading_modules

if sys.argv[1] == "off":
    gc.disable()
before = sum(g["collections"] for g in gc.get_stats())
with loading_modules():
    import fractions, decimal, email.parser  # noqa: F401
during = sum(g["collections"] for g in gc.get_stats()) - before
print(json.dumps([during, gc.get_freeze_count(), gc.isenabled()]))
"""


@pytest.mark.parametrize("collector", ["on", "off"])
def test_modules_load_without_collections_and_stay_frozen(collector):
    out = subprocess.run(
        [sys.executable, "-c", LOADING_CHILD, collector],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    during, frozen, enabled = json.loads(out.stdout.strip().splitlines()[-1])
    assert during == 0  # no collection while the modules loaded
    assert frozen > 10_000  # every object so far, the modules' own included
    assert enabled == (collector == "on")  # the collector as it was before
