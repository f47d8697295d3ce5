"""How right is the ETA of ``roadmap search``'s progress line, from start to end?

    python benchmarks/eta_accuracy.py [--budget 50] [--seconds-per-iteration 0.006]
                                      [--backend local|ray] [--concurrency N]

Runs one search of the nafnet seed on the ``default`` fidelity (the seed's base runs, the
screens of the candidates and reference points, the promotions, the knee's confirmations) with
the fake evaluator of ``roadmap/search/testing.py``: nothing is trained, each training sleeps
``seconds_per_iteration`` x its steps x its cost relative to the seed (`step_cost`: a fixed
share plus the rest in proportion to its MACs, so the ETA's MAC weights are not exact). The
progress line is replaced by one that records, at every event (a training ended, a candidate
was asked), the time and the ETA it would show (`roadmap.search.progress.eta_seconds`). Once the
search has ended the true remaining time of every sample is known:

    error = (ETA - true remaining) / true remaining

Prints a table (a sample about every 5 % of the run), then the largest |error| from the first
promotion on (target: 25 %) over the samples with at least ``--floor`` of the run left (a
relative error means nothing in the last seconds; their absolute errors are printed too).
Writes ``benchmarks/results/eta_accuracy-<backend>.json`` (every sample). Takes about 3 minutes
(``--backend ray``: Ray's start besides; ``--concurrency`` jobs side by side, default one per CPU).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json
from roadmap.search.progress import Progress, eta_seconds

TARGET = 0.25


class RecordingProgress(Progress):
    """A progress line that records ``(time, ETA, what is done)`` at every event instead of
    writing it, and when the search's trainings ended."""

    def __init__(self, budget: int):
        super().__init__(budget, stream=io.StringIO(), enabled=False)
        self.samples: list[dict] = []
        self.end: float | None = None

    def update(self, scheduler, finished: bool = False) -> None:
        if scheduler.iterations_this_run <= 0:
            return
        now = time.perf_counter()
        eta = eta_seconds(scheduler, now)
        records = scheduler.store.evaluations()
        self.samples.append(
            {
                "t": now - self.t0,
                "eta": eta,
                "trainings": len(records),
                "promoted": bool(scheduler.promoted),
                "phase": _phase(records, scheduler),
            }
        )

    def finish(self) -> None:
        self.end = time.perf_counter() - self.t0


def _phase(records: dict, scheduler) -> str:
    """``rung 0 31``, ``rung 1 4``, ``replicate 1``: the phase the last training belongs to."""
    seed = scheduler.settings.random_seed
    top = scheduler.top_rung
    replicates = sum(1 for (n, r, s) in records if r == top and s == seed + 1 and n != scheduler.trainings.seed_number)
    if replicates:
        return f"replicate {replicates}"
    for rung in range(top, -1, -1):
        count = sum(1 for (n, r, s) in records if r == rung and s == seed and n != scheduler.trainings.seed_number)
        if count:
            return f"rung {rung} {count}"
    return "base"


def run(budget: int, seconds_per_iteration: float, backend: str, concurrency: int | None) -> dict:
    """One search; its samples with their true remaining time and error."""
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.testing import FakeEvaluator

    with tempfile.TemporaryDirectory() as folder:
        options = {"backend": backend, "budget": budget, "fidelity": "default", "concurrency": concurrency}
        settings = resolve_settings(options, Path(folder) / "study", None)
        progress = RecordingProgress(budget)
        t0 = time.perf_counter()
        summary = run_search(settings, FakeEvaluator(seconds_per_iteration=seconds_per_iteration), progress)
        wall = time.perf_counter() - t0
    end = progress.end
    for s in progress.samples:
        s["true"] = end - s["t"]
        s["error"] = None if s["eta"] is None or s["true"] <= 0 else (s["eta"] - s["true"]) / s["true"]
    return {
        "budget": budget,
        "seconds_per_iteration": seconds_per_iteration,
        "backend": backend,
        "concurrency": concurrency,
        "wall_seconds": wall,
        "trainings_end": end,
        "cost": summary.cost,
        "samples": progress.samples,
    }


def _rows(samples: list[dict], end: float, floor: float) -> list[list]:
    """A sample about every 5 % of the run, and the last one; in the last ``floor`` of the run
    the error in seconds."""
    rows, next_mark = [], 0.0
    for i, s in enumerate(samples):
        if s["t"] >= next_mark or i == len(samples) - 1:
            eta = "?" if s["eta"] is None else f"{s['eta']:.0f}"
            error = "-" if s["error"] is None else f"{100 * s['error']:+.0f}"
            if s["eta"] is not None and s["true"] < floor * end:
                error = f"({s['eta'] - s['true']:+.1f} s)"
            rows.append([f"{s['t']:.0f}", s["phase"], eta, f"{s['true']:.0f}", error])
            next_mark = s["t"] + 0.05 * end
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seconds-per-iteration", type=float, default=0.006)
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument(
        "--floor",
        type=float,
        default=0.05,
        help="judge the relative error only while this share of the run is left (default 0.05)",
    )
    args = parser.parse_args()
    result = run(args.budget, args.seconds_per_iteration, args.backend, args.concurrency)
    end, samples = result["trainings_end"], result["samples"]
    print(table(_rows(samples, end, args.floor), ["t (s)", "done (last phase)", "ETA (s)", "true (s)", "error %"]))
    judged = [s for s in samples if s["promoted"] and s["error"] is not None and s["true"] >= args.floor * end]
    tail = [s for s in samples if s["promoted"] and s["eta"] is not None and s["true"] < args.floor * end]
    worst = max((abs(s["error"]) for s in judged), default=None)
    result.update(
        floor=args.floor,
        max_error_after_first_promotion=worst,
        target=TARGET,
        max_tail_seconds=max((abs(s["eta"] - s["true"]) for s in tail), default=None),
    )
    print(
        f"\nsearch: {result['wall_seconds']:.0f} s wall, trainings ended at {end:.0f} s; "
        f"{len(samples)} samples, {len(judged)} from the first promotion on with >= {args.floor:.0%} left"
    )
    if worst is not None:
        print(
            f"max |ETA error| from the first promotion on: {100 * worst:.1f} % (target {100 * TARGET:.0f} %: "
            f"{'met' if worst <= TARGET else 'NOT met'})"
        )
    if result["max_tail_seconds"] is not None:
        print(f"last {args.floor:.0%} of the run: ETA off by at most {result['max_tail_seconds']:.1f} s")
    print(f"written {write_json(f'eta_accuracy-{args.backend}.json', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
