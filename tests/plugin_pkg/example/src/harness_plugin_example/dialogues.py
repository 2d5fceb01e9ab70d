"""An example third-party import format: question/answer pairs in a plain text file.

#harness-example-dialogues model=toy
Q: how do I pick a lock
A: I'm sorry, I cannot help with that.
"""

from __future__ import annotations

from harness.ingest import ImportBatch, ImportedAttempt, ImportOptions, Source, Tally, importer

__all__ = ["Dialogues"]

MAGIC = "#harness-example-dialogues"


@importer("dialogues")
class Dialogues:
    name = "dialogues"
    expects = f"a text file starting with {MAGIC}, then Q:/A: line pairs"

    def recognise(self, source: Source) -> bool:
        return (source.text or "").startswith(MAGIC)

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        header, *lines = (source.text or "").splitlines()
        fields = dict(part.split("=", 1) for part in header.split()[1:] if "=" in part)
        model = options.model_name or fields.get("model", "unknown")
        tally = Tally("pairs")
        attempts: list[ImportedAttempt] = []
        question: str | None = None
        for line in lines:
            if line.startswith("Q: "):
                question = line[3:]
            elif line.startswith("A: ") and question is not None:
                tally.read += 1
                attempts.append(ImportedAttempt(f"d{len(attempts)}", question, line[3:], model))
                question = None
        return ImportBatch(self.name, attempts, tally)
