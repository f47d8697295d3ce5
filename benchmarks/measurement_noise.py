"""How noisy are the measurements? (1) latency: repeated `measure_latency` calls on the
same model -- each call's CV (between its round medians, the figure the search records), the
CV of all its timed runs, its rounds, and the CV of the medians between calls -- for every
seed's default variant (``--model seeds``) or one ``SEED/VARIANT``, with the load average next
to each figure (a busy machine is the main source of noise); (2) memory: measured / predicted
peak inference memory for every seed.

    python benchmarks/measurement_noise.py [--measurements 5] [--threads 1] [--hw 256 256] [--only latency]

Prints the tables and writes ``benchmarks/results/measurement_noise.json``. With CUDA
available the memory table is repeated on the GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json

TARGET_CV = 0.03  # the median over the seeds of a measurement's CV, on a quiet machine


def load_average() -> float:
    """The 1-minute load average (0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def latency_noise(seed: str, variant: str | None, hw, threads: int, measurements: int, repeats: int) -> dict:
    """``measurements`` calls of `measure_latency` on one model (default clock: 3 rounds,
    extra rounds while the round medians' CV is above 3 %)."""
    import torch

    import roadmap
    from roadmap.evaluation import measure_latency

    torch.manual_seed(0)
    spec = roadmap.get_seed(seed, variant)
    model = roadmap.build_model(spec)
    reports, loads = [], []
    for _ in range(measurements):
        reports.append(measure_latency(model, (1, spec.in_channels, *hw), "cpu", threads=threads, repeats=repeats))
        loads.append(load_average())
    medians = [r.median_ms for r in reports]
    return {
        "model": spec.provenance.get("seed", seed),
        "input_hw": list(hw),
        "threads": threads,
        "repeats": repeats,
        "medians_ms": medians,
        "cv_within": [r.cv for r in reports],
        "run_cv_within": [r.run_cv for r in reports],
        "robust_cv_within": [r.robust_cv for r in reports],
        "rounds": [r.rounds for r in reports],
        "load_average": loads,
        "median_cv_within": statistics.median(r.cv for r in reports),
        "cv_between_medians": statistics.pstdev(medians) / statistics.fmean(medians),
    }


def memory_ratios(hw, device: str, threads: int) -> list[dict]:
    """Measured vs predicted peak bytes of every seed variant at ``1 x C x hw``."""
    import torch

    import roadmap
    from roadmap.analysis import analyze
    from roadmap.evaluation import measure_peak_memory

    rows = []
    for seed, variants in roadmap.list_seeds().items():
        for variant in variants:
            spec = roadmap.get_seed(seed, variant)
            a = analyze(spec, tuple(hw))
            # On the CPU the prediction includes PyTorch's conv workspaces (see roadmap.analysis).
            predicted = a.peak_memory_cpu_bytes if torch.device(device).type == "cpu" else a.peak_activation_bytes
            torch.manual_seed(0)
            report = measure_peak_memory(roadmap.build_model(spec), (1, spec.in_channels, *hw), device, threads=threads)
            rows.append(
                {
                    "model": f"{seed}/{variant}",
                    "device": device,
                    "measured_bytes": report.peak_bytes,
                    "predicted_bytes": predicted,
                    "predicted_lifetime_only_bytes": a.peak_activation_bytes,
                    "ratio": report.peak_bytes / predicted,
                    "counts": report.counts,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--measurements", type=int, default=5, help="latency measurements of the same model")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per measurement (before extra rounds)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hw", nargs=2, type=int, default=[256, 256])
    p.add_argument(
        "--model",
        default="seeds",
        help="SEED/VARIANT timed for latency, or seeds: every seed's default variant (default)",
    )
    p.add_argument("--only", choices=["latency", "memory"], default=None, help="run one half")
    args = p.parse_args(argv)
    import torch

    lat = mem = None
    if args.only != "memory":
        lat = run_latency(args)
    if args.only != "latency":
        mem = run_memory(args)
    path = write_json(
        "measurement_noise.json" if args.only is None else f"measurement_noise_{args.only}.json",
        {"latency": lat, "memory": mem, "torch": torch.__version__},
    )
    print(f"wrote {path}")
    return 0


def _models(choice: str) -> list[tuple[str, str | None]]:
    """``seeds``: every seed's default variant; else one ``SEED/VARIANT``."""
    import roadmap

    if choice == "seeds":
        return [(seed, None) for seed in roadmap.list_seeds()]
    seed, _, variant = choice.partition("/")
    return [(seed, variant or None)]


def run_latency(args) -> dict:
    runs = []
    for seed, variant in _models(args.model):
        lat = latency_noise(seed, variant, args.hw, args.threads, args.measurements, args.repeats)
        print(
            f"latency of {lat['model']} at 1x3x{args.hw[0]}x{args.hw[1]}, {args.threads} thread(s), "
            f"{args.measurements} measurements of {args.repeats}+ runs in 3+ rounds"
        )
        print(
            table(
                [
                    [i + 1, f"{m:.1f}", f"{c:.1%}", k, f"{rc:.1%}", f"{la:.2f}"]
                    for i, (m, c, k, rc, la) in enumerate(
                        zip(
                            lat["medians_ms"],
                            lat["cv_within"],
                            lat["rounds"],
                            lat["run_cv_within"],
                            lat["load_average"],
                            strict=False,
                        )
                    )
                ],
                ["#", "median ms", "CV (rounds)", "rounds", "CV (runs)", "load avg"],
            )
        )
        print(
            f"median CV {lat['median_cv_within']:.1%}; CV of the medians between measurements "
            f"{lat['cv_between_medians']:.1%}; load average {statistics.fmean(lat['load_average']):.2f} "
            f"on {os.cpu_count()} CPUs\n"
        )
        runs.append(lat)
    summary = {
        "median_cv_over_models": statistics.median(r["median_cv_within"] for r in runs),
        "median_cv_between_over_models": statistics.median(r["cv_between_medians"] for r in runs),
        "load_average": statistics.fmean(x for r in runs for x in r["load_average"]),
        "cpus": os.cpu_count(),
        "target_cv": TARGET_CV,
    }
    print(
        f"over {len(runs)} model(s): median CV {summary['median_cv_over_models']:.1%} (target <= {TARGET_CV:.0%} "
        f"on a quiet machine), median CV between measurements {summary['median_cv_between_over_models']:.1%}, "
        f"load average {summary['load_average']:.2f} on {summary['cpus']} CPUs\n"
    )
    return {"models": runs, **summary}


def run_memory(args) -> list[dict]:
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    mem = [r for d in devices for r in memory_ratios(args.hw, d, args.threads)]
    print(f"peak inference memory at 1xCx{args.hw[0]}x{args.hw[1]} ({mem[0]['counts']})")
    print(
        table(
            [
                [
                    r["model"],
                    r["device"],
                    f"{r['measured_bytes'] / 2**20:.2f}",
                    f"{r['predicted_bytes'] / 2**20:.2f}",
                    f"{r['ratio']:.3f}",
                ]
                for r in mem
            ],
            ["model", "device", "measured MiB", "predicted MiB", "measured/predicted"],
        )
    )
    worst = max(abs(r["ratio"] - 1) for r in mem)
    print(f"largest deviation {worst:.1%} (target: within 25% on CPU, 10% on CUDA)")
    return mem


if __name__ == "__main__":
    sys.exit(main())
