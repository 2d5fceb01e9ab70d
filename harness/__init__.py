"""harness: compare language models under controlled deployment configurations."""

from harness._errors import ConfigError, DataError, HarnessError, RunStoreError, UserError
from harness._version import __version__

__all__ = [
    "ConfigError",
    "DataError",
    "HarnessError",
    "RunStoreError",
    "UserError",
    "__version__",
]
