"""The world every run of a scenario shares: reality (p*) and the held-out documents.

Both are drawn from the root seed's own stream and depend on nothing but the seed and the
`content` section, so every replication and every sweep point with that seed and content
lives in the same world. Building it (p*'s K x V distributions and their sampling tables) is
most of a model's construction time, so a process builds each world once and shares it,
read-only, with every model it builds afterwards: a run's replications, a pool worker's or a
Dask worker's successive sweep runs, a test module's models; and keeps it on disk for the
processes that come later (`simulation.world_cache`). Sharing changes no result: the world's
stream is consumed only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulation import world_cache
from simulation.content import ContentSpace
from simulation.scenario import Content, Scenario

HELD_OUT_DOCS = 500
WORLDS_KEPT = 2  # per process: a medium world is ~0.2 GB, a large one ~0.4 GB


def world_rng(seed: int) -> np.random.Generator:
    """The stream that draws reality (p*) and the held-out documents from the root seed."""
    return np.random.default_rng(np.random.SeedSequence(seed))


@dataclass(frozen=True)
class World:
    """Reality and the real documents no model ever trains on (the models' cross-entropy is
    scored on them). Its arrays are read-only: models share one World."""

    content: ContentSpace
    held_out_topics: np.ndarray
    held_out_tokens: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything drawn for this world, by name (`from_arrays` takes it back)."""
        return {
            **self.content.arrays(),
            "held_out_topics": self.held_out_topics,
            "held_out_tokens": self.held_out_tokens,
        }

    @classmethod
    def from_arrays(cls, content: Content, arrays: dict[str, np.ndarray]) -> World:
        """The world of a `content` section whose `arrays()` these are."""
        space = ContentSpace.from_arrays(content, arrays)
        return cls(space, arrays["held_out_topics"], arrays["held_out_tokens"])


@lru_cache(maxsize=WORLDS_KEPT)
def build_world(seed: int, content: Content) -> World:
    """The world of a root seed and a `content` section, built once per process: loaded from
    the worlds kept on disk (`simulation.world_cache`) or drawn, then kept there."""
    saved = world_cache.load(seed, content)
    if saved is not None:
        return World.from_arrays(content, saved)
    world = draw_world(seed, content)
    world_cache.save(seed, content, world.arrays())
    return world


def draw_world(seed: int, content: Content) -> World:
    """Draw the world of a root seed and a `content` section from the seed's own stream."""
    rng = world_rng(seed)
    space = ContentSpace(content, rng)
    topics, tokens = space.sample_real(HELD_OUT_DOCS, rng)
    world = World(space, topics, tokens)
    for array in (space.topic_probs, space.word_probs, topics, tokens):
        array.flags.writeable = False
    return world


def world_of(scenario: Scenario) -> World:
    """The world a scenario's models live in (see `build_world`)."""
    return build_world(scenario.seed, scenario.content)
