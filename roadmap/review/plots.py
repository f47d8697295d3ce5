"""Plots of a study, each split in a pure data function and a drawing function.

``*_info(...)`` functions return NamedTuples of plain lists that tests check without plotly;
``plot_*(info)`` functions only draw (plotly is imported when called, as Optuna does).
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from roadmap import pareto
from roadmap.addresses import parse_stage
from roadmap.review.study import StudyReview, TrialRecord, short_transforms
from roadmap.review.summary import ParetoSummary

__all__ = [
    "ParetoPlotInfo",
    "HypervolumeInfo",
    "RoadmapRow",
    "LevelMacsInfo",
    "SkipMemoryInfo",
    "pareto_plot_info",
    "hypervolume_info",
    "roadmap_rows",
    "level_macs_info",
    "skip_memory_info",
    "plot_pareto_3d",
    "plot_pareto_2d",
    "plot_hv_history",
    "plot_level_macs",
    "plot_skip_memory",
]

MB = 2**20
# colours of the three kinds of points (plotly's default palette)
_C_DOMINATED = "rgba(140,140,140,0.55)"
_C_FRONT = "#1f77b4"
_C_REF = "#d62728"
_C_KNEE = "#2ca02c"
_C_NO_LOSS = "#ff7f0e"


def _fmt_int(x: int | float | None) -> str:
    if x is None:
        return "-"
    x = float(x)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def _psnr_hover(t: TrialRecord) -> str:
    band = "" if t.psnr_band is None else f" ±{t.psnr_band:.3f}"
    runs = t.psnr_runs
    detail = f" (mean of {len(runs)} runs: {', '.join(f'{r:.3f}' for r in runs)})" if len(runs) > 1 else " (one run)"
    return f"PSNR {t.psnr:.3f}{band} dB{detail}" + (f", SSIM {t.ssim:.4f}" if t.ssim is not None else "")


def _versus_hover(t: TrialRecord) -> str | None:
    v = t.versus_seed
    if not v or t.reference == "seed":
        return None
    psnr = v["psnr"]
    return f"vs seed: PSNR {psnr['delta']:+.3f} dB ({psnr['verdict']}), overall {v['overall']}"


def hover_text(t: TrialRecord) -> str:
    """The hover label of a trial: number, reference, PSNR with its band and runs beside the
    degraded input's, the verdict against the seed, the other metrics and the transformation
    list."""
    from roadmap.evaluation.tasks import gain_text

    head = f"<b>trial {t.number}</b>" + (f" ({t.reference})" if t.reference else "")
    gain = gain_text(t.psnr, t.input_psnr, 3)
    lines = [
        head,
        _psnr_hover(t),
        *([gain] if gain else []),
        f"latency {t.latency_ms:.3g} ms",
        f"memory {t.memory_mb:.3g} MB measured"
        + (
            f", {t.peak_memory_predicted_bytes / MB:.3g} MB predicted"
            if t.peak_memory_predicted_bytes is not None
            else ""
        ),
        f"params {_fmt_int(t.params)}, MACs {_fmt_int(t.macs)}",
    ]
    versus = _versus_hover(t)
    lines += ([versus] if versus else []) + ["transforms:"]
    if t.transforms:
        lines += [f"&nbsp;&nbsp;{i + 1}. {short_transforms([s])}" for i, s in enumerate(t.transforms)]
    else:
        lines.append("&nbsp;&nbsp;none (seed)")
    return "<br>".join(lines)


# --------------------------------------------------------------------------- Pareto front


class ParetoPlotInfo(NamedTuple):
    numbers: list[int]
    psnr: list[float]
    psnr_band: list[float | None]  # half-width of the 95 % band of each mean PSNR
    latency_ms: list[float]
    memory_mb: list[float]
    on_front: list[bool]
    reference: list[str | None]
    hover: list[str]
    knee: int | None  # trial number of the recommended point
    fastest_no_loss: int | None = None  # the fastest trial that loses nothing against the seed


def pareto_plot_info(
    summary: ParetoSummary, knee: int | None = None, fastest_no_loss: int | None = None
) -> ParetoPlotInfo:
    """All finished trials (PSNR with its noise band), which are on the front, which are
    references, and the two recommended ones (the knee; the fastest point with no loss)."""
    trials = summary.review.trials
    front = set(summary.front)
    return ParetoPlotInfo(
        numbers=[t.number for t in trials],
        psnr=[t.psnr for t in trials],
        psnr_band=[t.psnr_band for t in trials],
        latency_ms=[t.latency_ms for t in trials],
        memory_mb=[t.memory_mb for t in trials],
        on_front=[t.number in front for t in trials],
        reference=[t.reference for t in trials],
        hover=[hover_text(t) for t in trials],
        knee=knee,
        fastest_no_loss=fastest_no_loss,
    )


def _subset(info: ParetoPlotInfo, keep: list[bool]) -> dict[str, list[Any]]:
    cols = ("numbers", "psnr", "psnr_band", "latency_ms", "memory_mb", "reference", "hover")
    return {c: [v for v, k in zip(getattr(info, c), keep, strict=False) if k] for c in cols}


REFERENCE_GROUPS = ("reference on the front", "reference off the front")
NO_LOSS_GROUP = "fastest with no loss vs seed"


def _groups(info: ParetoPlotInfo) -> list[tuple[str, dict[str, list[Any]], dict[str, Any]]]:
    """(legend name, points, marker style) of dominated, front, references on and off the
    front (filled vs open diamonds), the knee (a green ring) and the fastest point with no loss
    against the seed (an orange open square)."""
    is_ref = [r is not None for r in info.reference]
    groups = [
        (
            "dominated",
            _subset(info, [not f and not r for f, r in zip(info.on_front, is_ref, strict=False)]),
            {"color": _C_DOMINATED, "size": 6, "symbol": "circle"},
        ),
        (
            "Pareto front",
            _subset(info, [f and not r for f, r in zip(info.on_front, is_ref, strict=False)]),
            {"color": _C_FRONT, "size": 9, "symbol": "circle"},
        ),
        (
            REFERENCE_GROUPS[0],
            _subset(info, [f and r for f, r in zip(info.on_front, is_ref, strict=False)]),
            {"color": _C_REF, "size": 11, "symbol": "diamond", "line": {"width": 2, "color": _C_FRONT}},
        ),
        (
            REFERENCE_GROUPS[1],
            _subset(info, [not f and r for f, r in zip(info.on_front, is_ref, strict=False)]),
            {"color": _C_REF, "size": 10, "symbol": "diamond-open", "line": {"width": 2, "color": _C_REF}},
        ),
    ]
    if info.knee is not None:
        groups.append(
            (
                "recommended (knee)",
                _subset(info, [n == info.knee for n in info.numbers]),
                {"color": _C_KNEE, "size": 14, "symbol": "circle-open", "line": {"width": 3, "color": _C_KNEE}},
            )
        )
    if info.fastest_no_loss is not None:
        groups.append(
            (
                NO_LOSS_GROUP,
                _subset(info, [n == info.fastest_no_loss for n in info.numbers]),
                {"color": _C_NO_LOSS, "size": 16, "symbol": "square-open", "line": {"width": 3, "color": _C_NO_LOSS}},
            )
        )
    return groups


def plot_pareto_3d(info: ParetoPlotInfo):
    """3-D scatter: latency x memory x PSNR, front highlighted, references labelled."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, pts, marker in _groups(info):
        is_ref = name in REFERENCE_GROUPS
        marker = dict(marker)
        if marker.get("symbol") in ("circle-open", "square-open"):  # the recommendations' rings, 3-D sized
            marker = {"color": marker["color"], "size": 9, "symbol": marker["symbol"]}
        fig.add_trace(
            go.Scatter3d(
                x=pts["latency_ms"],
                y=pts["memory_mb"],
                z=pts["psnr"],
                name=name,
                mode="markers+text" if is_ref else "markers",
                text=pts["reference"] if is_ref else None,
                textposition="middle right",
                marker=marker,
                hovertext=pts["hover"],
                hoverinfo="text",
            )
        )
    # The scene sits inside its own box (domain), below a horizontal legend, so no part of it
    # is cut off; labels sit to the right of their marker, where the knee's ring cannot hide them.
    fig.update_layout(
        title={"text": "Pareto front (3-D): all finished trials"},
        scene={
            "xaxis": {"title": {"text": "latency (ms)"}},
            "yaxis": {"title": {"text": "measured memory (MB)"}},
            "zaxis": {"title": {"text": "PSNR (dB)"}},
            "domain": {"x": [0.0, 1.0], "y": [0.0, 0.9]},
            "aspectmode": "cube",
            # further out and lower than plotly's default eye (1.25, 1.25, 1.25): the whole
            # cube, tick labels and axis titles included, fits the scene's box
            "camera": {"eye": {"x": 1.7, "y": 1.7, "z": 0.95}},
        },
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"},
        height=680,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
    )
    return fig


PROJECTIONS = (("latency_ms", "psnr"), ("memory_mb", "psnr"), ("latency_ms", "memory_mb"))
_AXIS_TITLES = {"latency_ms": "latency (ms)", "memory_mb": "measured memory (MB)", "psnr": "PSNR (dB)"}


def _psnr_error_bars(bands: list[float | None]) -> dict[str, Any]:
    """Plotly ``error_y`` of the PSNR noise bands (hidden when the study has no noise estimate)."""
    return {
        "type": "data",
        "array": [b or 0.0 for b in bands],
        "visible": any(b for b in bands),
        "thickness": 1,
        "width": 3,
    }


def _label_sides(xs: list[float], all_xs: list[float]) -> list[str]:
    """A label to the right of its marker, or to the left in the right quarter of the axis
    (where it would run off the plot)."""
    finite = [x for x in all_xs if x is not None and math.isfinite(x)]
    if not finite:
        return ["middle right"] * len(xs)
    lo, hi = min(finite), max(finite)
    edge = hi - 0.25 * (hi - lo)
    return ["middle left" if x is not None and hi > lo and x > edge else "middle right" for x in xs]


def plot_pareto_2d(info: ParetoPlotInfo):
    """The three 2-D projections of the front side by side; PSNR with its noise band as an
    error bar where PSNR is an axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[f"{_AXIS_TITLES[y]} vs {_AXIS_TITLES[x]}" for x, y in PROJECTIONS],
        horizontal_spacing=0.07,
    )
    for col, (xk, yk) in enumerate(PROJECTIONS, start=1):
        for name, pts, marker in _groups(info):
            is_ref = name in REFERENCE_GROUPS
            fig.add_trace(
                go.Scatter(
                    x=pts[xk],
                    y=pts[yk],
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    mode="markers+text" if is_ref else "markers",
                    text=pts["reference"] if is_ref else None,
                    textposition=_label_sides(pts[xk], getattr(info, xk)) if is_ref else None,
                    marker=marker,
                    hovertext=pts["hover"],
                    hoverinfo="text",
                    error_y=_psnr_error_bars(pts["psnr_band"]) if yk == "psnr" else None,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title={"text": _AXIS_TITLES[xk]}, row=1, col=col)
        fig.update_yaxes(title={"text": _AXIS_TITLES[yk]}, row=1, col=col)
    fig.update_layout(title={"text": "Pareto front: 2-D projections"}, height=480)
    return fig


# --------------------------------------------------------------------------- hypervolume


class HypervolumeInfo(NamedTuple):
    numbers: list[int]
    values: list[float]
    reference_point: dict[str, float]


def hypervolume_info(summary: ParetoSummary) -> HypervolumeInfo:
    """Normalised hypervolume of the feasible trials finished up to each trial number.

    Uses the same trials and box (reference and ideal points) as ``summary`` so the last value
    equals ``summary.hypervolume``.
    """
    import numpy as np

    from roadmap.pareto import to_loss
    from roadmap.review.study import MAXIMIZE, OBJECTIVES

    trials = summary.review.feasible()
    reference_point, ideal_point = summary.reference_point, summary.ideal_point
    # a summary with feasible trials has its box (the report draws this only for one with a front)
    assert reference_point is not None and ideal_point is not None, "no feasible trial: no hypervolume"
    signs = np.where(np.asarray(MAXIMIZE), -1.0, 1.0)
    ref = np.array([reference_point[o] for o in OBJECTIVES]) * signs
    ideal = np.array([ideal_point[o] for o in OBJECTIVES]) * signs
    loss = to_loss([t.values for t in trials], MAXIMIZE)
    values = pareto.hypervolume_history(loss, ref, ideal=ideal)
    return HypervolumeInfo([t.number for t in trials], [float(v) for v in values], reference_point)


def plot_hv_history(info: HypervolumeInfo):
    """Line chart of the normalised hypervolume after each trial (:func:`hypervolume_info`)."""
    import plotly.graph_objects as go

    ref = info.reference_point
    fig = go.Figure(
        go.Scatter(x=info.numbers, y=info.values, mode="lines+markers", line={"shape": "hv"}, name="hypervolume")
    )
    fig.update_layout(
        title={
            "text": (
                "Hypervolume (normalised) vs trial number; reference point: "
                f"PSNR {ref['psnr']:.3f} dB, {ref['latency_ms']:.3g} ms, "
                f"{ref['peak_memory_measured_bytes'] / MB:.3g} MB"
            )
        },
        xaxis={"title": {"text": "trial number"}},
        yaxis={"title": {"text": "hypervolume (fraction of the box)"}, "rangemode": "tozero"},
        height=400,
    )
    return fig


# --------------------------------------------------------------------------- roadmap table


class RoadmapRow(NamedTuple):
    """One row of the roadmap table: the spec after ``step`` (row 0 is the seed)."""

    step: str
    params: int | None
    macs: int | None
    predicted_memory_bytes: int | None  # predicted for the study's device (analysis), as trials store it
    measured_memory_bytes: float | None  # measured, only where a trial measured this spec
    latency_ms: float | None
    psnr: float | None
    trial: int | None  # the trial whose measurement is shown


def _steps_key(steps: list[dict[str, Any]]) -> str:
    return json.dumps(steps or [], sort_keys=True, default=str)


def roadmap_rows(
    review: StudyReview, trial: TrialRecord, *, input_hw: tuple[int, int] = (256, 256)
) -> list[RoadmapRow]:
    """The roadmap of ``trial``: the seed, then the spec after each of its transformations.

    Static metrics (params, MACs, predicted memory) come from ``roadmap.analysis.analyze``
    for an output of ``input_hw`` (a super-resolution spec runs at its low-resolution input).
    Measured ones (latency, measured memory, PSNR) are shown only for the specs some finished
    trial of the study measured (the seed reference trial, the trial itself, or a trial whose
    transformation list is that prefix).
    """
    from roadmap.review.specs import seed_spec_of, spec_after_steps, spec_of

    measured: dict[str, TrialRecord] = {}
    for t in review.trials:
        measured.setdefault(_steps_key(t.transforms), t)
    seed_trial = review.reference("seed")
    if seed_trial is not None:
        measured.setdefault(_steps_key([]), seed_trial)
    measured[_steps_key(trial.transforms)] = trial

    seed = seed_spec_of(review, trial)
    steps = list(trial.transforms)
    # The prediction for the device the study measured on, as the trials store it (on the CPU:
    # tensor lifetimes plus PyTorch's conv workspaces), so measured and predicted compare.
    predicted_key = (
        "peak_memory_cpu_bytes"
        if str(review.settings.get("device", "cpu")).startswith("cpu")
        else "peak_activation_bytes"
    )
    rows = []
    for k in range(len(steps) + 1):
        if k == len(steps):
            spec = spec_of(trial)
        elif seed is not None:
            spec = spec_after_steps(seed, steps[:k])
        else:
            spec = None
        label = "seed" if k == 0 else f"{k}. {short_transforms([steps[k - 1]])}"
        stat = _static(spec, input_hw)
        m = measured.get(_steps_key(steps[:k]))
        rows.append(
            RoadmapRow(
                step=label,
                params=stat.get("params"),
                macs=stat.get("macs"),
                predicted_memory_bytes=stat.get(predicted_key),
                measured_memory_bytes=None if m is None else m.peak_memory_measured_bytes,
                latency_ms=None if m is None else m.latency_ms,
                psnr=None if m is None else m.psnr,
                trial=None if m is None else m.number,
            )
        )
    return rows


_ANALYSIS_CACHE: dict[tuple[str, tuple[int, int]], Any] = {}


def analyze_cached(spec: Any, input_hw: tuple[int, int]):
    """``roadmap.analysis.analyze`` memoised on the spec (provenance ignored) and image size
    (``analyze``'s: the output size)."""
    import dataclasses

    from roadmap.analysis import analyze

    h, w = input_hw  # a list (JSON) too
    key = (dataclasses.replace(spec, provenance={}).to_yaml(), (h, w))
    if key not in _ANALYSIS_CACHE:
        if len(_ANALYSIS_CACHE) > 64:
            _ANALYSIS_CACHE.clear()
        _ANALYSIS_CACHE[key] = analyze(spec, (h, w))
    return _ANALYSIS_CACHE[key]


def _static(spec: Any, input_hw: tuple[int, int]) -> dict[str, Any]:
    if spec is None:
        return {}
    try:
        a = analyze_cached(spec, input_hw)
    except Exception:  # noqa: BLE001 - a row without static metrics beats no report
        return {}
    return {
        "params": int(a.params),
        "macs": int(a.macs),
        "peak_activation_bytes": int(a.peak_activation_bytes),
        "peak_memory_cpu_bytes": int(a.peak_memory_cpu_bytes),
    }


def roadmap_frame(rows: list[RoadmapRow]):
    """The roadmap table as a DataFrame with a change column after each metric."""
    import pandas as pd

    def delta(cur, prev, rel=True):
        if cur is None or prev is None:
            return None
        if rel and prev:
            return 100.0 * (cur - prev) / prev
        return cur - prev

    records = []
    prev: RoadmapRow | None = None
    for r in rows:
        records.append(
            {
                "step": r.step,
                "params": _fmt_int(r.params),
                "Δparams %": delta(r.params, prev.params if prev else None),
                "MACs": _fmt_int(r.macs),
                "ΔMACs %": delta(r.macs, prev.macs if prev else None),
                "predicted memory MB (this device, with conv workspaces)": None
                if r.predicted_memory_bytes is None
                else r.predicted_memory_bytes / MB,
                "Δpredicted memory %": delta(r.predicted_memory_bytes, prev.predicted_memory_bytes if prev else None),
                "meas. memory MB": None if r.measured_memory_bytes is None else r.measured_memory_bytes / MB,
                "latency ms": r.latency_ms,
                "PSNR dB": r.psnr,
                "trial": r.trial,
            }
        )
        prev = r
    # measured changes are relative to the last row that measured them
    frame = pd.DataFrame.from_records(records)
    for col, dcol, rel in (
        ("latency ms", "Δlatency %", True),
        ("PSNR dB", "ΔPSNR dB", False),
        ("meas. memory MB", "Δmeas. memory %", True),
    ):
        last = None
        out = []
        for v in frame[col]:
            ok = v is not None and v == v
            out.append(delta(v, last, rel) if ok else None)
            if ok:
                last = v
        frame.insert(list(frame.columns).index(col) + 1, dcol, out)
    frame["trial"] = frame["trial"].astype("Int64")
    return frame


# --------------------------------------------------------------------------- per-level MACs


class LevelMacsInfo(NamedTuple):
    levels: list[str]  # "level 0", ..., "middle", "other"
    seed: list[int]
    recommended: list[int]


def _level_of(address: str, n_levels: int) -> str:
    """The level an analysis stage belongs to (see :func:`level_macs_info`)."""
    stage = parse_stage(address)
    if stage is None:
        return "other"
    kind = stage.kind
    if kind == "middle":
        return f"level {n_levels} (middle)"
    if kind in ("encoder", "decoder", "down", "up", "skips"):
        return f"level {stage.index}"
    if kind in ("stem", "head"):
        return "level 0"
    return "other"  # the aggregation (msiam, iem[i])


def _macs_by_level(spec: Any, input_hw: tuple[int, int]) -> dict[str, int]:
    a = analyze_cached(spec, input_hw)
    n_levels = len(spec.encoder)
    out: dict[str, int] = {}
    for address, macs in a.stages.items():
        key = _level_of(address, n_levels)
        out[key] = out.get(key, 0) + int(macs)
    return out


def _level_sort_key(name: str) -> tuple[int, int]:
    if name.startswith("level "):
        return (0, int(name.split()[1]))
    return (1, 0)


def level_macs_info(seed_spec: Any, spec: Any, *, input_hw: tuple[int, int] = (256, 256)) -> LevelMacsInfo:
    """MACs per U-Net level (encoder, sampler, fusion and decoder of a level together; stem
    and head count to level 0; MSIAM/IEM aggregation is ``other``) of the seed and ``spec``."""
    a = _macs_by_level(seed_spec, input_hw)
    b = _macs_by_level(spec, input_hw)
    levels = sorted(set(a) | set(b), key=_level_sort_key)
    return LevelMacsInfo(levels, [a.get(k, 0) for k in levels], [b.get(k, 0) for k in levels])


def plot_level_macs(info: LevelMacsInfo, *, labels: tuple[str, str] = ("seed", "recommended")):
    """Grouped bars of the MACs per level of the seed and the recommended point."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, vals, colour in ((labels[0], info.seed, _C_DOMINATED), (labels[1], info.recommended, _C_KNEE)):
        total = sum(vals) or 1
        fig.add_trace(
            go.Bar(
                x=info.levels,
                y=[v / 1e6 for v in vals],
                name=name,
                marker={"color": colour},
                text=[f"{100 * v / total:.0f}%" for v in vals],
                textposition="outside",
                hovertemplate="%{x}: %{y:.4g} M MACs<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": "MACs per level (share of the network's total above each bar)"},
        barmode="group",
        yaxis={"title": {"text": "MMACs"}},
        height=420,
    )
    return fig


# --------------------------------------------------------------------------- skip memory


class SkipMemoryInfo(NamedTuple):
    seed_steps: list[str]
    seed_mb: list[float]
    recommended_steps: list[str]
    recommended_mb: list[float]


def _timeline(spec: Any, input_hw: tuple[int, int]) -> tuple[list[str], list[float]]:
    a = analyze_cached(spec, input_hw)
    steps, mb = [], []
    for i, item in enumerate(a.skip_memory_timeline):
        label, elements = _timeline_item(item, i)
        steps.append(label)
        mb.append(4.0 * float(elements) / MB)  # float32
    return steps, mb


def _timeline_item(item: Any, i: int) -> tuple[str, float]:
    if isinstance(item, dict):
        label = item.get("address") or item.get("stage") or item.get("step") or str(i)
        elements = next((item[k] for k in ("elements", "skip_elements", "value") if k in item), 0)
        return str(label), float(elements)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return str(item[0]), float(item[1])
    return str(i), float(item)


def skip_memory_info(seed_spec: Any, spec: Any, *, input_hw: tuple[int, int] = (256, 256)) -> SkipMemoryInfo:
    """Memory held by the kept skip connections (float32) after each stage of the forward
    pass, for the seed and ``spec`` (UNet-- Fig. 1b)."""
    s_steps, s_mb = _timeline(seed_spec, input_hw)
    r_steps, r_mb = _timeline(spec, input_hw)
    return SkipMemoryInfo(s_steps, s_mb, r_steps, r_mb)


def plot_skip_memory(info: SkipMemoryInfo, *, labels: tuple[str, str] = ("seed", "recommended")):
    """Step lines of the skip-connection memory held after each stage, seed and recommended."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, steps, mb, colour, dash in (
        (labels[0], info.seed_steps, info.seed_mb, _C_DOMINATED, "solid"),
        (labels[1], info.recommended_steps, info.recommended_mb, _C_KNEE, "dash"),
    ):
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=mb,
                name=name,
                mode="lines+markers",
                line={"shape": "hv", "color": colour, "dash": dash},
                hovertemplate="after %{x}: %{y:.4g} MB<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": "Skip-connection memory held during the forward pass (float32)"},
        xaxis={"title": {"text": "after stage (execution order)"}, "type": "category"},
        yaxis={"title": {"text": "MB held by skips"}, "rangemode": "tozero"},
        height=420,
    )
    return fig
