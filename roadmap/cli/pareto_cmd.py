"""``roadmap pareto STUDY [--json | --csv]``: the non-dominated trials and the hypervolume."""

from __future__ import annotations

import argparse
import json
import sys

from roadmap.cli.common import add_json_argument

EXAMPLES = """examples:
  roadmap pareto studies/runs/nafnet-w16
  roadmap pareto studies/runs/nafnet-w16 --json > front.json
  roadmap pareto studies/runs/nafnet-w16 --csv --all > trials.csv
  roadmap pareto studies/runs/nafnet-w16 --hv-ref 25,200,512
"""

HV_REF_HELP = (
    "hypervolume reference point as PSNR,LATENCY_MS,MEMORY_MB (default: the worst finished trial "
    "in each objective pushed out by 10%% of the range)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pareto",
        help="Pareto front of a study: table with noise bands, hypervolume, failed trials",
        description=(
            "The non-dominated finished trials of a study at its top rung (maximise PSNR, minimise "
            "latency and measured peak memory) with the reference points (seed, mofa, unet--) "
            "marked, and the normalised hypervolume with the reference point it used. PSNR is the "
            "mean over a trial's runs (random seeds) with the 95%% band of that mean (±: Student's t for "
            "the degrees of freedom of the noise estimate, the fidelity's calibrated prior pooled with the "
            "study's replicated candidates); 'vs seed' "
            "is the PSNR difference to the seed and its verdict -- a difference inside the noise "
            "band is a tie -- and 'overall' the verdict in all three objectives (dominates only "
            "when nothing is worse beyond the noise). The header names the task and the degraded "
            "input's PSNR, the baseline every PSNR improves on (a column input_psnr where it differs "
            "between trials). Two recommendations follow the table: the knee, and the fastest trial that "
            "ties with or beats the seed in PSNR, uses no more memory and is faster. Candidates screened "
            "out at lower rungs, "
            "failed and unfinished trials are counted, not shown."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("study", metavar="STUDY", help="study directory (holds study.db)")
    fmt = p.add_mutually_exclusive_group()
    add_json_argument(
        fmt,
        help='print {"task", "input_psnr", "trials", "front", "hypervolume", "noise", '
        '"recommendations", "top_rung", "screened_out", "failures", ...}; noise with sigma_db, '
        'dof, source; recommendations {"knee", "fastest_no_loss"}; each trial with psnr_runs, '
        "psnr_band_db, input_psnr, versus_seed",
    )
    fmt.add_argument("--csv", action="store_true", help="print the table as CSV (plain numbers)")
    p.add_argument("--all", action="store_true", help="table/CSV: every finished trial, not only the front")
    p.add_argument(
        "--failed",
        action="store_true",
        help="list every failed, rejected, screened-out or unfinished trial with its reason (works "
        "when no trial finished)",
    )
    p.add_argument("--hv-ref", metavar="PSNR,MS,MB", default=None, help=HV_REF_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadmap.review.study import load_study_dir
    from roadmap.review.summary import (
        baseline_line,
        cost_lines,
        display_frame,
        left_out_line,
        noise_line,
        pareto_summary,
        parse_reference_point,
        recommendations_line,
        rung_text,
        table_frame,
        to_json_dict,
    )

    ref = parse_reference_point(args.hv_ref)  # a bad value is refused before the study is read
    if args.failed:
        return _print_left_out(load_study_dir(args.study, allow_empty=True), args.json)
    review = load_study_dir(args.study)
    summary = pareto_summary(review, ref)
    if args.json:
        json.dump(to_json_dict(summary), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    frame = table_frame(summary, all_trials=args.all)
    if args.csv:
        frame.to_csv(sys.stdout, index=False, float_format="%.6g")
        return 0
    print(
        f"study {review.directory}: {len(review.trials)} finished at the top rung ({rung_text(review)}), "
        f"{summary.failed} failed (ignored), {len(summary.front)} on the front"
    )
    print(baseline_line(review))
    print(noise_line(review))
    print(format_table(display_frame(frame, review.input_psnr)))
    print(_hypervolume_line(summary))
    print(recommendations_line(review))
    print(left_out_line(review))
    print("\n".join(cost_lines(review.cost)))
    print(
        "* = on the Pareto front (of the means); x = over a limit of the study (pareto --failed says which); "
        "reference = seed / mofa / unet-- roadmap points; psnr = mean ±band of the mean (n runs); vs seed = PSNR "
        "difference and its verdict (a tie inside the noise band); overall = all three objectives against the "
        "seed beyond the noise (dominates: nothing worse)"
    )
    return 0


def _hypervolume_line(summary) -> str:
    """The hypervolume and its reference point, or why there is none (no feasible trial)."""
    from roadmap.review.summary import no_feasible_line

    ref = summary.reference_point
    if summary.hypervolume is None:
        return f"{no_feasible_line(summary.review)}; hypervolume n/a"
    return (
        f"hypervolume {summary.hypervolume:.4f} (normalised; reference point PSNR {ref['psnr']:.4g} dB, "
        f"latency {ref['latency_ms']:.4g} ms, memory {ref['peak_memory_measured_bytes'] / 2**20:.4g} MB)"
    )


def _print_left_out(review, as_json: bool) -> int:
    """``--failed``: one row per trial that is not on the table for a reason -- failed,
    finished over a limit (infeasible), screened out at a lower rung, rejected before training,
    interrupted, running or waiting -- with why."""
    from roadmap.review.summary import no_feasible_line, unfinished_counts, unfinished_kind

    rows = [
        (n, kind, why)
        for kind, reasons in (
            ("failed", review.failures),
            ("infeasible", review.infeasible),
            ("screened out", review.screened),
        )
        for n, why in reasons.items()
    ]
    rows += [(n, unfinished_kind(why), why.partition(": ")[2]) for n, why in review.unfinished.items()]
    rows.sort()
    if as_json:
        json.dump(
            {"trials": [{"number": n, "kind": k, "reason": r} for n, k, r in rows], "no_feasible": review.no_feasible},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    counts = {
        "failed": len(review.failures),
        "infeasible (finished over a limit)": len(review.infeasible),
        "screened out at lower rungs": len(review.screened),
        **{f"{k} (not counted)": n for k, n in unfinished_counts(review).items()},
    }
    print(f"study {review.directory}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if review.no_feasible:
        print(no_feasible_line(review))
    for n, kind, why in rows:
        print(f"  trial {n:>4}  {kind:<12}  {why}")
    return 0


def format_table(frame) -> str:
    """The pareto table (:func:`~roadmap.review.summary.display_frame`) for a terminal: numbers
    right-aligned, the transformations left-aligned."""

    def num(fmt):
        return lambda v: "-" if v is None or v != v or str(v) == "<NA>" else fmt.format(v)

    formatters = {
        "ssim": num("{:.4f}"),
        "latency_ms": num("{:.4g}"),
        "input_psnr": num("{:.2f}"),
        "memory_mb": num("{:.1f}"),
        "pred_memory_mb (this device)": num("{:.1f}"),
        "params": num("{:,}"),
        "macs": num("{:,}"),
    }
    width = max([len("transforms")] + [len(str(t)) for t in frame["transforms"]])
    formatters["transforms"] = lambda t: f"{t:<{width}}"
    lines = frame.to_string(index=False, formatters=formatters, na_rep="-").splitlines()
    pad = " " * (width - len("transforms"))
    if lines and lines[0].endswith(pad + "transforms"):  # left-align the last header too
        lines[0] = lines[0][: len(lines[0]) - width] + "transforms"
    return "\n".join(line.rstrip() for line in lines)
