"""The self-contained HTML report of a study (``roadmap plot``).

One HTML file with plotly.js embedded once (``include_plotlyjs=True`` on the first figure),
so it opens offline. Sections: the task and its baseline (the degraded input's PSNR), the
recommendation (the knee's PSNR as mean ± noise band over its runs beside the baseline and its
verdict against the seed, in the words of :func:`recommendation_text`) and the second one (the
fastest trial with no loss against the seed, :func:`no_loss_text`), the 3-D front and its
2-D projections (PSNR error bars: the noise band), the Pareto table, the candidates screened
out at lower rungs and the failed trials, the hypervolume history, the roadmap table of the
recommended (knee) point, and the per-level MACs and skip-memory timeline of the seed next to
the recommended point.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from roadmap.review import plots
from roadmap.review.select import pick_trial
from roadmap.review.specs import seed_spec_of, spec_of
from roadmap.review.study import StudyReview, TrialRecord, load_study_dir, short_transforms
from roadmap.review.summary import ParetoSummary, display_frame, pareto_summary, table_frame

__all__ = ["build_report", "write_report", "recommendation_text", "no_loss_text"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.data { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
table.data th, table.data td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
table.data th { background: #f3f3f3; }
table.data td:not(.text) { white-space: nowrap; }
.note { color: #555; font-size: 0.9em; max-width: 70em; }
.recommendation { font-size: 1em; max-width: 70em; background: #f2f8f2; border-left: 4px solid #2ca02c;
  padding: 0.5em 0.8em; }
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
    text_cols = {c for c in frame.columns if c in ("step", "transforms", "reference", "front", "overall", "reason")}
    cls = {c: ' class="text"' if c in text_cols else "" for c in frame.columns}
    head = "".join(f"<th{cls[c]}>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):
        cells = []
        for col, v in zip(frame.columns, rec, strict=False):
            text = _fmt(v)
            if str(col).startswith("Δ") and text:
                text = f"{float(v):+.3g}"
            cells.append(f"<td{cls[col]}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _fig_html(fig, first: bool, div_id: str) -> str:
    return fig.to_html(
        full_html=False, include_plotlyjs=bool(first), div_id=div_id, config={"displaylogo": False, "responsive": True}
    )


def recommendation_text(review: StudyReview, knee: TrialRecord, summary: ParetoSummary) -> str:
    """The recommendation in plain words: which trial, why, its PSNR as mean ± band over its
    runs (saying so when it rests on one run only) beside the degraded input's, and its verdict
    against the seed."""
    from roadmap.evaluation.tasks import gain_text
    from roadmap.review.summary import psnr_text, rung_text, versus_seed_text

    name = f"trial {knee.number}" + (f" ({knee.reference})" if knee.reference else "")
    gain = gain_text(knee.psnr, knee.input_psnr)
    return (
        f"Recommended point: {name}, the knee of the front (the front point closest to the ideal "
        "point once each objective is normalised to [0, 1] over the front). "
        f"PSNR {psnr_text(knee)} at the top rung ({rung_text(review)}){'; ' + gain if gain else ''}; "
        f"latency {knee.latency_ms:.4g} ms, "
        f"measured memory {knee.memory_mb:.4g} MB. Trial {knee.number} {versus_seed_text(review, knee)}."
    )


def no_loss_text(review: StudyReview) -> str:
    """The second recommendation in words: the fastest trial that ties with or beats the seed in
    PSNR, uses no more memory and is faster, with its verdict against the seed; or why none does."""
    from roadmap.review.summary import psnr_text, versus_seed_text, why_no_loss

    if not review.no_loss:
        return f"Fastest point with no loss against the seed: none ({why_no_loss(review)})."
    t = review.trial(review.no_loss[0])
    name = f"trial {t.number}" + (f" ({t.reference})" if t.reference else "")
    return (
        f"Fastest point with no loss against the seed: {name} (roadmap export --pick fastest-no-loss), the "
        "fastest trial that ties with or beats the seed in PSNR beyond the noise, uses no more memory and is "
        f"faster. PSNR {psnr_text(t)}; latency {t.latency_ms:.4g} ms, measured memory {t.memory_mb:.4g} MB. "
        f"Trial {t.number} {versus_seed_text(review, t)}."
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _overview_html(review: StudyReview, summary: ParetoSummary, knee: TrialRecord) -> str:
    from roadmap.review.summary import baseline_line, noise_line

    ref = summary.reference_point
    assert ref is not None  # the report's summary has a front, so feasible trials and their box
    return (
        f'<p class="note" id="task">{html.escape(_sentence(baseline_line(review)))}.</p>'
        f'<p class="note">{len(review.trials)} finished trials at the top rung, {review.failed} failed '
        f"(ignored), {len(review.screened)} screened out at lower rungs; {len(summary.front)} on the "
        "Pareto front (maximise PSNR, minimise latency and measured memory). "
        f"Hypervolume {summary.hypervolume:.4f} (fraction of the box between the best value of each objective "
        f"and the reference point PSNR {ref['psnr']:.3f} dB, {ref['latency_ms']:.4g} ms, "
        f"{ref['peak_memory_measured_bytes'] / 2**20:.4g} MB).</p>"
        f'<p class="note">{html.escape(_sentence(noise_line(review)))}. PSNR error bars show the '
        "band of each trial's mean.</p>"
        f'<p class="recommendation" id="recommendation">{html.escape(recommendation_text(review, knee, summary))}</p>'
        f'<p class="recommendation" id="fastest-no-loss">{html.escape(no_loss_text(review))}</p>'
    )


def _left_out_html(review: StudyReview, limit: int = 20) -> str:
    """The screened-out count and a short list of the failed trials (number, reason)."""
    import pandas as pd

    screened = len(review.screened)
    parts = [
        f'<p class="note" id="screened-out">Screened out: {screened} candidate{"" if screened == 1 else "s"} '
        "stopped at a lower rung (the search trained them no further), so they are not on the front"
        + (f"; {_unfinished_words(review)} did not finish" if review.unfinished else "")
        + ". <code>roadmap pareto --failed</code> lists each with its reason.</p>"
    ]
    if review.failures:
        rows = sorted(review.failures.items())
        frame = pd.DataFrame.from_records([{"trial": n, "reason": r} for n, r in rows[:limit]])
        shown = f" (the first {limit})" if len(rows) > limit else ""
        parts.append(f'<p class="note">Failed trials: {len(rows)}{shown}.</p>' + _frame_html(frame))
    else:
        parts.append('<p class="note">Failed trials: none.</p>')
    return '<div id="failed-trials">' + "".join(parts) + "</div>"


def _unfinished_words(review: StudyReview) -> str:
    """``12 rejected, 1 interrupted``."""
    from roadmap.review.summary import unfinished_counts

    return ", ".join(f"{n} {kind}" for kind, n in unfinished_counts(review).items())


def _roadmap_parts(review: StudyReview, knee: TrialRecord, input_hw: tuple[int, int]) -> tuple[str, list]:
    """The roadmap table of ``knee`` (HTML) and the seed-vs-knee figures that could be drawn."""
    try:
        spec = spec_of(knee)
    except Exception as exc:  # noqa: BLE001 - keep the rest of the report
        return f'<p class="note">Cannot read the recommended spec: {html.escape(str(exc))}</p>', []
    roadmap_html = _frame_html(plots.roadmap_frame(plots.roadmap_rows(review, knee, input_hw=input_hw)))
    seed = seed_spec_of(review, knee)
    if seed is None:
        return roadmap_html, []
    try:
        return roadmap_html, [
            ("level-macs", plots.plot_level_macs(plots.level_macs_info(seed, spec, input_hw=input_hw))),
            ("skip-memory", plots.plot_skip_memory(plots.skip_memory_info(seed, spec, input_hw=input_hw))),
        ]
    except Exception as exc:  # noqa: BLE001 - keep the rest of the report
        return roadmap_html + f'<p class="note">Static analysis failed: {html.escape(str(exc))}</p>', []


def build_report(
    review: StudyReview,
    *,
    summary: ParetoSummary | None = None,
    input_hw: tuple[int, int] = (256, 256),
) -> str:
    """The report of ``review`` as one HTML string (plotly.js embedded)."""
    summary = summary or pareto_summary(review)
    if not summary.front:
        return _page(f"roadmap study {review.directory.name}", _no_feasible_sections(review, summary))
    knee = pick_trial(review, "knee")
    info = plots.pareto_plot_info(
        summary, knee=knee.number, fastest_no_loss=review.no_loss[0] if review.no_loss else None
    )
    figs = [
        ("pareto-3d", plots.plot_pareto_3d(info)),
        ("pareto-2d", plots.plot_pareto_2d(info)),
        ("hypervolume", plots.plot_hv_history(plots.hypervolume_info(summary))),
    ]
    roadmap_html, extra_figs = _roadmap_parts(review, knee, input_hw)
    parts = [_fig_html(fig, i == 0, div_id) for i, (div_id, fig) in enumerate(figs + extra_figs)]
    title = f"roadmap study {review.directory.name}"
    sections = [
        f"<h1>{html.escape(title)}</h1>" + _overview_html(review, summary, knee),
        "<h2>Pareto front</h2>" + parts[0] + parts[1],
        "<h2>Pareto table</h2>" + _frame_html(display_frame(table_frame(summary), review.input_psnr)),
        "<h2>Screened out and failed</h2>" + _left_out_html(review),
        "<h2>Hypervolume</h2>" + parts[2],
        f"<h2>Roadmap of the recommended point (trial {knee.number})</h2>"
        f'<p class="note">{html.escape(short_transforms(knee.transforms))}. Params, MACs and predicted '
        f"memory are static (analysis at {input_hw[0]}x{input_hw[1]}) for every step; latency, measured "
        "memory and PSNR only where a trial of the study measured that spec (changes are against the "
        "previous measured row).</p>" + roadmap_html,
    ]
    if extra_figs:
        sections.append(f"<h2>Seed vs recommended point (trial {knee.number})</h2>" + "".join(parts[3:]))
    return _page(title, sections)


def _page(title: str, sections: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def _no_feasible_sections(review: StudyReview, summary: ParetoSummary) -> list[str]:
    """A study where every finished trial breaks a limit: why, the table of what finished (each
    marked x) and what was left out; no front, hypervolume or recommendation to show."""
    from roadmap.review.summary import baseline_line, no_feasible_line, noise_line

    why = no_feasible_line(review)
    return [
        f"<h1>{html.escape(f'roadmap study {review.directory.name}')}</h1>"
        f'<p class="note" id="task">{html.escape(_sentence(baseline_line(review)))}.</p>'
        f'<p class="recommendation" id="no-feasible">{html.escape(_sentence(why))}. Nothing is recommended and '
        "there is no Pareto front or hypervolume: loosen the limit and search again, or export a trial by number "
        "(<code>roadmap export --pick trial:N</code>).</p>"
        f'<p class="note">{html.escape(_sentence(noise_line(review)))}.</p>',
        "<h2>Finished trials (x: over a limit)</h2>"
        + _frame_html(display_frame(table_frame(summary), review.input_psnr)),
        "<h2>Screened out and failed</h2>" + _left_out_html(review),
    ]


def write_report(study_dir: str | Path, out: str | Path = "report.html", **kwargs: Any) -> Path:
    """Load the study in ``study_dir`` and write its report to ``out``."""
    review = load_study_dir(study_dir)
    text = build_report(review, **kwargs)
    from roadmap import files

    return files.write_text(out, text, "report")
