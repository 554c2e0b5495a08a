"""Generative models of (topic, words) documents and the sparse machinery they run on.

- `sparse`: CSR counts and distributions: normalising, nucleus and top-k truncation,
  lookups and `count_documents`, all in O(support).
- `tables`: alias and guide sampling tables, and `sampler`, which picks one per matrix.
- `estimator`: `TopicWordModel`, a scikit-learn-style estimator (fit / sample / score /
  cross_entropy), with `check_is_fitted` and `NotFittedError`.

The public names are re-exported here: `from simulation.generative import TopicWordModel`.
"""

from simulation.generative.estimator import (
    PROB_FLOOR,
    NotFittedError,
    TopicWordModel,
    check_is_fitted,
)
from simulation.generative.sparse import as_csr, count_documents, lookup, normalise, nucleus, top_k
from simulation.generative.tables import AliasTable, GuideTable, sampler

__all__ = [
    "PROB_FLOOR",
    "AliasTable",
    "GuideTable",
    "NotFittedError",
    "TopicWordModel",
    "as_csr",
    "check_is_fitted",
    "count_documents",
    "lookup",
    "normalise",
    "nucleus",
    "sampler",
    "top_k",
]
