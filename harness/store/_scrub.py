"""Where secrets are masked, and where they are not.

An API key is sent only in request headers. It can come back only inside text that describes
a failure: an HTTP error body ("Incorrect API key provided: sk-..."), an exception's message,
a log line. So those texts, and only those, are scrubbed:

- `attempts.error` and `grades.error` (the cause of a failed request, grade or judge call);
- the `error` of each guard decision in `attempts.guard_events`;
- every line of `harness.log` (see `harness.runner._log`).

Everything else (attempt ids, configuration and model names, prompts, replies, raw outputs,
rationales) is stored exactly as it was: masking a short key such as `a` there would rewrite
ids and names, so that a resumed run re-sends what it already has, and a configuration `mixa`
would become `mi***a`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace

from harness.core import AttemptRecord, GradeRecord

__all__ = ["MASK", "Scrubber"]

MASK = "***"


class Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        # longest first: a key that contains another is masked whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _maybe(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def _leaks(self, text: str | None) -> bool:
        return text is not None and any(s in text for s in self._secrets)

    def attempt(self, attempt: AttemptRecord) -> AttemptRecord:
        if not self._secrets:
            return attempt
        changes: dict[str, str | None] = {}
        if self._leaks(attempt.error):
            changes["error"] = self._maybe(attempt.error)
        if self._leaks(attempt.guard_events):
            changes["guard_events"] = self._guard_events(attempt.guard_events or "[]")
        return replace(attempt, **changes) if changes else attempt  # type: ignore[arg-type]

    def grade(self, grade: GradeRecord) -> GradeRecord:
        if not self._secrets or not self._leaks(grade.error):
            return grade
        return replace(grade, error=self._maybe(grade.error))

    def _guard_events(self, text: str) -> str:
        events = json.loads(text)
        for event in events:
            if isinstance(event, dict) and isinstance(event.get("error"), str):
                event["error"] = self.text(event["error"])
        return json.dumps(events, ensure_ascii=False)
