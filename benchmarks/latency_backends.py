"""Which latency backend agrees with which? Twelve fixed specs timed on every backend side by
side, with the rank correlations between backends and against MACs.

    python benchmarks/latency_backends.py [--repeats 9] [--threads 1] [--hw 256 256] [--draws 2]

The specs: the default variant of every seed (nafnet w16, pmrid rgb, unet w16, gama s), the
MOFA and UNet-- references of NAFNet-w16, and ``--draws`` random candidates of the shipped
search space of nafnet, unet and pmrid each (`roadmap.search.sampling.random_candidates`,
seeded; 12 specs with the defaults). The backends: eager ``torch``, ``onnxruntime`` (a CPU
session with as many intra-op threads) and ``command`` (``examples/ort_latency.py`` in a
subprocess on the exported file). All 3 x 12 timers run in ONE interleaved measurement
(`roadmap.evaluation.latency.measure_models`): round k of every timer before round k + 1 of
any, so a background load drifting during the run hits all of them alike.

Prints one row per spec (MACs, each backend's median ms and CV, onnxruntime / torch), Spearman
rho between every pair of backends and each backend against MACs (GAMA-IR reports 0.65 between
FLOPs and GPU latency), and the load average; writes ``benchmarks/results/latency_backends.json``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("torch", "onnxruntime", "command")
DRAW_SEEDS = ("nafnet", "unet", "pmrid")


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def fixed_specs(draws: int, random_seed: int = 0) -> list[tuple[str, object]]:
    """``(label, spec)`` of the seeds, the nafnet references and the search-space draws."""
    import roadmap
    from roadmap.roadmaps import get_roadmap
    from roadmap.search.sampling import random_candidates
    from roadmap.search.space import default_space_path, load_space
    from roadmap.transforms import apply_steps

    out = []
    for seed in ("nafnet", "pmrid", "unet", "gama"):
        if seed in roadmap.list_seeds():
            spec = roadmap.get_seed(seed)
            out.append((str(spec.provenance.get("seed", seed)), spec))
    nafnet = roadmap.get_seed("nafnet")
    for name in ("mofa", "unet--"):
        out.append((f"nafnet/w16+{name}", apply_steps(nafnet, get_roadmap(name, nafnet))))
    for seed in DRAW_SEEDS:
        seed_spec = roadmap.get_seed(seed)
        space = load_space(default_space_path(seed), seed)
        for k, spec in enumerate(random_candidates(space, seed_spec, draws, random_seed)):
            out.append((f"{seed}/draw{k}", spec))
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def measure(specs, hw, threads: int, repeats: int, rounds: int, extra_rounds: int) -> dict[str, list]:
    """Every spec on every backend in one interleaved measurement; ``{backend: [report, ...]}``."""
    import torch

    import roadmap
    from roadmap.evaluation.latency import Clock, LatencyConfig, measure_models

    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(REPO / 'examples' / 'ort_latency.py'))} "
        f"{{onnx}} --input {{shape}} --threads {{threads}}"
    )
    configs = {
        "torch": LatencyConfig(),
        "onnxruntime": LatencyConfig("onnxruntime"),
        "command": LatencyConfig("command", command, timeout_s=300),
    }
    torch.manual_seed(0)
    models = [roadmap.build_model(spec) for _, spec in specs]
    entries = [(m, configs[b]) for m in models for b in BACKENDS]
    clock = Clock(warmup=2, repeats=repeats, rounds=rounds, max_cv=0.03, extra_rounds=extra_rounds)
    reports = measure_models(entries, (1, 3, *hw), threads=threads, clock=clock)
    return {b: reports[i :: len(BACKENDS)] for i, b in enumerate(BACKENDS)}


def correlations(ms: dict[str, list[float]], macs: list[float]) -> dict[str, float]:
    """Spearman rho of every backend pair and of every backend against MACs."""
    rho = {f"{a} vs {b}": spearman(ms[a], ms[b]) for a, b in itertools.combinations(BACKENDS, 2)}
    rho.update({f"{b} vs MACs": spearman(ms[b], macs) for b in BACKENDS})
    return rho


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=9, help="timed runs per timer over the first rounds (default 9)")
    p.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--extra-rounds", type=int, default=2, help="extra rounds while a CV is above 3%% (default 2)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hw", nargs=2, type=int, default=[256, 256])
    p.add_argument("--draws", type=int, default=2, help="random candidates per search space (default 2)")
    args = p.parse_args(argv)
    from roadmap.analysis import analyze

    specs = fixed_specs(args.draws)
    macs = [float(analyze(spec, tuple(args.hw)).macs) for _, spec in specs]
    load_before, t0 = load_average(), time.perf_counter()
    reports = measure(specs, args.hw, args.threads, args.repeats, args.rounds, args.extra_rounds)
    seconds, load_after = time.perf_counter() - t0, load_average()
    ms = {b: [r.median_ms for r in reports[b]] for b in BACKENDS}
    rho = correlations(ms, macs)
    rows = [
        [
            label,
            f"{m / 1e9:.2f}G",
            *(f"{ms[b][i]:.1f} ({reports[b][i].cv:.0%})" for b in BACKENDS),
            f"{ms['onnxruntime'][i] / ms['torch'][i]:.2f}",
        ]
        for i, ((label, _), m) in enumerate(zip(specs, macs, strict=False))
    ]
    print(
        f"{len(specs)} specs at 1x3x{args.hw[0]}x{args.hw[1]}, {args.threads} thread(s), interleaved rounds; "
        f"{seconds:.0f} s, load average {load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} CPUs"
    )
    print(table(rows, ["spec", "MACs", *(f"{b} ms (CV)" for b in BACKENDS), "ort/torch"]))
    print("\nSpearman rho")
    print(table([[k, f"{v:.3f}"] for k, v in rho.items()], ["pair", "rho"]))
    print(
        f"(GAMA-IR: FLOPs vs GPU latency 0.65); rounds per timer: "
        f"{statistics.median(r.rounds for b in BACKENDS for r in reports[b]):.0f}"
    )
    path = write_json(
        "latency_backends.json",
        {
            "input_hw": args.hw,
            "threads": args.threads,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "seconds": seconds,
            "load_average": [load_before, load_after],
            "cpus": os.cpu_count(),
            "specs": [
                {"label": label, "macs": m, **{b: reports[b][i].to_dict() for b in BACKENDS}}
                for i, ((label, _), m) in enumerate(zip(specs, macs, strict=False))
            ],
            "spearman": rho,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
