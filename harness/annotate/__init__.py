"""Human labelling: `harness annotate` serves a local page whose labels go into the run store.

The server (aiohttp) loads on first use of its names (`serve`, `Settings`, ...); the store side
is light, so the report can find the human raters without loading a web server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_exports
from harness.annotate._consensus import CONSENSUS, MAJORITY, human_consensus, human_majority
from harness.annotate._merge import AnnotationMerge
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

if TYPE_CHECKING:
    from harness.annotate._server import Settings, check_annotator, protocol_html, serve

__all__ = [
    "ADJUDICATED",
    "ALL",
    "CONSENSUS",
    "HUMAN_PREFIX",
    "LABELS",
    "MAJORITY",
    "STRATA",
    "AnnotationMerge",
    "AnnotationStore",
    "SampleDefinition",
    "Settings",
    "annotation_raters",
    "annotator_order",
    "check_annotator",
    "choose_sample",
    "draw",
    "human_consensus",
    "human_majority",
    "protocol_html",
    "rater_of",
    "sample_name",
    "serve",
]

# the page's server needs aiohttp's web stack: loaded when a command serves the page
_SERVER = dict.fromkeys(("Settings", "check_annotator", "protocol_html", "serve"), "_server")
__getattr__, __dir__ = lazy_exports(__name__, _SERVER, globals(), __all__)
