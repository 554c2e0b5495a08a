"""The scenario schema: frozen pydantic models of every section of a scenario file.

Every section forbids unknown keys (`extra="forbid"`), so a typo is an error, not a silently
ignored key, and is immutable once validated. Types are strict (no `true` or `"3"` taken for a
number; an integer is fine where a float is expected), floats are finite, and every size has a
hard upper bound, so no single key can ask for absurd memory or time; a sweep's design is
bounded to `MAX_RUNS` runs. Rates that may follow a schedule over time (`web.ai_share`,
`humans.ai_assist`), the calendar of `start_date` and the strict base class are in
`simulation.schedules`. Reading files, `extends`, `--set` overrides and error messages are
`simulation.scenario`'s job.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from simulation import dotted
from simulation.schedules import (
    MAX_STEPS,
    Month,
    PointSchedule,
    Rate,
    Scheduled,
    Strict,
    month_number,
    month_text,
    rate_at,
)
from simulation.yaml_input import ScenarioError, shorten

MAX_RUNS = 1_000_000  # runs of one sweep: arms × design points × replications

PositiveInt = Annotated[int, Field(ge=1)]
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]  # a number of steps (or of generations)


def Upto(limit: int) -> Any:  # noqa: N802 (reads as a type)
    """A positive integer of at most `limit`."""
    return Annotated[int, Field(ge=1, le=limit)]


class Content(Strict):
    """The real world: topics with Zipf popularity, words per topic."""

    vocabulary: Literal["wordfreq-en", "zipf"] = "wordfreq-en"
    n_words: Annotated[int, Field(ge=2, le=100_000)] = 5000
    n_topics: Annotated[int, Field(ge=2, le=65_535)] = 200
    topic_zipf: Annotated[float, Field(ge=0.0, le=5.0)] = 1.1
    word_zipf: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0
    topic_specificity: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0
    doc_length: Annotated[int, Field(ge=1, le=4096)] = 32


class Web(Strict):
    """The content network and how much is published."""

    n_sites: Annotated[int, Field(ge=2, le=10**6)] = 1000
    links_per_site: PositiveInt = 3
    farm_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    # In-links a farm gets from human sites, relative to those a human site gets (7.1).
    farm_links: Rate = 0.1
    # Topics in a human site's profile, and the share of its documents placed by profile (7.1).
    site_topics: Annotated[int, Field(ge=1, le=64)] = 3
    topic_focus: Rate = 0.8
    docs_per_step: Upto(10**7) = 20000
    archive_docs: Upto(10**8) = 100000
    ai_share: Scheduled = 0.3

    @model_validator(mode="after")
    def _links_fit(self) -> Web:
        if self.links_per_site >= self.n_sites:
            raise ValueError(
                f"links_per_site ({self.links_per_site}) must be smaller than "
                f"n_sites ({self.n_sites})"
            )
        return self


class Humans(Strict):
    """Human writers: interests, AI adoption, copying of model word patterns and forgetting."""

    count: Upto(10**7) = 2000
    interests: Annotated[int, Field(ge=1, le=64)] = 3
    # The background level of drafting with AI (a rate or a schedule: the diffusion of AI
    # tools); adoption moves each writer's chance at adopt_rate toward a level set by it and by
    # exposure (ODD 7.5). Its value at step 0 is every writer's initial chance.
    ai_assist: Scheduled = 0.1
    # Share of an assisted document drafted by the model: fixed, or with assist_spread (a Beta
    # concentration) drawn per document from Beta(κ·assist_words, κ·(1 − assist_words)).
    assist_words: Rate = 0.5
    assist_spread: Annotated[float, Field(gt=0.0, le=1e4)] | None = None
    # Chance that an assisted document is published wholly as the model wrote it (ODD 7.7).
    pure_ai: Rate = 0.0
    adopt_rate: Rate = 0.02
    # Copying: a writer's style (share of own words in model patterns) rises at copy_rate per
    # unit exposure and decays at unlearn_rate (ODD 7.5).
    copy_rate: Rate = 0.02
    unlearn_rate: Rate = 0.02
    forget_rate: Rate = 0.01
    reading_window: Annotated[int, Field(ge=1, le=10_000)] = 1

    @model_validator(mode="after")
    def _spread_needs_a_share(self) -> Humans:
        if self.assist_spread is not None and not 0.0 < self.assist_words < 1.0:
            raise ValueError(
                f"assist_spread needs assist_words strictly between 0 and 1 (got "
                f"{self.assist_words}): it is the mean of the Beta-distributed drafted share"
            )
        return self


class Models(Strict):
    """Generative models: how and on what they retrain, and how they generate."""

    count: Annotated[int, Field(ge=1, le=256)] = 3
    retrain_every: Steps = 6
    regime: Literal["replace", "accumulate", "window", "subsample"] = "accumulate"
    window: Steps = 4
    train_budget: Upto(10**8) = 60000
    smoothing: Annotated[float, Field(ge=0.0, le=1e6)] = 0.0
    temperature: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95
    capacity: Upto(100_000) | None = None
    # Topics of content-farm documents: the humans' current interest mix (what people read and
    # search for, the traffic farms chase) or the model's own fitted topic distribution.
    farm_topics: Literal["demand", "model"] = "demand"
    # False freezes every model after its first fit (on the pre-AI archive): the no-feedback
    # counterfactual, in which synthetic text still dilutes the web but never trains a model.
    feedback: bool = True


class Crawlers(Strict):
    """One crawler per model: how it walks the web and what it collects."""

    strategy: Literal["random", "bfs", "pagerank"] = "pagerank"
    budget: Upto(10**8) = 60000
    scope: Literal["fresh", "all"] = "fresh"
    seeds: Upto(10**6) = 5


class Detector(Strict):
    """Synthetic-text detector: true- and false-positive rates."""

    tpr: Rate = 0.8
    fpr: Rate = 0.05


class Provenance(Strict):
    """Machine-readable provenance labels on synthetic documents."""

    # A rate or a schedule: the adoption of provenance labels over time (ODD 7.7).
    label_rate: Scheduled = 0.3
    honored: bool = True


class Filtering(Strict):
    """The data-curation policies applied to every crawl."""

    detector: Detector | None = Detector()
    provenance: Provenance = Provenance()
    human_reserve: Rate = 0.0
    protect_tail: bool = False
    # Bounded tail protection (7.9): tail topics get exactly this share of every kept crawl's
    # training weight; null: reality's own tail share (p* mass of the tail topics).
    tail_share: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None


class Metrics(Strict):
    """What the metrics look at."""

    window: Steps = 1
    tail_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2


class Range(Strict):
    """A continuous factor range for sampled sweep designs."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        return self


class Sweep(Strict):
    """Optional: turns a scenario into a sweep over factors."""

    design: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    samples: Upto(100_000) = 16
    factors: dict[str, list[Any] | Range] = {}
    # Named policy arms: arm name -> {dotted scenario key: value}; the design is arms × factors.
    arms: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")], dict[str, Any]] = {}

    @model_validator(mode="after")
    def _not_empty(self) -> Sweep:
        if not self.factors and not self.arms:
            raise ValueError("a sweep needs at least one entry in `factors` or `arms`")
        return self

    def n_points(self) -> int:
        """How many design points the design has, computed without building it."""
        dim = len(self.factors)
        if dim == 0:
            return 1
        if self.design == "grid":
            return math.prod(len(v) if isinstance(v, list) else 1 for v in self.factors.values())
        if self.design == "lhs":
            return self.samples
        extra = {"sobol": 2, "morris": 1}[self.design]  # Sobol: N (D + 2), no 2nd order
        return self.samples * (dim + extra)

    def problems(self, base: dict[str, Any], replications: int) -> list[str]:
        """What is wrong with this sweep for a scenario `base` (keys, factor kinds, size)."""
        out = [
            f"sweep.factors: {shorten(key)} cannot be swept (it is the sweep's own setting)"
            for key in self.factors
            if dotted.parts(key)[0] == "sweep"
        ]
        keyed = [("sweep.factors", k) for k in self.factors]
        keyed += [(f"sweep.arms.{arm}", k) for arm, keys in self.arms.items() for k in keys]
        for where, key in keyed:
            why = dotted.unknown(base, key)
            if why:
                out.append(f"{where}: unknown scenario key {shorten(key)} ({why})")
        for key, value in self.factors.items():
            if self.design == "grid" and (not isinstance(value, list) or not value):
                out.append(f"sweep.factors.{key}: a grid design needs a non-empty list of values")
            elif self.design != "grid" and not isinstance(value, Range):
                out.append(
                    f"sweep.factors.{key}: a {self.design} design needs a range "
                    f"{{low: …, high: …}}, got {shorten(value)}"
                )
        if self.design == "sobol" and self.factors and self.samples & (self.samples - 1):
            out.append(
                "sweep.samples: Sobol designs need a power of two "
                f"(got {self.samples}; e.g. {2 ** math.ceil(math.log2(self.samples))})"
            )
        runs = max(len(self.arms), 1) * self.n_points() * replications
        if runs > MAX_RUNS:
            out.append(
                f"sweep: {max(len(self.arms), 1)} arm(s) × {self.n_points()} design points × "
                f"{replications} replication(s) = {runs} runs, more than the limit of {MAX_RUNS}"
            )
        return out


class Scenario(Strict):
    """A complete, validated scenario."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 20261120
    steps: Steps = 120
    # The calendar month of step 0 ("YYYY-MM"; one step is one month): needed by YYYY-MM times.
    start_date: Month | None = None
    replications: Upto(10_000) = 1
    content: Content = Content()
    web: Web = Web()
    humans: Humans = Humans()
    models: Models = Models()
    crawlers: Crawlers = Crawlers()
    filtering: Filtering = Filtering()
    metrics: Metrics = Metrics()
    # Run every replication with its no-AI and no-feedback twins (docs/ODD.md, Counterfactuals).
    counterfactuals: bool = False
    sweep: Sweep | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        n_farms = max(1, round(self.web.farm_share * self.web.n_sites))
        if n_farms < self.models.count:
            raise ValueError(
                f"web.farm_share × web.n_sites gives {n_farms} content-farm sites, fewer than "
                f"models.count ({self.models.count}); every model needs at least one farm"
            )
        if n_farms >= self.web.n_sites:
            raise ValueError(
                f"web.farm_share × web.n_sites gives {n_farms} content-farm sites out of "
                f"{self.web.n_sites}: at least one site must be left for humans"
            )
        if self.models.capacity is not None and self.models.capacity > self.content.n_words:
            raise ValueError(
                f"models.capacity ({self.models.capacity}) cannot exceed "
                f"content.n_words ({self.content.n_words})"
            )
        for key, rate in (
            ("web.ai_share", self.web.ai_share),
            ("humans.ai_assist", self.humans.ai_assist),
            ("filtering.provenance.label_rate", self.filtering.provenance.label_rate),
        ):
            if isinstance(rate, PointSchedule) and rate.dated and self.start_date is None:
                raise ValueError(
                    f"{key}.points: YYYY-MM times such as {next(iter(rate.points))!r} need a "
                    'top-level start_date: "YYYY-MM", the calendar month of step 0'
                )
        if self.sweep is not None:
            problems = self.sweep.problems(self.model_dump(), self.replications)
            if problems:
                raise ValueError("\n".join(problems))
        return self

    def ai_share_at(self, step: int) -> float:
        """AI share of new documents at `step` (1-based)."""
        return rate_at(self.web.ai_share, step, self.steps, self.start_date)

    def ai_assist_at(self, step: int) -> float:
        """Background level of drafting with AI at `step` (step 0: the writers' initial chance)."""
        return rate_at(self.humans.ai_assist, step, self.steps, self.start_date)

    def label_rate_at(self, step: int) -> float:
        """Share of the synthetic documents published at `step` that carry a provenance label."""
        return rate_at(self.filtering.provenance.label_rate, step, self.steps, self.start_date)

    def date_of(self, step: int) -> str | None:
        """The calendar month ("YYYY-MM") of `step`, or None without `start_date`."""
        if self.start_date is None:
            return None
        return month_text(month_number(self.start_date) + step)

    def step_of(self, date: str) -> int:
        """The step of the calendar month `date` ("YYYY-MM"; before step 0 it is negative)."""
        if self.start_date is None:
            raise ScenarioError(
                [f"{self.name}: {shorten(date)} is a date, but the scenario has no start_date"]
            )
        try:
            return month_number(date) - month_number(self.start_date)
        except ValueError as exc:
            raise ScenarioError([f"{self.name}: date {shorten(date)} {exc}"]) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, suitable for YAML and for pickling to worker processes."""
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        """Stable hash of the resolved scenario (for manifests and resume checks)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
