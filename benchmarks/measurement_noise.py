"""How noisy are the measurements? (1) latency: repeated `measure_latency` calls on the
same model -- the CV of each call's repeats and the CV of the medians between calls;
(2) memory: measured / predicted peak inference memory for every seed.

    python benchmarks/measurement_noise.py [--measurements 5] [--threads 1] [--hw 256 256]

Prints two tables and writes ``benchmarks/results/measurement_noise.json``. With CUDA
available the memory table is repeated on the GPU.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json  # noqa: E402


def latency_noise(seed: str, variant: str, hw, threads: int, measurements: int, repeats: int) -> dict:
    """``measurements`` calls of `measure_latency` on one model."""
    import torch

    import roadmap
    from roadmap.evaluation import measure_latency

    torch.manual_seed(0)
    model = roadmap.build_model(roadmap.get_seed(seed, variant))
    reports = [measure_latency(model, (1, 3, *hw), "cpu", threads=threads, repeats=repeats)
               for _ in range(measurements)]
    medians = [r.median_ms for r in reports]
    return {
        "model": f"{seed}/{variant}", "input_hw": list(hw), "threads": threads, "repeats": repeats,
        "medians_ms": medians, "cv_within": [r.cv for r in reports],
        "robust_cv_within": [r.robust_cv for r in reports],
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
            report = measure_peak_memory(roadmap.build_model(spec), (1, spec.in_channels, *hw),
                                         device, threads=threads)
            rows.append({"model": f"{seed}/{variant}", "device": device,
                         "measured_bytes": report.peak_bytes, "predicted_bytes": predicted,
                         "predicted_lifetime_only_bytes": a.peak_activation_bytes,
                         "ratio": report.peak_bytes / predicted, "counts": report.counts})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--measurements", type=int, default=5, help="latency measurements of the same model")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per measurement")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hw", nargs=2, type=int, default=[256, 256])
    p.add_argument("--model", default="nafnet/w16", help="SEED/VARIANT timed for latency")
    p.add_argument("--only", choices=["latency", "memory"], default=None, help="run one half")
    args = p.parse_args(argv)
    import torch

    lat = mem = None
    if args.only != "memory":
        lat = run_latency(args)
    if args.only != "latency":
        mem = run_memory(args)
    path = write_json("measurement_noise.json" if args.only is None else f"measurement_noise_{args.only}.json",
                      {"latency": lat, "memory": mem, "torch": torch.__version__})
    print(f"wrote {path}")
    return 0


def run_latency(args) -> dict:
    seed, _, variant = args.model.partition("/")
    lat = latency_noise(seed, variant or None, args.hw, args.threads, args.measurements, args.repeats)
    print(f"latency of {lat['model']} at 1x3x{args.hw[0]}x{args.hw[1]}, {args.threads} thread(s), "
          f"{args.measurements} measurements x {args.repeats} runs")
    print(table([[i + 1, f"{m:.1f}", f"{c:.1%}", f"{rc:.1%}"] for i, (m, c, rc) in
                 enumerate(zip(lat["medians_ms"], lat["cv_within"], lat["robust_cv_within"]))],
                ["#", "median ms", "CV", "robust CV"]))
    print(f"median within-measurement CV {lat['median_cv_within']:.1%}; "
          f"CV of the medians between measurements {lat['cv_between_medians']:.1%}\n")
    return lat


def run_memory(args) -> list[dict]:
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    mem = [r for d in devices for r in memory_ratios(args.hw, d, args.threads)]
    print(f"peak inference memory at 1xCx{args.hw[0]}x{args.hw[1]} ({mem[0]['counts']})")
    print(table([[r["model"], r["device"], f"{r['measured_bytes'] / 2**20:.2f}",
                  f"{r['predicted_bytes'] / 2**20:.2f}", f"{r['ratio']:.3f}"] for r in mem],
                ["model", "device", "measured MiB", "predicted MiB", "measured/predicted"]))
    worst = max(abs(r["ratio"] - 1) for r in mem)
    print(f"largest deviation {worst:.1%} (target: within 25% on CPU, 10% on CUDA)")
    return mem


if __name__ == "__main__":
    sys.exit(main())
