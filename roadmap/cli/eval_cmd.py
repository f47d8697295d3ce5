"""`roadmap eval`: proxy-train a seed or spec and measure it (PSNR, SSIM, latency, memory)."""

from __future__ import annotations

import sys
import time

from roadmap.cli.common import (
    add_data_argument,
    add_device_argument,
    add_fidelity_argument,
    add_json_argument,
    add_random_seed_argument,
    add_spec_argument,
    add_task_arguments,
    add_threads_argument,
    human,
    mib,
    print_json,
    spec_and_task,
)
from roadmap.cli.latency_options import add_latency_arguments, latency_config


def progress_printer(stream=sys.stderr, min_interval: float = 2.0):
    """A `train` progress callback writing ``iteration i/n, loss, ~time left`` to
    ``stream`` at most every ``min_interval`` seconds (and at the end)."""
    last = [0.0]

    def show(done: int, total: int, loss: float, elapsed: float) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < min_interval:
            return
        last[0] = now
        left = elapsed / done * (total - done)
        end = "\n" if done == total else ""
        print(
            f"\rtraining: {done}/{total} iterations, loss {loss:.4f}, {elapsed:.0f} s elapsed, ~{left:.0f} s left   ",
            end=end,
            file=stream,
            flush=True,
        )

    return show


def format_result(name: str, r: dict) -> str:
    """The human-readable summary of an `evaluate_spec` dict."""

    def num(key: str, fmt: str, unit: str = "") -> str:
        return "n/a" if r.get(key) is None else f"{r[key]:{fmt}}{unit}"

    ratio = "n/a"
    if r.get("peak_memory_measured_bytes") and r.get("peak_memory_predicted_bytes"):
        ratio = f"{r['peak_memory_measured_bytes'] / r['peak_memory_predicted_bytes']:.2f}"
    params = "n/a" if r.get("params") is None else f"{r['params']:,}"
    lines = [
        f"{name}  (fidelity {r['fidelity']}, device {r['device']}, task {_task_name(r)})",
        f"  status            {r['status']}" + (f" -- {r['reason']}" if r.get("reason") else ""),
        f"  PSNR validation   {_psnr_line(r, 'psnr', 'input_psnr')}",
        f"  PSNR test         {_psnr_line(r, 'test_psnr', 'test_input_psnr')}",
        *(
            [
                f"  PSNR RGB          {num('psnr_rgb', '.2f', ' dB')}  (the PSNR above is the Y channel's, "
                f"borders shaved)"
            ]
            if r.get("psnr_rgb") is not None
            else []
        ),
        f"  SSIM              {num('ssim', '.4f')}",
        *_depth_lines(r),
        f"  latency           {num('latency_ms', '.1f', ' ms')} median, CV {num('latency_cv', '.1%')}"
        + (f" over {r['latency_rounds']} rounds ({r['latency_backend']})" if r.get("latency_rounds") else ""),
        "  peak memory       measured "
        f"{mib(r['peak_memory_measured_bytes']) if r.get('peak_memory_measured_bytes') else 'n/a'}, "
        f"predicted {mib(r['peak_memory_predicted_bytes']) if r.get('peak_memory_predicted_bytes') else 'n/a'} "
        f"(measured/predicted {ratio})",
        f"  params            {params}",
        f"  MACs              {'n/a' if r.get('macs') is None else human(r['macs'])}",
        f"  training time     {num('train_seconds', '.1f', ' s')}",
    ]
    return "\n".join(lines)


def _task_name(r: dict) -> str:
    task = r.get("task") or {"name": "denoise"}
    return f"{task['name']} x{task['scale']}" if task["name"] == "sr" else task["name"]


def _psnr_line(r: dict, key: str, baseline: str) -> str:
    """``28.41 dB (degraded input 20.17 dB, gain +8.24 dB)`` (`psnr_with_baseline`); a test
    line without a baseline says why (the data has no test images)."""
    from roadmap.evaluation.tasks import psnr_with_baseline

    if key != "psnr" and r.get(baseline) is None:
        return "n/a (no test images in this data)"
    return psnr_with_baseline(r.get(key), r.get(baseline))


def _depth_lines(r: dict) -> list[str]:
    """A deep-supervised UNet++: the PSNR of every depth its one training scored."""
    by_depth = r.get("psnr_by_depth")
    if not by_depth:
        return []
    shown = ", ".join(f"{d}: {'n/a' if v is None else f'{v:.2f}'}" for d, v in sorted(by_depth.items()))
    return [f"  PSNR by depth     {shown} dB  (one training; prune to a depth without retraining)"]


def run(args) -> int:
    from roadmap.evaluation import evaluate_spec
    from roadmap.evaluation.data import load_data
    from roadmap.evaluation.device import check_device
    from roadmap.evaluation.fidelity import Fidelity, load_fidelity

    check_device(args.device)
    latency = latency_config(args)  # a bad backend or command is a usage error, before any work
    spec, task = spec_and_task(args)
    fidelity = load_fidelity(args.fidelity)
    if args.threads is not None:
        fidelity = Fidelity.from_dict({**fidelity.to_dict(), "threads": args.threads})
    # Load (and check) the data here so a bad folder fails before anything is built.
    data = load_data(
        args.data, task=task, val_crop=fidelity.val_crop, val_count=fidelity.val_count, train_crop=fidelity.crop
    )
    weights = _trained_weights(args, spec, data.task)  # a file that does not fit: exit 2, before any work
    quiet = args.json or args.quiet
    result = evaluate_spec(
        spec,
        fidelity,
        data,
        device=args.device,
        random_seed=args.random_seed,
        measure=not args.no_measure,
        progress=None if quiet else progress_printer(),
        latency=latency,
        init_weights=weights,
        train=weights is None,
    )
    if weights is not None:
        result["fidelity"] = f"none: the trained weights of {args.weights}"
    if args.json:
        print_json(result)
    else:
        print(format_result(spec.name, result))
    return 0 if result["status"] == "ok" else 1


def _trained_weights(args, spec, task):
    """``--weights``: the state dict `roadmap train` exported (its weight average), checked
    against the spec (RoadmapError naming the file); a warning when it was trained for another
    task than the one it is scored on. None without the flag."""
    if args.weights is None:
        return None
    import torch

    from roadmap.review.train import load_weights

    model = load_weights(spec, args.weights)
    recorded = torch.load(args.weights, map_location="cpu", weights_only=False)
    trained_for = recorded.get("task") if isinstance(recorded, dict) else None
    if isinstance(trained_for, dict) and trained_for != task.to_dict():
        print(
            f"roadmap eval: warning: {args.weights} was trained for {trained_for}, scored here on "
            f"{task.describe()} (--task)",
            file=sys.stderr,
        )
    return model.state_dict()


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="proxy-train a seed or spec and measure PSNR, SSIM, latency, memory",
        description="Proxy-train a seed or spec on a restoration task (--task) and measure it: PSNR on the "
        "validation and the test images next to the degraded input's. Exit code 0 when "
        "the status is ok, 1 when the model diverged or failed (the numbers known are "
        "still printed), 2 for a usage or data error.",
    )
    add_spec_argument(p)
    add_fidelity_argument(
        p,
        help="training preset ({presets}) or a YAML/JSON file of "
        "fidelity fields, as `search` takes; a screening preset trains its chain from "
        "scratch here (default: default, the search's top rung, 150 + 300 + 900 iterations)",
    )
    add_data_argument(p)
    add_task_arguments(p)
    add_random_seed_argument(p)
    add_threads_argument(p, "training, latency and memory")
    add_device_argument(p)
    p.add_argument(
        "--weights",
        default=None,
        metavar="PT",
        help="score these trained weights (from roadmap train: its exported weight average) instead "
        "of proxy-training: PSNR on the same validation and test crops, latency, memory",
    )
    p.add_argument("--no-measure", action="store_true", help="skip latency and measured memory")
    add_latency_arguments(p)
    add_json_argument(p, help="print the result as JSON (no progress)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)
