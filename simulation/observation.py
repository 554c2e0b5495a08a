"""The counts a step's metrics read, computed once per step (and per fit for the models).

`observe` gathers the topic and word counts of the metrics window, the models' topic
distributions and the detector's decisions in one vectorised pass over the window's
documents; `observe_fits` the models' support and held-out scores, recomputed only after a
refit. Both are cached on the model, so the registry's metrics (`simulation.registry`) share
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulation import metrics as M

if TYPE_CHECKING:
    from simulation.model import WebEcosystem


@dataclass(frozen=True)
class Observation:
    """The counts every metric of one step reads, gathered once per step."""

    step: int
    topic_counts: np.ndarray  # (K,) documents per topic in the metrics window
    word_counts: np.ndarray  # (V,) words in the metrics window
    model_topic_probs: np.ndarray  # (models, K) the models' topic distributions
    archive_topic_counts: np.ndarray  # (K,) documents per topic of the pre-AI archive
    detector_precision: float
    detector_recall: float
    human_flag_rate: float


def observe(model: WebEcosystem) -> Observation:
    """This step's `Observation` of `model`, computed on first use and kept until the next step."""
    cached: Observation | None = getattr(model, "_observation", None)
    if cached is not None and cached.step == model.steps:
        return cached
    docs, content = model.recent, model.content
    crawlers = model.crawlers
    flagged = np.concatenate([c.flagged for c in crawlers])
    synthetic = np.concatenate([c.synthetic for c in crawlers])
    precision, recall = M.precision_recall(flagged, synthetic)
    observation = Observation(
        step=model.steps,
        topic_counts=np.bincount(docs.topic, minlength=content.n_topics),
        word_counts=np.bincount(docs.tokens.ravel(), minlength=content.n_words),
        model_topic_probs=model_topic_probs(model),
        archive_topic_counts=np.bincount(model.archive.topic, minlength=content.n_topics),
        detector_precision=precision,
        detector_recall=recall,
        human_flag_rate=M.human_flag_rate(flagged, synthetic),
    )
    model._observation = observation
    return observation


@dataclass(frozen=True)
class FitObservation:
    """What the metrics read from the models' fits, recomputed only when a model refits.

    `fits` holds the fitted word matrices it was computed from (compared by identity: a refit
    makes new ones, and holding them keeps their ids from being reused).
    """

    fits: tuple[object, ...]
    missing_mass: float  # p* mass of the cells the average model gives probability 0
    cross_entropy: float  # mean over models of the smoothed held-out cross-entropy
    support: np.ndarray  # (K,) words with nonzero probability per topic, average model


def observe_fits(model: WebEcosystem) -> FitObservation:
    """The models' `FitObservation`, computed again only after a model has refitted."""
    generators = [ai.generator for ai in model.ai_models]
    fits = tuple(g.word_probs_ for g in generators)
    cached: FitObservation | None = getattr(model, "_fit_observation", None)
    if cached is not None and all(a is b for a, b in zip(cached.fits, fits, strict=True)):
        return cached
    content = model.content
    topic_probs = np.stack([g.topic_probs_ for g in generators])
    support = M.joint_support(topic_probs, list(fits))
    observation = FitObservation(
        fits=fits,
        missing_mass=M.missing_mass(content.topic_probs, content.word_probs, support),
        cross_entropy=float(
            np.mean(
                [
                    M.smoothed_cross_entropy(
                        g.topic_probs_, g.word_probs_, model.held_out_topics, model.held_out_tokens
                    )
                    for g in generators
                ]
            )
        ),
        support=M.support_per_topic(support, content.n_topics, content.n_words),
    )
    model._fit_observation = observation
    return observation


def model_topic_probs(model: WebEcosystem) -> np.ndarray:
    """(models, topics): the topic distribution each AI model samples from."""
    return np.stack([ai.generator.topic_probs_ for ai in model.ai_models])


def topic_distributions(model: WebEcosystem) -> dict[str, np.ndarray]:
    """Topic shares of reality, the metrics window of the corpus and the average model."""
    counts = observe(model).topic_counts
    return {
        "reality": model.content.topic_probs,
        "corpus": counts / max(counts.sum(), 1),
        "models": observe(model).model_topic_probs.mean(axis=0),
    }


# What each metric of the registry reads (`simulation.registry` declares the metrics).


def ai_share(model: WebEcosystem) -> float:
    return float(model.ai_share) if model.steps > 0 else 0.0


def topic_richness(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).topic_counts, 0)


def topic_hill1(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).topic_counts, 1)


def topic_hill2(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).topic_counts, 2)


def word_hill1(model: WebEcosystem) -> float:
    return M.hill_number(observe(model).word_counts, 1)


def tail_mass(model: WebEcosystem) -> float:
    return M.tail_mass(observe(model).topic_counts, model.content.topic_probs, model.is_tail)


def tail_survival(model: WebEcosystem) -> float:
    return M.tail_survival(observe(model).model_topic_probs, model.is_tail)


def tail_distortion(model: WebEcosystem) -> float:
    return M.tail_distortion(observe(model).topic_counts, model.content.topic_probs, model.is_tail)


def js_divergence(model: WebEcosystem) -> float:
    return M.js_divergence(observe(model).topic_counts, model.content.topic_probs)


def js_divergence_archive(model: WebEcosystem) -> float:
    observation = observe(model)
    return M.js_divergence(observation.topic_counts, observation.archive_topic_counts)


def hellinger(model: WebEcosystem) -> float:
    return M.hellinger(observe(model).topic_counts, model.content.topic_probs)


def missing_mass(model: WebEcosystem) -> float:
    return observe_fits(model).missing_mass


def cross_entropy(model: WebEcosystem) -> float:
    return observe_fits(model).cross_entropy


def tail_word_support(model: WebEcosystem) -> float:
    return float(observe_fits(model).support[model.is_tail].mean())


def head_word_support(model: WebEcosystem) -> float:
    return float(observe_fits(model).support[~model.is_tail].mean())


def synthetic_share(model: WebEcosystem) -> float:
    docs = model.recent
    return float(docs.synthetic.mean()) if len(docs) else float("nan")


def synthetic_token_share(model: WebEcosystem) -> float:
    docs = model.recent
    return M.token_share(docs.ai_fraction, np.full(len(docs), docs.tokens.shape[1]))


def train_synthetic_share(model: WebEcosystem) -> float:
    return float(np.mean([ai.train_synthetic_share for ai in model.ai_models]))


def train_synthetic_token_share(model: WebEcosystem) -> float:
    lasts = [ai.pool.last for ai in model.ai_models]
    return float(np.mean([s.model_token_share if s else np.nan for s in lasts]))


def precision(model: WebEcosystem) -> float:
    return observe(model).detector_precision


def recall(model: WebEcosystem) -> float:
    return observe(model).detector_recall


def human_flag_rate(model: WebEcosystem) -> float:
    return observe(model).human_flag_rate


def assist(model: WebEcosystem) -> float:
    return float(model.humans.assist.mean())


def homogenization(model: WebEcosystem) -> float:
    return model.humans.homogenization()
