"""What an ingest reports: :class:`IngestSummary` at the end, :class:`Progress` along the way (and
:class:`FetchProgress` for the downloads of a remote source). Progress goes to callbacks: the ingest
package draws nothing; the command line turns the calls into a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    """Passed to the ``progress`` callback after each group of inputs is parsed or committed."""

    files_done: int
    files_total: int | None
    events_read: int
    events_stored: int


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class FetchProgress:
    """Passed to a remote source's ``progress`` callback when its downloads start and after each one."""

    source: str  # what is read, e.g. ``s3://bucket/prefix/``
    objects_done: int
    objects_total: int
    bytes_done: int
    bytes_total: int


FetchProgressFn = Callable[[FetchProgress], None]


@dataclass
class IngestSummary:
    """What one ingest did. ``refused`` lists (input name, reason)."""

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    digests: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    events_read: int = 0
    events_stored: int = 0
    events_skipped: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    bundles_skipped: list[str] = field(default_factory=list)

    @property
    def all_bad(self) -> bool:
        """Every input was refused (the CLI then exits with code 3)."""
        return self.files_seen > 0 and len(self.refused) == self.files_seen

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_seen": self.files_seen,
            "files_ingested": self.files_ingested,
            "files_unchanged": self.files_unchanged,
            "digests": self.digests,
            "files_refused": len(self.refused),
            "refused": [{"file": name, "reason": reason} for name, reason in self.refused],
            "events_read": self.events_read,
            "events_stored": self.events_stored,
            "events_skipped": self.events_skipped,
            "duplicates": self.duplicates,
            "seconds": round(self.seconds, 3),
            "bundles_skipped": list(self.bundles_skipped),
        }
