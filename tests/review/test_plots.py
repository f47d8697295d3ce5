"""Plot data functions (checked without plotly) and the HTML report."""

from __future__ import annotations

import re

import pytest

from roadmap.review import plots
from roadmap.review.select import pick_trial
from roadmap.review.specs import seed_spec_of, spec_of
from roadmap.review.summary import pareto_summary
from tests.review.review_studies import SIGMA, T2

HW = (64, 64)


@pytest.fixture(scope="module")
def summary(review):
    return pareto_summary(review)


def test_pareto_plot_info(summary):
    info = plots.pareto_plot_info(summary, knee=1)
    assert info.numbers == [0, 1, 2, 3, 4, 6, 8, 9]
    on_front = dict(zip(info.numbers, info.on_front, strict=False))
    assert on_front == {0: True, 1: True, 2: True, 3: True, 4: False, 6: True, 8: True, 9: True}
    assert dict(zip(info.numbers, info.reference, strict=False))[2] == "unet--"
    assert info.memory_mb[0] == pytest.approx(200.0)
    bands = dict(zip(info.numbers, info.psnr_band, strict=False))
    assert bands[0] == pytest.approx(T2 * SIGMA / 2**0.5) and bands[6] == pytest.approx(T2 * SIGMA)
    hover = dict(zip(info.numbers, info.hover, strict=False))
    assert "trial 6" in hover[6] and "pconv(portion=0.25)" in hover[6] and "drop_skips(levels=[0])" in hover[6]
    assert f"PSNR 29.000 ±{T2 * SIGMA:.3f} dB (one run)" in hover[6] and "latency 50 ms" in hover[6]
    assert (
        "mean of 2 runs: 29.540, 29.660" in hover[1]
        and "vs seed: PSNR -0.400 dB (worse), overall trade-off" in hover[1]
    )
    assert "(mofa)" in hover[1] and "none (seed)" in hover[0] and "vs seed" not in hover[0]
    groups = {name: pts["numbers"] for name, pts, _ in plots._groups(info)}
    assert groups == {
        "dominated": [4],
        "Pareto front": [3, 6, 8, 9],
        "reference on the front": [0, 1, 2],
        "reference off the front": [],
        "recommended (knee)": [1],
    }


def test_psnr_error_bars_in_the_projections_with_psnr(summary):
    fig = plots.plot_pareto_2d(plots.pareto_plot_info(summary, knee=1))
    by_axis = {}
    for trace in fig.data:
        if trace.name == "reference on the front":
            by_axis[trace.xaxis] = trace
    for axis, has_psnr in (("x", True), ("x2", True), ("x3", False)):  # latency|memory|latency-memory
        bars = by_axis[axis].error_y
        if has_psnr:
            assert bars.visible and list(bars.array) == pytest.approx(
                [T2 * SIGMA / 2**0.5, T2 * SIGMA / 2**0.5, T2 * SIGMA]
            )  # seed, mofa: 2 runs; unet--: 1
        else:
            assert not bars.visible


def test_hypervolume_info_ends_at_summary_value(summary):
    info = plots.hypervolume_info(summary)
    assert info.numbers == [0, 1, 2, 3, 4, 6, 8, 9]
    assert info.values == sorted(info.values)
    assert info.values[-1] == pytest.approx(summary.hypervolume)
    assert info.values[4] == info.values[3]  # trial 4 is dominated: adds nothing


def test_roadmap_rows_of_the_knee(review):
    knee = pick_trial(review, "trial:6")
    rows = plots.roadmap_rows(review, knee, input_hw=HW)
    assert [r.step for r in rows] == ["seed", "1. pconv(portion=0.25)", "2. drop_skips(levels=[0])"]
    # static metrics everywhere
    assert all(r.params and r.macs and r.predicted_memory_bytes for r in rows)
    assert rows[-1].params == knee.params
    # measured metrics where a trial measured that spec: seed (trial 0), pconv alone (trial 1), final (6)
    assert [r.trial for r in rows] == [0, 1, 6]
    assert rows[0].psnr == 30.0 and rows[1].latency_ms == 55.0 and rows[2].psnr == 29.0
    frame = plots.roadmap_frame(rows)
    assert frame["ΔPSNR dB"].tolist()[1:] == pytest.approx([-0.4, -0.6])
    assert frame["Δlatency %"].tolist()[1] == pytest.approx(-45.0)


def test_roadmap_rows_without_intermediate_measurement(review):
    trial = review.trial(3)  # pconv 0.5: one step, measured
    rows = plots.roadmap_rows(review, trial, input_hw=HW)
    assert [r.trial for r in rows] == [0, 3]


def test_level_macs_and_skip_memory(review):
    trial = review.trial(2)  # drop_skips level 0
    seed, spec = seed_spec_of(review, trial), spec_of(trial)
    info = plots.level_macs_info(seed, spec, input_hw=HW)
    assert info.levels[:4] == ["level 0", "level 1", "level 2", "level 3 (middle)"]
    from roadmap.analysis import analyze

    assert sum(info.seed) == analyze(seed, HW).macs
    assert sum(info.recommended) == analyze(spec, HW).macs
    skip = plots.skip_memory_info(seed, spec, input_hw=HW)
    assert max(skip.recommended_mb) < max(skip.seed_mb)  # level 0's skip is not kept
    assert len(skip.seed_steps) == len(skip.seed_mb)


def test_report_html_is_self_contained(review, summary):
    from roadmap.review.report import build_report

    text = build_report(review, summary=summary, input_hw=HW)
    # plotly.js embedded (once), no external script or stylesheet
    assert len(re.findall(r"\* plotly\.js v\d", text)) == 1
    assert not re.search(r"<script[^>]*\ssrc=", text)
    assert not re.search(r"<link[^>]*\shref=\"https?://", text)
    for div_id in ("pareto-3d", "pareto-2d", "hypervolume", "level-macs", "skip-memory"):
        assert f'id="{div_id}"' in text
    assert "Roadmap of the recommended point (trial 1)" in text
    assert "2 failed (ignored)" in text
    assert "scatter3d" in text
    assert "plot_hypervolume" not in text
