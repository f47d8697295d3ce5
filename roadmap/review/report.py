"""The self-contained HTML report of a study (``roadmap plot``).

One HTML file with plotly.js embedded once (``include_plotlyjs=True`` on the first figure),
so it opens offline. Sections: the 3-D front and its 2-D projections, the hypervolume
history, the roadmap table of the recommended (knee) point, and the per-level MACs and
skip-memory timeline of the seed next to the recommended point.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from roadmap.review import plots
from roadmap.review.select import pick_trial
from roadmap.review.specs import seed_spec_of, spec_of
from roadmap.review.study import StudyReview, load_study_dir, short_transforms
from roadmap.review.summary import ParetoSummary, pareto_summary, table_frame

__all__ = ["build_report", "write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.data { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
table.data th, table.data td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
table.data th { background: #f3f3f3; }
.note { color: #555; font-size: 0.9em; max-width: 70em; }
table.data td.text, table.data th.text { text-align: left; }
"""


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def _frame_html(frame) -> str:
    text_cols = {c for c in frame.columns if c in ("step", "transforms", "reference", "front")}
    cls = {c: ' class="text"' if c in text_cols else "" for c in frame.columns}
    head = "".join(f"<th{cls[c]}>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):
        cells = []
        for col, v in zip(frame.columns, rec):
            text = _fmt(v)
            if str(col).startswith("Δ") and text:
                text = f"{float(v):+.3g}"
            cells.append(f"<td{cls[col]}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _fig_html(fig, first: bool, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=bool(first), div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def build_report(
    review: StudyReview,
    *,
    summary: ParetoSummary | None = None,
    input_hw: tuple[int, int] = (256, 256),
) -> str:
    """The report of ``review`` as one HTML string (plotly.js embedded)."""
    summary = summary or pareto_summary(review)
    knee = pick_trial(review, "knee")
    sections: list[str] = []
    figs: list[tuple[str, Any]] = []

    info = plots.pareto_plot_info(summary, knee=knee.number)
    figs.append(("pareto-3d", plots.plot_pareto_3d(info)))
    figs.append(("pareto-2d", plots.plot_pareto_2d(info)))
    figs.append(("hypervolume", plots.plot_hypervolume(plots.hypervolume_info(summary))))

    roadmap_html = '<p class="note">The recommended trial has no stored spec.</p>'
    level_fig = skip_fig = None
    try:
        spec = spec_of(knee)
    except Exception as exc:  # noqa: BLE001
        spec = None
        roadmap_html = f'<p class="note">Cannot read the recommended spec: {html.escape(str(exc))}</p>'
    seed = seed_spec_of(review, knee) if spec is not None else None
    if spec is not None:
        rows = plots.roadmap_rows(review, knee, input_hw=input_hw)
        roadmap_html = _frame_html(plots.roadmap_frame(rows))
    if spec is not None and seed is not None:
        try:
            level_fig = plots.plot_level_macs(plots.level_macs_info(seed, spec, input_hw=input_hw))
            skip_fig = plots.plot_skip_memory(plots.skip_memory_info(seed, spec, input_hw=input_hw))
        except Exception as exc:  # noqa: BLE001 - keep the rest of the report
            roadmap_html += f'<p class="note">Static analysis failed: {html.escape(str(exc))}</p>'

    parts = [_fig_html(fig, i == 0, div_id) for i, (div_id, fig) in enumerate(figs)]
    ref = summary.reference_point
    title = f"roadmap study {review.directory.name}"
    sections.append(f"<h1>{html.escape(title)}</h1>")
    sections.append(
        f'<p class="note">{len(review.trials)} finished trials, {review.failed} failed (ignored); '
        f"{len(summary.front)} on the Pareto front (maximise PSNR, minimise latency and measured memory). "
        f"Hypervolume {summary.hypervolume:.4f} (fraction of the box between the best value of each objective "
        f"and the reference point PSNR {ref['psnr']:.3f} dB, {ref['latency_ms']:.4g} ms, "
        f"{ref['peak_memory_measured_bytes'] / 2**20:.4g} MB). Recommended point: trial {knee.number} "
        "(the knee: the front point closest to the ideal point once each objective is normalised "
        "to [0, 1] over the front).</p>"
    )
    sections.append("<h2>Pareto front</h2>" + parts[0] + parts[1])
    sections.append("<h2>Pareto table</h2>" + _frame_html(table_frame(summary)))
    sections.append("<h2>Hypervolume</h2>" + parts[2])
    sections.append(
        f"<h2>Roadmap of the recommended point (trial {knee.number})</h2>"
        f'<p class="note">{html.escape(short_transforms(knee.transforms))}. Params, MACs and predicted '
        f"memory are static (analysis at {input_hw[0]}x{input_hw[1]}) for every step; latency, measured "
        "memory and PSNR only where a trial of the study measured that spec (changes are against the "
        "previous measured row).</p>" + roadmap_html
    )
    extra = []
    if level_fig is not None:
        extra.append(_fig_html(level_fig, False, "level-macs"))
    if skip_fig is not None:
        extra.append(_fig_html(skip_fig, False, "skip-memory"))
    if extra:
        sections.append(f"<h2>Seed vs recommended point (trial {knee.number})</h2>" + "".join(extra))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def write_report(study_dir: str | Path, out: str | Path = "report.html", **kwargs: Any) -> Path:
    """Load the study in ``study_dir`` and write its report to ``out``."""
    review = load_study_dir(study_dir)
    text = build_report(review, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
