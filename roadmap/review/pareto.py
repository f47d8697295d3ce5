"""Non-dominated sets, hypervolume and the knee of a three-objective front.

Everything here works on plain numpy arrays of *loss* vectors: an ``(n, k)`` array where
every column is to be minimised (maximised objectives are negated first, see
:func:`to_loss`). The study-specific parts (which columns, which directions) live in
:mod:`roadmap.review.study`.

Optuna already has both building blocks, on the same loss convention:
``optuna.study._multi_objective._is_pareto_front`` and
``optuna._hypervolume.compute_hypervolume`` (exact; WFG / the O(n^2) 3-D algorithm).
They are private modules, so each is imported lazily and a small numpy fallback takes over
if a future Optuna moves them (the tests check both give the same answers).

Hypervolume reference point (:func:`reference_point`)
    Unless the user gives one, the reference point is the *nadir* of the finished trials
    (the worst value of each objective) pushed outwards by ``margin`` (default 10 %) of that
    objective's range (or of its absolute value when all trials tie), so that every trial --
    including the extreme ones of the front -- contributes volume.

Normalised hypervolume (:func:`hypervolume`)
    Objectives have unrelated units (dB, ms, bytes), so the hypervolume is computed after
    mapping each objective linearly so that the *ideal point* (best value of each objective
    over the same trials) is 0 and the reference point is 1. The result is the fraction of
    the ideal..reference box that the front dominates: 0 (nothing) to 1 (a single trial
    that is best in every objective).

Knee (:func:`knee_index`)
    The point of the front closest (Euclidean distance) to the ideal point after
    normalising each objective over the *front* to [0, 1] (0 = best value on the front,
    1 = worst). An objective with no spread on the front is ignored (it is 0 for all
    points). Ties go to the earlier index.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "HypervolumeResult",
    "to_loss",
    "is_non_dominated",
    "non_dominated_indices",
    "reference_point",
    "ideal_point",
    "hypervolume",
    "hypervolume_history",
    "knee_index",
]


class HypervolumeResult(NamedTuple):
    """A normalised hypervolume with the points that define its box (in loss form)."""

    value: float
    reference_point: np.ndarray  # loss form, the "1" of every objective
    ideal_point: np.ndarray  # loss form, the "0" of every objective


def to_loss(values: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """Return ``values`` (n, k) as floats with the maximised columns negated.

    ``None`` and NaN become ``+inf`` (the worst loss), as Optuna does.
    """
    arr = np.array(values, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, len(maximize)) if arr.size else np.empty((0, len(maximize)))
    if arr.shape[1] != len(maximize):
        raise ValueError(f"values have {arr.shape[1]} columns, directions {len(maximize)}")
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    arr = arr * signs
    arr[np.isnan(arr)] = np.inf
    return arr


def _is_non_dominated_numpy(loss: np.ndarray) -> np.ndarray:
    """Plain O(n^2 k) reference implementation (duplicates are all kept)."""
    n = loss.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dominated_by = np.all(loss <= loss[i], axis=1) & np.any(loss < loss[i], axis=1)
        keep[i] = not dominated_by.any()
    return keep


def is_non_dominated(loss: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``loss`` that no other row dominates.

    Row ``a`` dominates ``b`` when ``a <= b`` in every column and ``a < b`` in one.
    Duplicated non-dominated rows are all kept (Optuna's ``best_trials`` does the same).
    """
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    try:
        from optuna.study._multi_objective import _is_pareto_front
    except ImportError:  # pragma: no cover - Optuna moved its private helper
        return _is_non_dominated_numpy(loss)
    # Optuna keeps every copy of a duplicated front point when assume_unique_lexsorted=False.
    return np.asarray(_is_pareto_front(loss, assume_unique_lexsorted=False), dtype=bool)


def non_dominated_indices(loss: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``loss``, in their original order."""
    return np.flatnonzero(is_non_dominated(loss))


def ideal_point(loss: np.ndarray) -> np.ndarray:
    """Best (smallest) loss of each objective."""
    return np.min(np.asarray(loss, dtype=float), axis=0)


def reference_point(loss: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The default hypervolume reference point: nadir + ``margin`` x range (loss form).

    When an objective does not vary, ``margin`` x its absolute value (or ``margin`` when it is
    0) is used instead so the box never has zero width.
    """
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        raise ValueError("reference_point needs at least one point")
    worst = loss.max(axis=0)
    span = worst - loss.min(axis=0)
    span = np.where(span > 0, span, np.where(worst != 0, np.abs(worst), 1.0))
    return worst + margin * span


def _hv_numpy(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by inclusion over a grid of the points' coordinates (small n only)."""
    pts = points[np.all(points < ref, axis=1)]
    if pts.shape[0] == 0:
        return 0.0
    k = pts.shape[1]
    axes = [np.unique(np.concatenate([pts[:, j], [ref[j]]])) for j in range(k)]
    grids = np.meshgrid(*[a[:-1] for a in axes], indexing="ij")
    widths = np.meshgrid(*[np.diff(a) for a in axes], indexing="ij")
    lower = np.stack([g.ravel() for g in grids], axis=1)
    cell = np.prod(np.stack([w.ravel() for w in widths], axis=1), axis=1)
    covered = np.zeros(lower.shape[0], dtype=bool)
    for p in pts:
        covered |= np.all(lower >= p, axis=1)
    return float(cell[covered].sum())


def _raw_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of ``points`` (loss form) against ``ref``; points beyond ``ref`` are ignored."""
    points = points[np.all(points <= ref, axis=1)] if points.size else points
    if points.shape[0] == 0:
        return 0.0
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError:  # pragma: no cover - Optuna moved its private helper
        return _hv_numpy(points, ref)
    return float(compute_hypervolume(points, ref))


def _normaliser(
    loss: np.ndarray, ref: np.ndarray | None, ideal: np.ndarray | None, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ref = reference_point(loss, margin) if ref is None else np.asarray(ref, dtype=float)
    ideal = ideal_point(loss) if ideal is None else np.asarray(ideal, dtype=float)
    scale = ref - ideal
    if np.any(scale <= 0):
        bad = int(np.flatnonzero(scale <= 0)[0])
        raise ValueError(
            f"reference point {ref[bad]:g} of objective {bad} is not worse than the best trial "
            f"({ideal[bad]:g})"
        )
    return ref, ideal, scale


def hypervolume(
    loss: np.ndarray,
    ref: np.ndarray | None = None,
    *,
    ideal: np.ndarray | None = None,
    margin: float = 0.1,
) -> HypervolumeResult:
    """Normalised hypervolume of the points ``loss`` (loss form).

    Args:
        loss: ``(n, k)`` loss vectors (dominated rows may be included; they add nothing).
        ref: reference point in loss form; default :func:`reference_point` (nadir + margin).
        ideal: the point mapped to 0; default the best value of each objective in ``loss``.
        margin: see :func:`reference_point`.

    Returns:
        The dominated fraction of the ``ideal``..``ref`` box, with both points.
    """
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        raise ValueError("hypervolume needs at least one point")
    ref, ideal, scale = _normaliser(loss, ref, ideal, margin)
    value = _raw_hypervolume((loss - ideal) / scale, np.ones(loss.shape[1]))
    return HypervolumeResult(value, ref, ideal)


def hypervolume_history(
    loss: np.ndarray,
    ref: np.ndarray | None = None,
    *,
    ideal: np.ndarray | None = None,
    margin: float = 0.1,
) -> np.ndarray:
    """Normalised hypervolume of the first ``i + 1`` rows for every ``i`` (same box for all).

    The box (reference and ideal points) is the one of the whole ``loss`` array so the curve
    is monotone and ends at :func:`hypervolume` of all rows.
    """
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        return np.zeros(0)
    ref, ideal, scale = _normaliser(loss, ref, ideal, margin)
    norm = (loss - ideal) / scale
    ones = np.ones(loss.shape[1])
    out = np.zeros(loss.shape[0])
    front = np.empty((0, loss.shape[1]))
    value = 0.0
    for i, row in enumerate(norm):
        dominated = front.shape[0] and np.any(np.all(front <= row, axis=1))
        if not dominated and np.all(row <= ones):
            front = np.vstack([front[~np.all(row <= front, axis=1)], row])
            value = _raw_hypervolume(front, ones)
        out[i] = value
    return out


def knee_index(loss: np.ndarray) -> int:
    """Index (into ``loss``) of the knee of the non-dominated rows of ``loss``.

    The knee is the front point closest to the ideal point after normalising each objective
    over the front to [0, 1]; see the module docstring.
    """
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        raise ValueError("knee_index needs at least one point")
    idx = non_dominated_indices(loss)
    front = loss[idx]
    lo, hi = front.min(axis=0), front.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    norm = np.where(hi > lo, (front - lo) / span, 0.0)
    dist = np.sqrt((norm**2).sum(axis=1))
    return int(idx[int(np.argmin(dist))])
