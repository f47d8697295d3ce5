"""``roadmap plot STUDY [--out report.html]``: the interactive, self-contained HTML report."""

from __future__ import annotations

import argparse

from roadmap.cli.common import add_input_size_argument

EXAMPLES = """examples:
  roadmap plot studies/runs/nafnet-w16
  roadmap plot studies/runs/nafnet-w16 --out nafnet.html --input-size 512 512
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from roadmap.cli.pareto_cmd import HV_REF_HELP

    p = subparsers.add_parser(
        "plot",
        help="write an offline HTML report of a study (Pareto front, hypervolume, roadmap)",
        description=(
            "One self-contained HTML file (plotly.js embedded, works offline): the recommended "
            "(knee) point with its PSNR as mean ± noise band over its runs and its verdict against "
            "the seed, the fastest point with no loss against the seed (ties with or beats it in PSNR, "
            "no more memory, faster; a marker of its own), the noise floor (sigma, its degrees of "
            "freedom and source), the Pareto front in 3-D and its three 2-D projections (PSNR error bars: the "
            "noise band), the Pareto table, the candidates screened out and the failed trials, "
            "hypervolume vs trial number, the roadmap table of the recommended point, and the "
            "per-level MACs and skip-memory timeline of the seed next to the recommended point."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("study", metavar="STUDY", help="study directory (holds study.db)")
    p.add_argument("--out", default="report.html", help="HTML file to write (default: report.html)")
    add_input_size_argument(p)
    p.add_argument("--hv-ref", metavar="PSNR,MS,MB", default=None, help=HV_REF_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadmap import files
    from roadmap.review.report import build_report
    from roadmap.review.study import load_study_dir
    from roadmap.review.summary import pareto_summary, parse_reference_point

    out = files.check_writable(args.out, "--out")  # before the study is read and the report built
    ref = parse_reference_point(args.hv_ref)
    review = load_study_dir(args.study)
    summary = pareto_summary(review, ref)
    text = build_report(review, summary=summary, input_hw=tuple(args.input_size))
    files.write_text(out, text, "--out")
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB, works offline)")
    return 0
