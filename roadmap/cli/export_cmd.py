"""``roadmap export STUDY --pick ... --out winner.yaml [--onnx winner.onnx]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from roadmap.cli.common import add_input_size_argument, finite_float, network_input_size

if TYPE_CHECKING:
    from roadmap.review.onnx_export import OnnxExport
    from roadmap.spec import UNetSpec

EXAMPLES = """examples:
  roadmap export studies/runs/nafnet-w16 --pick knee --out winner.yaml
  roadmap export studies/runs/nafnet-w16 --pick fastest-no-loss --out fast-no-loss.yaml
  roadmap export studies/runs/nafnet-w16 --pick max-psnr --max-latency-ms 40 --out fast.yaml
  roadmap export studies/runs/nafnet-w16 --pick trial:17 --out t17.yaml --onnx t17.onnx
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trial of a study as a spec YAML (and ONNX)",
        description=(
            "Pick a finished trial and write its architecture as a spec YAML whose provenance "
            "records the seed, the transformations, the study, the trial, the task, the measured "
            "metrics (PSNR at the top rung as the mean over its runs, with its noise band and the "
            "verdict against the seed; the degraded input's PSNR beside it; the test images' PSNR, "
            "which nothing is chosen by) and the device and fidelity they were measured at. Limits "
            "drop the trials above "
            "them before picking. knee = the Pareto-front point closest to the ideal point once "
            "each objective is normalised to [0, 1] over the front; fastest-no-loss = the fastest "
            "trial that ties with or beats the seed in PSNR beyond the noise, uses no more memory and is "
            "faster than the seed (exit 1 when none qualifies)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("study", metavar="STUDY", help="study directory (holds study.db)")
    p.add_argument(
        "--pick",
        default="knee",
        metavar="PICK",
        help="knee | fastest-no-loss | max-psnr | min-latency | min-memory | trial:N (default: knee)",
    )
    p.add_argument(
        "--max-latency-ms",
        type=finite_float,
        default=None,
        metavar="X",
        help="only trials with measured latency <= X ms",
    )
    p.add_argument(
        "--max-memory-mb",
        type=finite_float,
        default=None,
        metavar="Y",
        help="only trials with measured peak memory <= Y MB (2**20 bytes)",
    )
    p.add_argument("--out", required=True, help="spec YAML to write")
    p.add_argument(
        "--onnx",
        default=None,
        metavar="FILE",
        help="also export the network to ONNX (opset 17) and check it with onnxruntime",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="PT",
        help="--onnx: load these weights (from roadmap train: its exported weight average) instead of random ones",
    )
    add_input_size_argument(p, help="--onnx: the input size the graph is traced at (default: 256 256)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadmap import files
    from roadmap.build import spec_has_reparam
    from roadmap.errors import RoadmapError
    from roadmap.review.export import check_out_path, export_trial, exported_spec, folded_path
    from roadmap.review.select import NoQualifyingTrial, parse_pick, pick_trial
    from roadmap.review.study import load_study_dir, short_transforms

    for flag, value in (("--max-latency-ms", args.max_latency_ms), ("--max-memory-mb", args.max_memory_mb)):
        if value is not None and not value > 0:
            raise RoadmapError(f"{flag}: must be > 0, got {value:g}")
    pick = parse_pick(args.pick)
    if args.weights and not args.onnx:
        raise RoadmapError("--weights only applies with --onnx")
    check_out_path(args.out)  # where it writes, before the study is read
    if args.onnx:
        files.check_writable(args.onnx, "--onnx")
    review = load_study_dir(args.study)
    try:
        trial = pick_trial(review, pick, max_latency_ms=args.max_latency_ms, max_memory_mb=args.max_memory_mb)
    except NoQualifyingTrial as exc:  # an answer about the study (like no feasible trial in a search): exit 1
        print(f"roadmap export: {exc}", file=sys.stderr)
        return 1
    # Every check (weights, ONNX export and its parity) runs before the first file is written:
    # a failing export leaves nothing behind.
    onnx = _onnx_first(args, exported_spec(review, trial)) if args.onnx else None
    try:
        spec = export_trial(review, trial, args.out)
    except BaseException:
        if onnx is not None:
            onnx[0].unlink(missing_ok=True)
        raise
    print(
        f"trial {trial.number}"
        + (f" ({trial.reference})" if trial.reference else "")
        + f": PSNR {_psnr(trial)}, test PSNR {_test_psnr(trial)}, {trial.latency_ms:.4g} ms, "
        f"{trial.memory_mb:.4g} MB{_versus(trial)}; "
        f"{short_transforms(trial.transforms)}"
    )
    print(f"wrote {args.out}")
    if spec_has_reparam(spec):
        print(f"wrote {folded_path(args.out)} (deployed form: RRRBs folded into single convs)")
    if onnx is not None:
        onnx_tmp, onnx_result = onnx
        onnx_tmp.replace(args.onnx)
        sizes = "x".join(map(str, onnx_result.input_shape))
        if onnx_result.output_shape[-2:] != onnx_result.input_shape[-2:]:  # super-resolution: the LR input
            sizes += f" (LR) -> output {'x'.join(map(str, onnx_result.output_shape))}"
        print(
            f"wrote {args.onnx} (input {sizes}, dynamic batch; "
            f"onnxruntime vs PyTorch max abs error {onnx_result.max_abs_error:.2g})"
        )
    return 0


def _onnx_first(args: argparse.Namespace, spec: UNetSpec) -> tuple[Path, OnnxExport]:
    """Export the ONNX graph to a temporary file next to ``--onnx``: (that file, the result)."""
    from roadmap.review.onnx_export import export_onnx

    network_input_size(spec, args.input_size)  # an SR scale that does not divide it: name the flag
    target = spec
    if args.weights:
        from roadmap.review.train import load_weights

        target = load_weights(spec, args.weights)
    final = Path(args.onnx)
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        result = export_onnx(target, tmp, input_hw=tuple(args.input_size))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, result


def _psnr(trial) -> str:
    """``29.600 ±0.255 dB (2 runs; degraded input 20.200 dB, gain +9.400 dB)``: the validation
    mean at the top rung with the band of the mean and the baseline (`gain_text`)."""
    from roadmap.evaluation.tasks import gain_text

    band = "" if trial.psnr_band is None else f" ±{trial.psnr_band:.3f}"
    runs = len(trial.psnr_runs)
    gain = gain_text(trial.psnr, trial.input_psnr, 3)
    return f"{trial.psnr:.3f}{band} dB ({runs} run{'s' if runs != 1 else ''}{'; ' + gain if gain else ''})"


def _test_psnr(trial) -> str:
    """``29.100 dB (degraded input 20.500 dB, gain +8.600 dB)`` on the held-out test images,
    reported for the winner, never used to choose it."""
    from roadmap.evaluation.tasks import psnr_with_baseline

    if trial.test_psnr is None:  # no test split, or a UNet++ depth the training did not score there
        return (
            "n/a ("
            + ("no test images in this data" if trial.test_input_psnr is None else "not recorded for this trial")
            + ")"
        )
    return psnr_with_baseline(trial.test_psnr, trial.test_input_psnr, 3)


def _versus(trial) -> str:
    v = trial.versus_seed
    if not v or trial.reference == "seed":
        return ""
    return f"; vs seed: PSNR {v['psnr']['delta']:+.2f} dB ({v['psnr']['verdict']}), overall {v['overall']}"
