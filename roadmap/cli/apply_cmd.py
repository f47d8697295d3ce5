"""`roadmap apply`: replay a roadmap on a seed, one row per step like MOFA's Table 1."""

from __future__ import annotations

import sys
from typing import Any

from roadmap.analysis import analyze
from roadmap.build import build_model
from roadmap.cli.common import (
    add_input_size_argument,
    add_json_argument,
    add_spec_argument,
    add_threads_argument,
    human,
    network_input_size,
    positive_int,
    print_json,
    table,
    threads_of,
)
from roadmap.cli.latency_options import add_latency_arguments, latency_config
from roadmap.errors import SpecError
from roadmap.roadmaps import get_roadmap
from roadmap.seeds import resolve_spec
from roadmap.spec import UNetSpec, save_spec
from roadmap.transforms import apply_transform

METRICS = ("params", "params_conv_only", "macs", "skip_memory_elements_peak", "peak_activation_elements")


def short_params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def step_rows(
    spec: UNetSpec, steps, input_hw, latency: bool, threads: int, repeats: int, progress, backend=None
) -> tuple[list[dict[str, Any]], UNetSpec]:
    """Analyse the seed and every step, then (``latency``) time all of them side by side on
    ``backend`` (a `LatencyConfig`, default eager torch); returns the rows and the final spec."""
    rows: list[dict[str, Any]] = []
    specs: list[UNetSpec] = []
    current = spec
    for k, step in enumerate([None, *steps]):
        if step is not None:
            try:
                current = apply_transform(current, step["transform"], **(step.get("params") or {}))
            except SpecError as exc:  # name the step: the roadmap file is the user's input
                raise SpecError(f"step {k} ({step['transform']}): {exc}") from None
            except (ValueError, TypeError, OverflowError) as exc:  # a parameter a transform did not expect
                raise SpecError(f"step {k} ({step['transform']}): {type(exc).__name__}: {exc}") from None
        a = analyze(current, input_hw)
        row: dict[str, Any] = {"step": "seed" if step is None else step["transform"]}
        if step is not None:
            row["params_changed"] = step.get("params") or {}
        row.update({m: getattr(a, m) for m in METRICS})
        row["latency_ms"] = None
        progress(f"[{k}/{len(steps)}] {row['step']}: {human(row['params'])} params, {human(row['macs'])} MACs")
        rows.append(row)
        specs.append(current)
    if latency:
        _time_steps(rows, specs, input_hw, threads, repeats, backend, progress)
    seed = rows[0]
    for row in rows:
        for m in (*METRICS, "latency_ms"):
            base, value = seed.get(m), row.get(m)
            row[f"{m}_rel"] = (value / base - 1) if base and value is not None else None
    return rows, current


def _time_steps(rows, specs, input_hw, threads, repeats, backend, progress) -> None:
    """Latency of every step, timed in interleaved rounds (a drift of the machine hits every
    step alike, so the % against the seed hold); fills ``latency_ms`` / ``_cv`` / ``_rounds``."""
    import torch

    from roadmap.evaluation.latency import Clock, LatencyConfig, measure_models

    backend = backend or LatencyConfig()
    progress(f"timing {len(specs)} models side by side ({backend.describe()}) ...")
    torch.manual_seed(0)
    models = [build_model(s) for s in specs]
    # the network input: a super-resolution spec's LR input (no transform changes the scale)
    shape = (1, specs[0].in_channels, *network_input_size(specs[0], input_hw))
    reports = measure_models([(m, backend) for m in models], shape, threads=threads, clock=Clock(repeats=repeats))
    for row, report in zip(rows, reports, strict=False):
        row.update(latency_ms=report.median_ms, latency_cv=report.cv, latency_rounds=report.rounds)
        progress(f"  {row['step']}: {report.median_ms:.1f} ms (CV {report.cv:.1%}, {report.rounds} rounds)")


def _cell(row: dict, key: str, fmt=human) -> str:
    value, rel = row.get(key), row.get(f"{key}_rel")
    if value is None:
        return "-"
    text = fmt(value)
    return text if row["step"] == "seed" or rel is None else f"{text} ({rel * 100:+.1f}%)"


def run(args) -> int:
    from roadmap import files

    if args.out:
        files.check_writable(args.out, "--out")  # before the analysis and the timing
    spec = resolve_spec(args.spec, args.variant)
    lr_size = network_input_size(spec, args.input_size)
    steps = get_roadmap(args.roadmap, spec)
    backend = latency_config(args)
    quiet = args.json or args.quiet
    progress = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    threads = threads_of(args)
    rows, final = step_rows(
        spec, steps, tuple(args.input_size), not args.no_latency, threads, args.repeats, progress, backend
    )
    if args.out:
        save_spec(final, args.out, "--out")
    if args.json:
        print_json(_json_report(args, spec, lr_size, threads, backend, rows))
        return 0
    _print_table(args, spec, lr_size, threads, backend, rows)
    if args.out:
        print(f"final spec written to {args.out}")
    return 0


def _json_report(args, spec, lr_size, threads: int, backend, rows: list[dict]) -> dict:
    """What ``--json`` prints: the roadmap's input and output sizes, how latency was timed, the rows."""
    latency = {
        "device": "cpu",
        "threads": threads,
        "repeats": args.repeats,
        "backend": backend.backend,
        "command": backend.command,
        "statistic": "median of round medians, steps interleaved",
    }
    return {
        "seed": spec.name,
        "roadmap": args.roadmap,
        "input": list(lr_size),
        "output": list(args.input_size),
        "latency": None if args.no_latency else latency,
        "steps": rows,
    }


def _print_table(args, spec, lr_size, threads: int, backend, rows: list[dict]) -> None:
    """The roadmap's steps as a table, under a line saying the input and how latency was timed."""
    h, w = args.input_size
    lr_h, lr_w = lr_size
    size = f"{h}x{w}" if spec.upscale == 1 else f"{lr_h}x{lr_w} (LR) -> output {h}x{w} (x{spec.upscale})"
    print(
        f"roadmap {args.roadmap} on {spec.name}, input 1x{spec.in_channels}x{size}"
        + (
            ""
            if args.no_latency
            else f", CPU latency ({backend.describe()}): median of {args.repeats}+ runs in "
            f"interleaved rounds, {threads} thread(s)"
        )
    )
    body = [
        [
            r["step"],
            short_params(r.get("params_changed", {})),
            _cell(r, "params"),
            _cell(r, "macs"),
            _cell(r, "skip_memory_elements_peak"),
            _cell(r, "peak_activation_elements"),
            _cell(r, "latency_ms", lambda v: f"{v:.1f} ms"),
        ]
        for r in rows
    ]
    header = ["step", "parameters", "params", "MACs", "skip memory (elem)", "peak activations (elem)", "latency"]
    print(table(body, header))


def register(sub) -> None:
    p = sub.add_parser("apply", help="replay a roadmap (mofa, unet--, or a YAML file) step by step")
    add_spec_argument(p)
    p.add_argument("--roadmap", required=True, help="mofa, unet--, or a roadmap YAML file")
    add_input_size_argument(p)
    p.add_argument("--out", help="write the final spec (with its provenance) to this YAML file")
    add_json_argument(p)
    p.add_argument("--no-latency", action="store_true", help="skip the CPU latency measurement")
    add_latency_arguments(p)
    add_threads_argument(p, "the latency measurement")
    p.add_argument(
        "--repeats",
        type=positive_int,
        default=10,
        help="timed runs per step, over 3 rounds, more rounds when they disagree (default 10)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)
