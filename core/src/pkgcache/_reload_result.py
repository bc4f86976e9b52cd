"""What a reload reports (:class:`ReloadResult`) and what it may not do (:class:`Guard`).

Apart from the reload itself so that the command line, the hooks and an
index server can use them without the reload's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .exceptions import ReloadRefused
from .storage import Skipped, Storage

__all__ = ["Guard", "ReloadResult"]


@dataclass
class ReloadResult:
    """What a reload did: counts by filename, the time it took, files skipped."""

    added: int = 0
    removed: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    graceful: bool = False
    skipped: list[Skipped] = field(default_factory=list)
    #: files indexed without some of their metadata, and why
    warnings: list[Skipped] = field(default_factory=list)

    def __str__(self) -> str:
        notes = [f"{len(self.skipped)} files skipped"] if self.skipped else []
        notes += [f"{len(self.warnings)} indexed without some metadata"] if self.warnings else []
        return (
            f"added {self.added}, removed {self.removed}, updated {self.updated}, "
            f"unchanged {self.unchanged} in {self.seconds:.2f} s" + (f" ({', '.join(notes)})" if notes else "")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "removed": self.removed,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 4),
            "graceful": self.graceful,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "warnings": [{"path": s.path, "reason": s.reason} for s in self.warnings],
        }


@dataclass(frozen=True)
class Guard:
    """What a reload may remove: ``allow_empty`` lets a storage that lists no file
    empty the cache; ``max_delete`` (0 to 1, None for no limit) caps the share of
    the cache's files one reload may remove."""

    allow_empty: bool = False
    max_delete: float | None = None

    def __post_init__(self) -> None:
        if self.max_delete is not None and not 0 <= self.max_delete <= 1:
            raise ValueError(f"max_delete must be a share between 0 and 1, not {self.max_delete!r}")

    def check(self, storage: Storage, listed: int, cached: int, removing: int) -> None:
        """Raise :class:`ReloadRefused` when the reload would do what the guard forbids."""
        if not removing:
            return
        skipped = f" ({len(storage.skipped)} skipped as unreadable)" if storage.skipped else ""
        if listed == 0 and not self.allow_empty:
            raise ReloadRefused(
                f"the storage lists 0 files{skipped} while the cache holds {cached}: refusing to empty the cache "
                f"(a wrong or unmounted storage?); pass allow_empty=True (--allow-empty) if that is what you want"
            )
        if self.max_delete is not None and removing > self.max_delete * cached:
            raise ReloadRefused(
                f"the reload would remove {removing} of the cache's {cached} files (the storage lists {listed}"
                f"{skipped}), more than max_delete={self.max_delete:g}; raise --max-delete or leave it out"
            )
