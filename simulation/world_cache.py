"""Worlds kept on disk: a process loads the world that an earlier run of the same seed and
`content` section drew, instead of drawing it again.

Drawing a world (p*, its sampling tables and the held-out documents, `simulation.world`) takes
a process about 2 s for the large benchmark and 1-1.5 s for the medium one, wordfreq's word list
included; loading it back takes 10 ms. Each world is a folder of `.npy` files, memory-mapped
read-only when loaded, so the processes of a sweep on one machine share one copy of it in
memory.

A world is found by a key that holds everything its arrays depend on: the seed, the `content`
section, numpy's version and the CPU features its kernels use (their rounding can differ in the
last bit), wordfreq's version, and the source of the modules that draw it. A changed input
gives a new key, never a stale world; tests/test_world_cache.py checks that a loaded world and
a freshly drawn one give bit-identical runs.

The cache lives in `OUROBOROS_CACHE` (a folder; `off` turns it off), else in
`$XDG_CACHE_HOME/ouroboros` or `~/.cache/ouroboros`. It holds at most `MAX_BYTES`: saving a world
deletes the least recently used ones beyond that. A world is written to a temporary folder and
renamed into place, so a reader never sees half a world; any failure to read or write the cache
falls back to drawing the world (the cache can only save time, never change or stop a run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from simulation.scenario import Content

CACHE_ENV = "OUROBOROS_CACHE"
MAX_BYTES = 2 << 30  # a medium world takes ~0.2 GB, a large one ~0.4 GB
MIN_CELLS = 100_000  # topics x words: smaller worlds are drawn in a few milliseconds
ABANDONED_S = 3600  # a temporary folder this old was left by a process that died saving
FORMAT = 1  # the layout of a saved world; raise it when the layout changes
# The modules whose code draws a world (`simulation.world`) and its tables.
DRAWN_BY = ("simulation.world", "simulation.content", "simulation.generative.tables")


def cache_folder() -> Path | None:
    """Where worlds are kept, or None when `OUROBOROS_CACHE=off` (or no folder is named and
    there is no home folder)."""
    asked = os.environ.get(CACHE_ENV, "").strip()
    if asked.lower() == "off":
        return None
    if asked:
        return Path(asked).expanduser() / "worlds"
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not base:
        try:
            base = Path.home() / ".cache"
        except RuntimeError:  # no home folder to be found: nowhere to keep worlds
            return None
    return Path(base) / "ouroboros" / "worlds"


def world_key(seed: int, content: Content) -> str:
    """The name a world is kept under: a hash of everything its arrays depend on."""
    from numpy._core._multiarray_umath import __cpu_features__

    sources = hashlib.sha256()
    for name in DRAWN_BY:
        sources.update(Path(sys.modules[name].__file__).read_bytes())
    material = {
        "format": FORMAT,
        "seed": seed,
        "content": content.model_dump(mode="json"),
        "numpy": np.__version__,
        "cpu": sorted(name for name, on in __cpu_features__.items() if on),
        "wordfreq": metadata.version("wordfreq") if content.vocabulary == "wordfreq-en" else None,
        "code": sources.hexdigest(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def worth_keeping(content: Content) -> bool:
    """Whether a world is big enough to be kept on disk."""
    return content.n_topics * content.n_words >= MIN_CELLS


def load(seed: int, content: Content) -> dict[str, np.ndarray] | None:
    """The arrays of the world saved for `seed` and `content` (read-only, memory-mapped), or
    None if there is none (or it cannot be read: it is then deleted, to be saved again)."""
    folder = cache_folder()
    if folder is None or not worth_keeping(content):
        return None
    place = folder / world_key(seed, content)
    if not place.is_dir():
        return None
    try:
        names = json.loads((place / "world.json").read_text())["arrays"]
        arrays = {name: _mapped(place / f"{name}.npy") for name in names}
        os.utime(place)  # recently used: evicted last
    except (OSError, EOFError, ValueError, KeyError):
        shutil.rmtree(place, ignore_errors=True)
        return None
    return arrays


def _mapped(path: Path) -> np.ndarray:
    """A saved array, mapped read-only, as a plain ndarray (a view of the mapping)."""
    return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)


def save(seed: int, content: Content, arrays: dict[str, np.ndarray]) -> None:
    """Keep a world's arrays for the next process, then evict beyond `MAX_BYTES`. Nothing
    happens if the cache is off, the world small, or the folder cannot be written."""
    folder = cache_folder()
    if folder is None or not worth_keeping(content):
        return
    key = world_key(seed, content)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / key).is_dir():
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder))
        try:
            for name, array in arrays.items():
                np.save(staging / f"{name}.npy", array, allow_pickle=False)
            about = {"seed": seed, "content": content.model_dump(mode="json")}
            (staging / "world.json").write_text(json.dumps({**about, "arrays": list(arrays)}))
            staging.rename(folder / key)  # atomic; fails if another process saved it first
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        evict(folder, keep=key)
    except OSError:
        return


def evict(folder: Path, keep: str) -> None:
    """Delete the least recently used worlds until the cache holds at most `MAX_BYTES`
    (never `keep`, the world just saved), and temporary folders abandoned by dead processes."""
    worlds = []
    for place in folder.iterdir():
        if not place.is_dir():
            continue
        if place.name.startswith("."):  # another process saving, or one that died saving
            if time.time() - place.stat().st_mtime > ABANDONED_S:
                shutil.rmtree(place, ignore_errors=True)
            continue
        size = sum(f.stat().st_size for f in place.iterdir())
        worlds.append((place.stat().st_mtime, place, size))
    total = sum(size for _, _, size in worlds)
    for _, place, size in sorted(worlds):
        if total <= MAX_BYTES:
            break
        if place.name != keep:
            shutil.rmtree(place, ignore_errors=True)
            total -= size
