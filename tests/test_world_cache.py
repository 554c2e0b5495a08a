"""Worlds kept on disk (simulation.world_cache): a loaded world is the drawn one, bit for bit,
a changed input never finds a stale world, and the cache can only save time, never fail a run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import small_scenario
from test_golden import frame_digest

from simulation import world_cache
from simulation.runner import run_one
from simulation.world import build_world, draw_world


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder that keeps worlds of any size; no world built in this process
    before the test is reused."""
    monkeypatch.setenv(world_cache.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(world_cache, "MIN_CELLS", 0)
    build_world.cache_clear()
    yield tmp_path / "worlds"
    build_world.cache_clear()


def saved_worlds(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_loaded_world_is_the_drawn_world_bit_for_bit(cache):
    scenario = small_scenario()
    drawn = build_world(scenario.seed, scenario.content)
    assert saved_worlds(cache) == [world_cache.world_key(scenario.seed, scenario.content)]
    build_world.cache_clear()
    loaded = build_world(scenario.seed, scenario.content)
    assert loaded is not drawn
    assert loaded.content.words == drawn.content.words
    expected = drawn.arrays()
    for name, array in loaded.arrays().items():
        assert array.dtype == expected[name].dtype, name
        assert np.array_equal(array, expected[name]), name
        assert name == "words" or not array.flags.writeable, name  # words: a tuple
    assert loaded.content.n_words == drawn.content.n_words
    assert loaded.content.token_dtype == drawn.content.token_dtype


def test_runs_on_a_loaded_world_are_bit_identical_to_runs_on_a_drawn_one(cache, monkeypatch):
    scenario = small_scenario(steps=5)
    monkeypatch.setenv(world_cache.CACHE_ENV, "off")
    drawn = run_one(scenario, run_id=0, replication=0)
    assert saved_worlds(cache) == []  # off: nothing written
    monkeypatch.setenv(world_cache.CACHE_ENV, str(cache.parent))
    build_world.cache_clear()
    run_one(scenario, run_id=0, replication=0)  # draws the world and saves it
    build_world.cache_clear()
    loaded = run_one(scenario, run_id=0, replication=0)  # loads it
    assert len(saved_worlds(cache)) == 1
    assert frame_digest(loaded.metrics) == frame_digest(drawn.metrics)
    assert frame_digest(loaded.distributions) == frame_digest(drawn.distributions)


def test_every_input_of_a_world_changes_its_key(monkeypatch):
    scenario = small_scenario()
    key = world_cache.world_key(scenario.seed, scenario.content)
    assert world_cache.world_key(scenario.seed, scenario.content) == key  # stable
    assert world_cache.world_key(scenario.seed + 1, scenario.content) != key
    other = scenario.content.model_copy(update={"topic_specificity": 0.5})
    assert world_cache.world_key(scenario.seed, other) != key
    monkeypatch.setattr(world_cache, "FORMAT", world_cache.FORMAT + 1)
    assert world_cache.world_key(scenario.seed, scenario.content) != key
    monkeypatch.undo()
    monkeypatch.setattr(world_cache, "DRAWN_BY", (*world_cache.DRAWN_BY, "simulation.model"))
    assert world_cache.world_key(scenario.seed, scenario.content) != key  # the code changed


def test_small_worlds_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(world_cache.CACHE_ENV, str(tmp_path))
    scenario = small_scenario()  # 40 topics x 300 words
    assert not world_cache.worth_keeping(scenario.content)
    world_cache.save(scenario.seed, scenario.content, draw_world(7, scenario.content).arrays())
    assert saved_worlds(tmp_path / "worlds") == []


def test_a_broken_saved_world_is_drawn_again_and_replaced(cache):
    scenario = small_scenario()
    drawn = build_world(scenario.seed, scenario.content)
    place = cache / world_cache.world_key(scenario.seed, scenario.content)
    (place / "word_keep.npy").write_bytes(b"not an array")
    assert world_cache.load(scenario.seed, scenario.content) is None
    assert not place.exists()  # deleted, to be saved again
    build_world.cache_clear()
    again = build_world(scenario.seed, scenario.content)
    assert np.array_equal(again.content.word_table.prob, drawn.content.word_table.prob)
    assert world_cache.load(scenario.seed, scenario.content) is not None


def test_an_unwritable_cache_leaves_the_run_alone(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(world_cache.CACHE_ENV, str(blocker))  # its "worlds" cannot be made
    monkeypatch.setattr(world_cache, "MIN_CELLS", 0)
    build_world.cache_clear()
    scenario = small_scenario()
    world = build_world(scenario.seed, scenario.content)
    assert world.content.word_probs.shape == (40, 300)
    build_world.cache_clear()


def test_the_least_recently_used_worlds_go_beyond_the_size_limit(cache, monkeypatch):
    sizes = {}
    for seed in (1, 2, 3):
        world = build_world(seed, small_scenario().content)
        place = cache / world_cache.world_key(seed, world.content.config)
        sizes[seed] = sum(f.stat().st_size for f in place.iterdir())
        os.utime(place, (1000.0 * seed, 1000.0 * seed))  # seed 1 the least recently used
    assert len(saved_worlds(cache)) == 3
    world_cache.load(1, small_scenario().content)  # using seed 1 makes seed 2 the oldest
    monkeypatch.setattr(world_cache, "MAX_BYTES", sizes[1] + sizes[3] + sizes[3])
    build_world(4, small_scenario().content)
    kept = {json.loads((p / "world.json").read_text())["seed"] for p in cache.iterdir()}
    assert kept == {1, 3, 4}


def test_an_abandoned_temporary_folder_is_cleared(cache):
    cache.mkdir(parents=True)
    abandoned = cache / ".half-saved"
    abandoned.mkdir()
    old = 1000.0
    os.utime(abandoned, (old, old))
    saving = cache / ".saving-now"
    saving.mkdir()
    build_world(5, small_scenario().content)
    assert not abandoned.exists()
    assert saving.exists()  # another process may still be saving it


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(world_cache.CACHE_ENV, str(tmp_path / "mine"))
    assert world_cache.cache_folder() == tmp_path / "mine" / "worlds"
    monkeypatch.setenv(world_cache.CACHE_ENV, "OFF")
    assert world_cache.cache_folder() is None
    monkeypatch.delenv(world_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert world_cache.cache_folder() == tmp_path / "xdg" / "ouroboros" / "worlds"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert world_cache.cache_folder() == tmp_path / "home" / ".cache" / "ouroboros" / "worlds"

    def no_home() -> None:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(world_cache.Path, "home", no_home)
    assert world_cache.cache_folder() is None  # then worlds are drawn, never kept


def test_ouroboros_run_keeps_the_world_and_reuses_it_with_the_same_results(tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from simulation.cli import app

    content = {"vocabulary": "zipf", "n_words": 2000, "n_topics": 60, "doc_length": 16}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(small_scenario(steps=3, content=content).to_dict()))
    worlds = tmp_path / "cache" / "worlds"

    def run(name: str, cache: str) -> bytes:
        monkeypatch.setenv(world_cache.CACHE_ENV, cache)
        build_world.cache_clear()  # as in a new process
        out = tmp_path / name
        result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "-q"])
        assert result.exit_code == 0, result.output
        (folder,) = out.iterdir()
        return (folder / "metrics.parquet").read_bytes()

    found = []  # what each run found on disk
    load = world_cache.load
    monkeypatch.setattr(world_cache, "load", lambda *key: found.append(load(*key)) or found[-1])
    drawn = run("off", "off")
    assert not worlds.exists()
    first = run("first", str(worlds.parent))  # draws the world and keeps it
    assert len(saved_worlds(worlds)) == 1
    loaded = run("second", str(worlds.parent))
    assert [world is not None for world in found] == [False, False, True]
    assert drawn == first == loaded
    build_world.cache_clear()
