"""Does a GPU rank the candidates like the CPU? The proxy benchmark's runs on another device.

    python benchmarks/device_ranking.py --device cuda [--seeds 0 1] [--reference] [--jobs 6]
    python benchmarks/device_ranking.py --only-table

Trains the 22 denoising candidates of ``benchmarks/proxy_candidates.yaml`` at the `default`
fidelity's top rung (the proxy benchmark's rungs 150/450/1350, rung 2) on ``--device`` with the
given random seeds, and with ``--reference`` the long reference too: the runs a study and the
verdict benchmark (``benchmarks/verdicts.py --device cuda``) read. Runs land in the proxy
benchmark's cache (``benchmarks/results/proxy_runs.json``), keyed by device, so the CPU's runs
(``benchmarks/proxy_fidelity.py``) sit beside them. The table compares every device with
cached runs: Kendall tau of its top-rung PSNRs against the CPU's (same random seed), its own
seed-to-seed spread where two seeds ran, the mean PSNR difference to the CPU, and the wall
seconds of one run (its processes share the device). JSON: ``benchmarks/results/device_ranking.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json
from benchmarks.proxy import stats
from benchmarks.proxy.candidates import load_candidates
from benchmarks.proxy.methods import REFERENCE, for_task, on_device
from benchmarks.proxy.runs import RunCache, run_all
from benchmarks.proxy_fidelity import _get, _rung, top_rung_run
from roadmap.evaluation.tasks import DEFAULT_TASK

TOP_METHOD, TOP = top_rung_run("default")  # the proxy runs of the `default` fidelity's top rung
DEVICES = ("cpu", "cuda")
HEADER = ["device", "runs seed 0/1", "wall s/run", "tau vs CPU", "mean diff", "SD diff", "tau seed 0/1", "sigma"]


def top_rung_method(device: str) -> dict:
    """The cached method of the denoising top rung on ``device``."""
    return on_device(for_task(TOP_METHOD, DEFAULT_TASK), device)


def top_rung(cache: RunCache, cands: dict[str, list], device: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(top-rung PSNR, wall seconds of the run) per candidate; nan where not cached."""
    method = top_rung_method(device)
    runs = [_get(cache, method, steps, seed) for steps in cands.values()]
    walls = [sum(r.get("wall_seconds", math.nan) for r in (run or {}).get("rungs", [])) or math.nan for run in runs]
    return np.array([_rung(run, TOP) for run in runs]), np.array(walls, dtype=float)


def device_rows(cache: RunCache, cands: dict[str, list]) -> dict[str, dict]:
    """device -> its statistics against the CPU's runs (see the module docstring)."""
    out: dict[str, dict] = {}
    cpu = {s: top_rung(cache, cands, "cpu", s)[0] for s in (0, 1)}
    for device in DEVICES:
        runs = {s: top_rung(cache, cands, device, s) for s in (0, 1)}
        done = {s: int(np.isfinite(psnr).sum()) for s, (psnr, _) in runs.items()}
        if not any(done.values()):
            continue
        walls = np.concatenate([w for _, w in runs.values()])
        row: dict = {"runs": done, "wall_seconds_per_run": float(np.nanmean(walls))}
        a, b = runs[0][0], runs[1][0]
        both = np.isfinite(a) & np.isfinite(b)
        if both.sum() >= 5:
            row["seed_to_seed"] = stats.seed_spread(a[both], b[both]) | {"candidates": int(both.sum())}
        if device != "cpu":
            shared = np.isfinite(a) & np.isfinite(cpu[0])
            if shared.sum() >= 5:
                row["against_cpu"] = {
                    "candidates": int(shared.sum()),
                    "kendall_tau": stats.kendall(a[shared], cpu[0][shared]),
                    "mean_diff_db": float(np.mean(a[shared] - cpu[0][shared])),
                    "sd_diff_db": float(np.std(a[shared] - cpu[0][shared], ddof=1)),
                }
        out[device] = row
    return out


def _fmt(row: dict, key: str, field: str, spec: str) -> str:
    value = row.get(key, {}).get(field)
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="the device to train on (default cuda)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="random seeds of the top rung (default 0)")
    p.add_argument("--reference", action="store_true", help="the long reference too (random seeds 0 and 1)")
    p.add_argument("--jobs", type=int, default=4, help="trainings at once on the device")
    p.add_argument("--only-table", action="store_true", help="print from the cache, train nothing")
    args = p.parse_args(argv)
    cands, cache = load_candidates(), RunCache()
    if not args.only_table:
        rungs = top_rung_method(args.device)
        todo = [(c, rungs, steps, s) for s in args.seeds for c, steps in cands.items()]
        if args.reference:
            reference = on_device(for_task(REFERENCE, DEFAULT_TASK), args.device)
            todo += [(c, reference, steps, s) for s in (0, 1) for c, steps in cands.items()]
        run_all(todo, cache, args.jobs)
    rows = device_rows(cache, cands)
    print(f"{len(cands)} candidates, the `default` fidelity's top rung (1350 iterations):")
    print(
        table(
            [
                [
                    device,
                    "/".join(str(row["runs"][s]) for s in (0, 1)),
                    f"{row['wall_seconds_per_run']:.0f}",
                    _fmt(row, "against_cpu", "kendall_tau", ".2f"),
                    _fmt(row, "against_cpu", "mean_diff_db", "+.3f"),
                    _fmt(row, "against_cpu", "sd_diff_db", ".3f"),
                    _fmt(row, "seed_to_seed", "kendall_tau", ".2f"),
                    _fmt(row, "seed_to_seed", "sigma_db", ".3f"),
                ]
                for device, row in rows.items()
            ],
            HEADER,
        )
    )
    print(f"\nwrote {write_json('device_ranking.json', rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
