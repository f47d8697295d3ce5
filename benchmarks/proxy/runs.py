"""Cached trainings of the proxy benchmark: one JSON file of finished runs, keyed by
(method, candidate steps, random seed), written after every run so a killed benchmark
resumes where it stopped. Runs go to worker processes, one torch thread each."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
CACHE_FILE = RESULTS / "proxy_runs.json"


def run_key(method: dict, steps: list[dict], seed: int) -> str:
    text = json.dumps([method, steps, seed], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class RunCache:
    """Finished runs on disk: ``key -> record``; ``put`` rewrites the file atomically."""

    def __init__(self, path: Path = CACHE_FILE):
        self.path = path
        self.runs: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, method: dict, steps: list[dict], seed: int) -> dict | None:
        return self.runs.get(run_key(method, steps, seed))

    def put(self, method: dict, steps: list[dict], seed: int, record: dict) -> None:
        self.runs[run_key(method, steps, seed)] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.runs, indent=1, default=str))
        os.replace(tmp, self.path)


def _worker(method: dict, steps: list[dict], seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.proxy.methods import run_method

    cpu0, wall0 = time.process_time(), time.perf_counter()
    record = run_method(method, steps, seed)
    record.update(cpu_seconds=time.process_time() - cpu0, wall_seconds=time.perf_counter() - wall0)
    return record


def run_all(
    tasks: list[tuple[str, dict, list[dict], int]],
    cache: RunCache,
    jobs: int,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> None:
    """Run every ``(label, method, steps, seed)`` task missing from ``cache``."""
    todo = [t for t in tasks if cache.get(t[1], t[2], t[3]) is None]
    if not todo:
        return
    log(f"{len(todo)} run(s) to do ({len(tasks) - len(todo)} cached), {jobs} at a time")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_worker, m, s, seed): (label, m, s, seed) for label, m, s, seed in todo}
        for done, fut in enumerate(as_completed(futures), 1):
            label, m, s, seed = futures[fut]
            try:
                record = fut.result()
            except Exception as exc:  # noqa: BLE001 - not cached: the next run retries it
                log(f"[{done}/{len(todo)}] {m['name']} {label} seed {seed}: FAILED {type(exc).__name__}: {exc}")
                continue
            cache.put(m, s, seed, record)
            left = (time.perf_counter() - start) / done * (len(todo) - done)
            log(
                f"[{done}/{len(todo)}] {m['name']} {label} seed {seed}: PSNR {record.get('psnr')} "
                f"({record['cpu_seconds']:.0f} CPU s; ~{left / 60:.0f} min left)"
            )
