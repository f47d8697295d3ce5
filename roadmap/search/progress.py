"""The live progress line of ``roadmap search`` (stderr; ``--quiet`` turns it off).

``[search] 12/50 done (2 failed, 3 rejected) | front 5 | HV 1.42 | 4m12s | ETA 13m05s``

On a terminal the line is redrawn in place; otherwise (a log file, a pipe) one line is
written per finished trial. The hypervolume is the seed-anchored one of
:mod:`roadmap.search.hypervolume` (1.0 = what the seed alone dominates).
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


class Progress:
    def __init__(self, budget: int, stream: TextIO | None = None, enabled: bool = True):
        self.budget = budget
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last = ""
        self._drawn = False

    def line(self, driver: Any) -> str:
        hv, front = driver.hypervolume()
        elapsed = time.perf_counter() - self.t0
        done_now = driver.used - driver.used_at_start
        left = max(0, self.budget - driver.used)
        eta = "?"
        if done_now > 0:
            eta = format_seconds(elapsed / done_now * left) if left else "0s"
        extra = f"{driver.failed} failed"
        if driver.rejected:
            extra += f", {driver.rejected} rejected"
        return (
            f"[search] {driver.used}/{self.budget} done ({extra}) | front {front} | HV {hv:.3f} | "
            f"{format_seconds(elapsed)} | ETA {eta}"
        )

    def update(self, driver: Any) -> None:
        if not self.enabled:
            return
        text = self.line(driver)
        if text == self._last:
            return
        self._last = text
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line that must not be overwritten (notes, warnings). Shown even when quiet."""
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
