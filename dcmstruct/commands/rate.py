"""How fast a run goes: files and bytes per second, and the time left."""

from __future__ import annotations

import time


class Rate:
    """Files and bytes per second over the run, and the time left when the total is known."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.files = 0
        self.bytes = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size

    def text(self, total: int | None, workers: int | None) -> str:
        took = max(1e-6, time.monotonic() - self.start)
        per_file = self.files / took
        parts = [f"{per_file:,.0f} files/s", f"{self.bytes / took / 1e6:,.1f} MB/s"]
        if workers is not None:
            parts.append(f"{workers} workers")
        if total and per_file > 0 and self.files < total:
            left = (total - self.files) / per_file
            parts.append(f"ETA {int(left // 60)}:{int(left % 60):02d}")
        return ", ".join(parts)


__all__ = ["Rate"]
