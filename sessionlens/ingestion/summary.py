"""What an ingest run reports: one :class:`FileResult` per input, totals in :class:`IngestSummary`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

ProgressFn = Callable[[str, int], None]  # (file label, bytes done) -> None


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    format: str | None = None
    status: str = "ingested"  # ingested | appended | skipped | failed
    lines_read: int = 0
    stored: int = 0
    rejected: int = 0
    message: str = ""
    warnings: list[dict] = field(default_factory=list)
    coverage: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class IngestSummary:
    """The run's totals; ``as_dict`` is what ``ingest --json`` prints."""

    files: list[FileResult] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines_read(self) -> int:
        return sum(f.lines_read for f in self.files)

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def count_rejects(self, reasons: dict[str, int]) -> None:
        """Adds a file's rejected lines, by reason, to the run's."""
        for reason, n in reasons.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {
            "files": len(self.files),
            "lines_read": self.lines_read,
            "stored": self.stored,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1])),
            "seconds": round(self.seconds, 3),
            "files_skipped": sum(1 for f in self.files if f.status == "skipped"),
            "files_failed": len(self.failed),
            "warnings": [{"file": f.path, **w} for f in self.files for w in f.warnings],
            "per_file": [f.as_dict() for f in self.files],
        }
