"""Does GAMA-IR's attention make a NAFNet faster? SCA, GAMA and no attention on every stage of
a seed, timed side by side in one interleaved measurement on two backends.

    python benchmarks/attention_latency.py [--seed nafnet] [--variant w16] [--hw 256 256] [--threads 1]

GAMA-IR claims global context "at almost no latency". The three variants differ only in the
attention of every NAFBlock (`roadmap.transforms` ``attention``); they are timed with eager
``torch`` and ``onnxruntime`` in one `roadmap.evaluation.latency.measure_models` call (round k
of every timer before round k + 1 of any), so a drifting background load hits all alike.
Prints median ms, CV, and the ratio to SCA per backend, params and MACs, and the load average;
writes ``benchmarks/results/attention_latency.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json
from benchmarks.latency_backends import load_average

ATTENTIONS = ("sca", "gama", "none")
BACKENDS = ("torch", "onnxruntime")


def variants(seed: str, variant: str | None) -> list[tuple[str, object]]:
    """``(attention, spec)``: the seed as shipped (SCA) and with every stage's attention swapped."""
    import roadmap
    from roadmap.transforms import apply_transform

    spec = roadmap.get_seed(seed, variant)
    return [
        (name, spec if name == "sca" else apply_transform(spec, "attention", attention=name)) for name in ATTENTIONS
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", default="nafnet")
    p.add_argument("--variant", default=None, help="the seed's variant (default: its default)")
    p.add_argument("--hw", nargs=2, type=int, default=[256, 256])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)

    import torch

    import roadmap
    from roadmap.analysis import analyze
    from roadmap.evaluation.latency import Clock, LatencyConfig, measure_models

    specs = variants(args.seed, args.variant)
    torch.manual_seed(0)
    models = [roadmap.build_model(spec) for _, spec in specs]
    entries = [(m, LatencyConfig(b)) for m in models for b in BACKENDS]
    clock = Clock(warmup=2, repeats=args.repeats, rounds=args.rounds, max_cv=0.03, extra_rounds=2)
    load_before, t0 = load_average(), time.perf_counter()
    reports = measure_models(entries, (1, 3, *args.hw), threads=args.threads, clock=clock)
    seconds, load_after = time.perf_counter() - t0, load_average()
    ms = {b: [reports[i * len(BACKENDS) + j].median_ms for i in range(len(specs))] for j, b in enumerate(BACKENDS)}
    cv = {b: [reports[i * len(BACKENDS) + j].cv for i in range(len(specs))] for j, b in enumerate(BACKENDS)}
    static = [analyze(spec, tuple(args.hw)) for _, spec in specs]
    rows = [
        [
            name,
            f"{a.params:,}",
            f"{a.macs / 1e9:.3f}G",
            *(f"{ms[b][i]:.1f} ({cv[b][i]:.1%}) x{ms[b][i] / ms[b][0]:.3f}" for b in BACKENDS),
        ]
        for i, ((name, _), a) in enumerate(zip(specs, static, strict=False))
    ]
    print(
        f"{args.seed} attention on every stage at 1x3x{args.hw[0]}x{args.hw[1]}, {args.threads} thread(s), "
        f"interleaved rounds; {seconds:.0f} s, load average {load_before:.2f} -> {load_after:.2f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(table(rows, ["attention", "params", "MACs", *(f"{b} ms (CV) x SCA" for b in BACKENDS)]))
    path = write_json(
        "attention_latency.json",
        {
            "seed": args.seed,
            "variant": args.variant,
            "input_hw": args.hw,
            "threads": args.threads,
            "seconds": seconds,
            "load_average": [load_before, load_after],
            "cpus": os.cpu_count(),
            "variants": [
                {
                    "attention": name,
                    "params": a.params,
                    "macs": a.macs,
                    **{
                        b: {"median_ms": ms[b][i], "cv": cv[b][i], "ratio_to_sca": ms[b][i] / ms[b][0]}
                        for b in BACKENDS
                    },
                }
                for i, ((name, _), a) in enumerate(zip(specs, static, strict=False))
            ],
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
