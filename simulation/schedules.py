"""Rates that change over time, the calendar they may be written in, and the strict base of
every scenario section.

A scheduled rate (`web.ai_share`, `humans.ai_assist`) is a number, or one of two schedules:

- `Schedule` `{start, end, shape, steepness}`: a path stretched over the run, from `start` at
  step 1 to `end` at the last step, so a run's length changes its value at a given step;
- `PointSchedule` `{points: {time: rate, …}}`: piecewise-linear through fixed points in time,
  held before the first point and after the last, so the value at a step does not depend on
  the run's length. A time is a step number or a calendar month "YYYY-MM"; months need the
  scenario's `start_date` (the month of step 0; one step is one month), checked in
  `simulation.schema.Scenario`.

`Scheduled` is the field type that accepts all three. `Strict` and `Rate` live here, not in
`simulation.schema` (which re-exports them), because the schedules are scenario sections too.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from simulation.yaml_input import shorten

if TYPE_CHECKING:
    import numpy as np

MAX_STEPS = 100_000
MAX_POINTS = 1000  # points of one PointSchedule
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
STEP = re.compile(r"\d{1,6}")

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    """Base for all scenario sections: immutable, unknown keys rejected, strict finite types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def month_number(date: str) -> int:
    """Months since year 0 of a month "YYYY-MM" (`ValueError` if it is not one)."""
    match = MONTH.fullmatch(date) if isinstance(date, str) else None
    if match is None:
        raise ValueError("must be a month written YYYY-MM, e.g. '2025-04'")
    return 12 * int(match[1]) + int(match[2]) - 1


def month_text(number: int) -> str:
    """The month "YYYY-MM" of a `month_number`."""
    year, month = divmod(number, 12)
    return f"{year:04d}-{month + 1:02d}"


def _month(value: Any) -> Any:
    """A month field's check, before pydantic's: one message that says what is allowed."""
    month_number(value)
    return value


Month = Annotated[str, BeforeValidator(_month)]


class Schedule(Strict):
    """A rate moving from `start` to `end` over the run (step 1 to the last step)."""

    start: Rate
    end: Rate
    shape: Literal["linear", "logistic"] = "linear"
    # Bounded so that `at` cannot overflow (exp(250) at most) or divide by ~0 (hi - lo ≥ 2e-4).
    steepness: Annotated[float, Field(ge=1e-3, le=500.0)] = 10.0

    def at(self, step: int, steps: int) -> float:
        """The rate at `step` (1-based; step 0 has the value of step 1) of a run of `steps`."""
        x = 0.0 if steps <= 1 else min(max((step - 1) / (steps - 1), 0.0), 1.0)
        if self.shape == "logistic":
            lo, hi = (1 / (1 + math.exp(self.steepness * s)) for s in (0.5, -0.5))
            x = (1 / (1 + math.exp(-self.steepness * (x - 0.5))) - lo) / (hi - lo)
        return self.start + (self.end - self.start) * x


def _point_key(key: Any) -> str:
    """A point's time as stored: a step as its digits ("24"), a month as written ("2024-11").

    Integer keys become strings so that a scenario's JSON form (`Scenario.to_dict`, the
    `scenario.yaml` of a run folder) validates to the same schedule.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if isinstance(key, str) and MONTH.fullmatch(key):
        return key
    if isinstance(key, str) and STEP.fullmatch(key) and int(key) <= MAX_STEPS:
        return str(int(key))
    raise ValueError(
        f"time {shorten(key)} is neither a step (an integer from 0 to {MAX_STEPS}) "
        "nor a month written YYYY-MM (e.g. '2024-11')"
    )


class PointSchedule(Strict):
    """A rate through fixed points in time: linear between them, held outside them.

    A time is a step ("24" or 24) or a month ("2024-11", which needs the scenario's
    `start_date`); one schedule uses one kind, in increasing time order.
    """

    points: Annotated[dict[str, Rate], Field(min_length=1, max_length=MAX_POINTS)]

    @field_validator("points", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic's own message: a mapping is needed
        return {_point_key(key): rate for key, rate in value.items()}

    @field_validator("points", mode="after")
    @classmethod
    def _in_time_order(cls, points: dict[str, float]) -> dict[str, float]:
        if len({MONTH.fullmatch(key) is not None for key in points}) > 1:
            raise ValueError("use step numbers or YYYY-MM months as times, not both")
        for a, b in pairwise(points):
            if cls._time(b) <= cls._time(a):
                raise ValueError(f"times must strictly increase, but {b!r} comes after {a!r}")
        return points

    @property
    def dated(self) -> bool:
        """Whether the times are calendar months (which need the scenario's start_date)."""
        return MONTH.fullmatch(next(iter(self.points))) is not None

    @staticmethod
    def _time(key: str) -> int:
        return month_number(key) if MONTH.fullmatch(key) else int(key)

    def steps(self, start_date: str | None) -> np.ndarray:
        """The points' steps; months count from `start_date`, the month of step 0."""
        import numpy as np  # here, not at the top: reading a scenario needs no numpy

        times = np.array([self._time(key) for key in self.points], dtype=np.float64)
        if not self.dated:
            return times
        if start_date is None:
            raise ValueError("a schedule with YYYY-MM times needs start_date")
        return times - month_number(start_date)

    def at(self, step: int, start_date: str | None = None) -> float:
        """The rate at `step`: exactly a point's value at its step, linear in between, the first
        (last) point's value before (after) them; the run's length plays no part."""
        import numpy as np

        values = np.fromiter(self.points.values(), dtype=np.float64)
        return float(np.interp(step, self.steps(start_date), values))


def _kind(value: Any) -> str:
    """Which form of a scheduled rate `value` is written in (the union's discriminator)."""
    if isinstance(value, dict):
        return "PointSchedule" if "points" in value else "Schedule"
    if isinstance(value, Schedule | PointSchedule):
        return type(value).__name__
    return "float"


# A rate that is a number or either schedule; the discriminator picks the form from what was
# written, so an error names only that form's keys.
Scheduled = Annotated[
    Annotated[Rate, Tag("float")]
    | Annotated[Schedule, Tag("Schedule")]
    | Annotated[PointSchedule, Tag("PointSchedule")],
    Discriminator(_kind),
]


def rate_at(
    rate: float | Schedule | PointSchedule, step: int, steps: int, start: str | None
) -> float:
    """The value of a scheduled rate at `step` of a run of `steps` steps from month `start`."""
    if isinstance(rate, Schedule):
        return rate.at(step, steps)
    if isinstance(rate, PointSchedule):
        return rate.at(step, start)
    return rate
