"""What the browser view shows, one frame per drawn step, with the next step drawn ahead.

A `Frame` is everything the page shows of the model at one step (the figures as PNG, the
values of the time-series metrics), so the page never reads a model that may have moved on.
A `Stepper` owns one model and its panels: it steps and draws under one lock, and after each
Step it steps and draws the following one in a thread, so that the next click on Step only
swaps in a finished frame (a model step plus drawing costs ~0.15 s of CPU; a person looks at
a frame longer than that). The results are those of stepping on demand: the model is
deterministic, and the page shows only frames of steps that were asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from simulation import registry, viz_panels
from simulation.model import WebEcosystem

SERIES_VIEWS: tuple[registry.View, ...] = tuple(viz_panels.SERIES_TITLES)


@dataclass(frozen=True)
class Frame:
    """The page's picture of a model at one step."""

    step: int
    images: tuple[bytes, ...]  # PNG of each panel, in page order
    values: dict[str, tuple[float, float]]  # metric name -> (value at step 0, value now)


class Stepper:
    """Steps `model`, draws its frames and keeps the next step's frame ready (see module doc)."""

    def __init__(self, model: WebEcosystem):
        self.model = model
        self.lock = threading.Lock()
        self.panels = viz_panels.panels(model)
        self._ahead: threading.Thread | None = None
        self._next: Frame | None = None  # the frame of model.steps, when drawn ahead

    @property
    def last_step(self) -> int:
        return self.model.config.steps

    def _draw(self) -> Frame:
        """The frame of the model's current step (the caller holds the lock)."""
        for panel in self.panels:
            panel.update(self.model)
        columns = self.model.datacollector.model_vars
        values = {
            m.name: (float(columns[m.name][0]), float(columns[m.name][-1]))
            for view in SERIES_VIEWS
            for m in registry.shown_in(view)
        }
        return Frame(self.model.steps, tuple(p.png() for p in self.panels), values)

    def current(self) -> Frame:
        """The frame of the step the model is at (not drawn ahead)."""
        self.wait()
        with self.lock:
            self._next = None
            return self._draw()

    def step(self) -> Frame:
        """The frame one step after `shown`: drawn ahead if it was, else stepped and drawn now;
        then the step after it is drawn ahead in a thread."""
        self.wait()
        with self.lock:
            frame, self._next = self._next, None
            if frame is None:
                if self.model.steps < self.last_step:
                    self.model.step()
                frame = self._draw()
        if frame.step < self.last_step:
            self._ahead = threading.Thread(target=self._draw_ahead, daemon=True)
            self._ahead.start()
        return frame

    def _draw_ahead(self) -> None:
        with self.lock:
            if self._next is None and self.model.steps < self.last_step:
                self.model.step()
                self._next = self._draw()

    def wait(self) -> None:
        """Until the step drawn ahead (if any) is ready."""
        if self._ahead is not None:
            self._ahead.join()
            self._ahead = None

    def run(self) -> None:
        """One step of Play, not drawn (a step drawn ahead counts as this one)."""
        self.wait()
        with self.lock:
            if self._next is not None:
                self._next = None
            elif self.model.steps < self.last_step:
                self.model.step()
