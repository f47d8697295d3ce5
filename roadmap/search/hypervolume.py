"""The hypervolume the search reports while it runs (progress line, benchmark).

Objectives are put in *loss* form relative to an anchor trial (the unmodified seed when it
finished, else the first finished trial), so that the figure means the same thing from the
first trial on and across studies of the same seed:

* quality loss ``(psnr_anchor - psnr) / (psnr_anchor - noisy_psnr_anchor)``: 0 at the
  anchor's PSNR, 1 at the PSNR of the noisy input (a network that does nothing);
* ``latency / latency_anchor`` and ``memory / memory_anchor``.

The reference point is ``(1, 2, 2)``: anything better than the noisy input that is at most
twice as slow and twice as memory-hungry as the anchor adds volume. The anchor alone has a
hypervolume of exactly 1, so "HV 1.8" reads as "the front dominates 1.8 times the volume the
seed dominates". (``roadmap pareto`` reports its own, data-normalised figure.)
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = ["REFERENCE_POINT", "Anchor", "relative_loss", "hypervolume", "pareto_mask", "study_hypervolume"]

REFERENCE_POINT = np.array([1.0, 2.0, 2.0])


class Anchor:
    """The values the relative losses are measured against."""

    def __init__(self, psnr: float, noisy_psnr: float | None, latency_ms: float, memory_bytes: float):
        self.psnr = float(psnr)
        gap = self.psnr - float(noisy_psnr) if noisy_psnr is not None else float("nan")
        self.gap = gap if np.isfinite(gap) and gap > 0.1 else max(abs(self.psnr) * 0.1, 1.0)
        self.latency = max(float(latency_ms), 1e-9)
        self.memory = max(float(memory_bytes), 1.0)

    @classmethod
    def from_metrics(cls, m: dict) -> "Anchor":
        return cls(m["psnr"], m.get("noisy_psnr"), m["latency_ms"], m["peak_memory_measured_bytes"])


def relative_loss(values: Iterable[Sequence[float]], anchor: Anchor) -> np.ndarray:
    """``(n, 3)`` loss vectors of ``[psnr, latency_ms, memory_bytes]`` rows."""
    rows = [
        ((anchor.psnr - p) / anchor.gap, lat / anchor.latency, mem / anchor.memory)
        for p, lat, mem in values
    ]
    return np.asarray(rows, dtype=float).reshape(-1, 3)


def pareto_mask(loss: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows (all columns minimised)."""
    loss = np.asarray(loss, dtype=float)
    n = loss.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated_by = np.all(loss <= loss[i], axis=1) & np.any(loss < loss[i], axis=1)
        if dominated_by.any():
            keep[i] = False
    # identical rows: keep the first only
    _, first = np.unique(loss, axis=0, return_index=True)
    unique = np.zeros(n, dtype=bool)
    unique[first] = True
    return keep & unique


def _hv2d(points: np.ndarray, ref: np.ndarray) -> float:
    pts = points[np.argsort(points[:, 0])]
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def hypervolume(loss: np.ndarray, ref: np.ndarray = REFERENCE_POINT) -> float:
    """Exact hypervolume of 2-D or 3-D loss vectors against ``ref`` (rows beyond it ignored)."""
    loss = np.asarray(loss, dtype=float).reshape(-1, len(ref))
    loss = loss[np.all(np.isfinite(loss), axis=1) & np.all(loss < ref, axis=1)]
    if loss.shape[0] == 0:
        return 0.0
    loss = loss[pareto_mask(loss)]
    if len(ref) == 2:
        return _hv2d(loss, ref)
    if len(ref) != 3:  # pragma: no cover - the search has three objectives
        raise ValueError("hypervolume: 2 or 3 objectives only")
    # sweep along the last axis: slabs between consecutive z values
    order = np.argsort(loss[:, 2])
    pts = loss[order]
    volume = 0.0
    for i in range(len(pts)):
        z_next = pts[i + 1, 2] if i + 1 < len(pts) else ref[2]
        if z_next > pts[i, 2]:
            volume += _hv2d(pts[: i + 1, :2], ref[:2]) * (z_next - pts[i, 2])
    return float(volume)


def study_hypervolume(rows: list[dict], anchor: Anchor | None = None) -> tuple[float, int]:
    """(hypervolume, front size) of finished-trial metric dicts (keys psnr, latency_ms,
    peak_memory_measured_bytes; ``reference: "seed"`` marks the default anchor)."""
    if not rows:
        return 0.0, 0
    if anchor is None:
        seed = [r for r in rows if r.get("reference") == "seed"]
        anchor = Anchor.from_metrics((seed or rows)[0])
    loss = relative_loss([(r["psnr"], r["latency_ms"], r["peak_memory_measured_bytes"]) for r in rows], anchor)
    return hypervolume(loss), int(pareto_mask(loss).sum())
