"""Human labelling: `harness annotate` serves a local page whose labels go into the run store.

The server (aiohttp) loads on first use of its names (`serve`, `Settings`, ...); the store side
is light, so the report can find the human raters without loading a web server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from harness.annotate._server import Settings, check_annotator, protocol_html, serve

__all__ = [
    "ADJUDICATED",
    "ALL",
    "CONSENSUS",
    "HUMAN_PREFIX",
    "LABELS",
    "STRATA",
    "AnnotationStore",
    "SampleDefinition",
    "Settings",
    "annotation_raters",
    "annotator_order",
    "check_annotator",
    "choose_sample",
    "draw",
    "human_consensus",
    "protocol_html",
    "rater_of",
    "sample_name",
    "serve",
]

_SERVER = ("Settings", "check_annotator", "protocol_html", "serve")


def __getattr__(name: str) -> Any:
    if name not in _SERVER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}._server"), name)
    globals()[name] = value  # once: later lookups do not come here
    return value
