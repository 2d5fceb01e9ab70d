"""Bringing existing results into a run store: flat tables and other tools' logs.

One importer per format (`registered_importers()`), recognised from the file's content:
flat tables, Inspect AI logs, garak reports, promptfoo exports, HarmBench completions and
JailbreakBench artifacts. Their scorers' verdicts become imported raters.
"""

from harness.ingest._flat import ImportColumns
from harness.ingest._import import import_completions, import_file
from harness.ingest._raters import load_label_map
from harness.ingest._registry import (
    IMPORTERS,
    Importer,
    choose_importer,
    importer,
    registered_importers,
)
from harness.ingest._types import (
    ImportBatch,
    ImportedAttempt,
    ImportOptions,
    RaterVerdict,
    Source,
    Tally,
)
from harness.ingest._write import IMPORTED_GRADER, META_KEY, ImportSummary

__all__ = [
    "IMPORTED_GRADER",
    "IMPORTERS",
    "META_KEY",
    "ImportBatch",
    "ImportColumns",
    "ImportOptions",
    "ImportSummary",
    "ImportedAttempt",
    "Importer",
    "RaterVerdict",
    "Source",
    "Tally",
    "choose_importer",
    "import_completions",
    "import_file",
    "importer",
    "load_label_map",
    "registered_importers",
]
