"""Human labelling: `harness annotate` serves a local page whose labels go into the run store.

The server (aiohttp) is imported only by `serve_annotation`; the store side is light, so the
report can find the human raters without loading a web server.
"""

from harness.annotate._consensus import CONSENSUS, human_consensus
from harness.annotate._sample import ALL, STRATA, annotator_order, choose_sample, draw, sample_name
from harness.annotate._store import (
    ADJUDICATED,
    HUMAN_PREFIX,
    LABELS,
    AnnotationStore,
    SampleDefinition,
    annotation_raters,
    rater_of,
)

__all__ = [
    "ADJUDICATED",
    "ALL",
    "CONSENSUS",
    "HUMAN_PREFIX",
    "LABELS",
    "STRATA",
    "AnnotationStore",
    "SampleDefinition",
    "annotation_raters",
    "annotator_order",
    "choose_sample",
    "draw",
    "human_consensus",
    "rater_of",
    "sample_name",
]
