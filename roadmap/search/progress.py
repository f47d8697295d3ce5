"""The live progress line of ``roadmap search`` (stderr; ``--quiet`` turns it off).

``[search] 12/50 candidates (2 failed, 3 rejected) | rung 1/2: 3/6 | front 5 at rung 0 | 4m12s | ETA ~13m``

On a terminal the line is redrawn in place at every event; otherwise (a log file, a pipe) a
line is written when a training finishes, at most one per `LOG_EVERY_S` seconds otherwise.
The ETA divides the training steps still planned (explore, promotions, replicates) by the
rate at which this run has trained so far.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "format_seconds", "planned_iterations"]

LOG_EVERY_S = 30.0


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def planned_iterations(budget: int, fidelity: Any, references: int = 3) -> int:
    """Training steps a search of ``budget`` candidates plans: the candidates and the
    ``references`` (trained besides the budget) at the first rung, every rung's promotions
    (``ceil(n / eta)`` plus the references), the top-rung replicates (seed and knee), and with
    a screening rung the seed's base run."""
    top = fidelity.rung_iterations[-1]
    first = budget + references
    if fidelity.screen_iterations:
        promoted = min(first, math.ceil(first / fidelity.eta) + references)
        return first * fidelity.screen_iterations + (promoted + 2) * top
    total, n, start = 0, first, 0
    for k, end in enumerate(fidelity.rung_iterations):
        if k:
            n = min(n, math.ceil(n / fidelity.eta) + references)
        total += n * (end - start)
        start = end
    return total + 2 * top


class Progress:
    def __init__(self, budget: int, stream: TextIO | None = None, enabled: bool = True):
        self.budget = budget
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last_text = ""
        self._last_log = -math.inf
        self._drawn = False

    def line(self, scheduler: Any) -> str:
        counts = scheduler.counts()
        extra = f"{counts['failed']} failed" + (f", {counts['pruned']} rejected" if counts["pruned"] else "")
        parts = [f"[search] {counts['budget_used']}/{self.budget} candidates ({extra})"]
        rung, size = _front(scheduler)
        if rung is not None:
            top = scheduler.top_rung
            parts.append(f"front {size} at rung {rung}" + (" (top)" if rung == top and top else ""))
        elapsed = time.perf_counter() - self.t0
        parts += [format_seconds(elapsed), f"ETA ~{_eta(scheduler, elapsed)}"]
        return " | ".join(parts)

    def update(self, scheduler: Any, finished: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not self.tty and not finished and now - self._last_log < LOG_EVERY_S:
            return
        text = self.line(scheduler)
        if text == self._last_text and not finished:
            return
        self._last_text, self._last_log = text, now
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


def _front(scheduler: Any) -> tuple[int | None, int]:
    """(highest rung with results, size of the front there)."""
    for rung in range(scheduler.top_rung, -1, -1):
        results = scheduler.results(rung)
        if results.finished():
            return rung, len(results.front())
    return None, 0


def _eta(scheduler: Any, elapsed: float) -> str:
    fid = scheduler.settings.fidelity
    planned = planned_iterations(scheduler.settings.budget, fid)
    evaluations = scheduler.store.evaluations().values()
    done = sum(_job_iterations(r) for r in evaluations)
    done_now = scheduler.iterations_this_run
    if done_now <= 0 or elapsed <= 0:
        return "?"
    return format_seconds(max(0, planned - done) / (done_now / elapsed))


def _job_iterations(record: dict) -> int:
    return int(record.get("job_iterations") or record.get("iterations") or 0)
