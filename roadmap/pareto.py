"""Non-dominated sets, hypervolume, knee and rung selection: the one Pareto module.

Everything works on *loss* vectors: an ``(n, k)`` array where every column is minimised
(maximised objectives are negated first, :func:`to_loss`). The search (promotions, its
progress line and summary) and the review (``pareto``, ``plot``, ``export``) all call these
functions, so they agree on what the front is.

Duplicates
    Row ``a`` dominates ``b`` when ``a <= b`` in every column and ``a < b`` in one, so two
    identical rows do not dominate each other: every copy of a non-dominated row is on the
    front (Optuna's ``best_trials`` does the same).

Normalised hypervolume (:func:`hypervolume`)
    Objectives have unrelated units (dB, ms, bytes), so each is mapped linearly so that the
    *ideal point* (best value of each objective) is 0 and the reference point is 1; the
    result is the dominated fraction of that box, 0 to 1. The default reference point is the
    nadir (worst value of each objective) pushed out by ``margin`` (10 %) of the range.

Knee (:func:`knee_index`)
    The front point closest (Euclidean) to the ideal point after normalising each objective
    over the *front* to [0, 1]; an objective with no spread on the front is ignored; ties go
    to the earlier index.

Promotion (:func:`select_best`)
    NSGA-II's order: non-dominated sorting into fronts, then the crowding distance inside the
    last front that fits (extreme points first), as MO-ASHA (Schmucker et al., 2021) promotes
    candidates between rungs.
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
    "ideal_point",
    "reference_point",
    "dominated_volume",
    "hypervolume",
    "hypervolume_history",
    "knee_index",
    "knee_order",
    "non_dominated_ranks",
    "crowding_distance",
    "select_best",
]


class HypervolumeResult(NamedTuple):
    """A normalised hypervolume with the points that define its box (in loss form)."""

    value: float
    reference_point: np.ndarray  # loss form, the "1" of every objective
    ideal_point: np.ndarray  # loss form, the "0" of every objective


def to_loss(values: np.ndarray | Sequence[Sequence[float | None]], maximize: Sequence[bool]) -> np.ndarray:
    """``values`` (n, k) as floats with the maximised columns negated; None/NaN become +inf."""
    arr = np.array(values, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, len(maximize)) if arr.size else np.empty((0, len(maximize)))
    if arr.shape[1] != len(maximize):
        raise ValueError(f"values have {arr.shape[1]} columns, directions {len(maximize)}")
    arr = arr * np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    arr[np.isnan(arr)] = np.inf
    return arr


_BLOCK = 128  # rows compared at once: an (earlier rows x block x k) comparison stays a few MB


def _dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[i, j]``: row ``a[i]`` dominates row ``b[j]`` (every pair at once, column by column:
    no ``(len(a), len(b), k)`` temporaries)."""
    le = np.ones((len(a), len(b)), dtype=bool)
    lt = np.zeros((len(a), len(b)), dtype=bool)
    for col in range(a.shape[1]):
        x, y = a[:, col, None], b[None, :, col]
        le &= x <= y
        lt |= x < y
    return le & lt


def _ranks_2d(loss: np.ndarray) -> np.ndarray:
    """Front numbers of two objectives in O(n log n). In lexicographic order only an earlier row
    can dominate a later one; front ``f`` is summed up by its member of least ``(y, x)``, and
    those keys increase with ``f`` (each member of ``f + 1`` has a dominator in ``f``), so a row
    joins the first front whose key is not below its own ``(y, x)`` (a binary search)."""
    import bisect

    order = np.lexsort((loss[:, 1], loss[:, 0]))
    keys: list[tuple[float, float]] = []  # (least y, its x) of each front so far
    ranks = np.empty(loss.shape[0], dtype=int)
    for i in order.tolist():
        key = (float(loss[i, 1]), float(loss[i, 0]))
        # a key below ours: a y below ours, or ours at a smaller x -> that front dominates the row
        f = bisect.bisect_left(keys, key)
        keys[f : f + 1] = [key]
        ranks[i] = f
    return ranks


def _ranks_nd(loss: np.ndarray, front_only: bool) -> np.ndarray:
    """Front numbers of any number of objectives, vectorised: in lexicographic order, block by
    block, a row's front is one more than the highest front among the earlier rows that
    dominate it (NSGA-II's peeling gives the same numbers). ``front_only``: 0 on the front, 1
    elsewhere, comparing each block with the front found so far only (a row dominated by a
    dominated row is dominated by that row's dominator too)."""
    order = np.lexsort(loss.T[::-1])
    rows = loss[order]
    ranks = np.zeros(len(rows), dtype=int)
    for start in range(0, len(rows), _BLOCK):
        block = rows[start : start + _BLOCK]
        # the earlier rows, highest front first: a block row's first dominator has the highest front
        earlier = np.flatnonzero(ranks[:start] == 0) if front_only else np.argsort(-ranks[:start], kind="stable")
        rank = np.zeros(len(block), dtype=int)
        if len(earlier):
            by_earlier = _dominates(rows[earlier], block)
            first = by_earlier.argmax(axis=0)
            rank = np.where(by_earlier[first, np.arange(len(block))], ranks[earlier][first] + 1, 0)
        within = _dominates(block, block)  # only an earlier row of the block can be a dominator
        if front_only:
            rank = (rank > 0) | within.any(axis=0)
        else:
            for j in np.flatnonzero(within.any(axis=0)).tolist():
                rank[j] = max(rank[j], rank[:j][within[:j, j]].max() + 1)
        ranks[start : start + _BLOCK] = rank
    out = np.empty_like(ranks)
    out[order] = ranks
    return out


def _checked(loss: np.ndarray) -> np.ndarray:
    loss = np.asarray(loss, dtype=float)
    if loss.ndim != 2 or np.isnan(loss).any():
        raise ValueError("a non-dominated sort needs an (n, k) array without NaN (to_loss makes a missing value inf)")
    return loss


def is_non_dominated(loss: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``loss`` that no other row dominates (copies all kept):
    front 0 of :func:`non_dominated_ranks`, computed against the front alone."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    loss = _checked(loss)
    ranks = _ranks_2d(loss) if loss.shape[1] == 2 else _ranks_nd(loss, front_only=True)
    front: np.ndarray = ranks == 0
    return front


def non_dominated_indices(loss: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``loss``, in their original order."""
    return np.flatnonzero(is_non_dominated(loss))


def non_dominated_ranks(loss: np.ndarray) -> np.ndarray:
    """Front number of every row: 0 for the non-dominated rows, 1 for those that only rows of
    front 0 dominate, and so on (NSGA-II's non-dominated sorting). Two objectives take
    O(n log n); more, a vectorised O(n^2) comparison in blocks."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        return np.zeros(0, dtype=int)
    loss = _checked(loss)
    return _ranks_2d(loss) if loss.shape[1] == 2 else _ranks_nd(loss, front_only=False)


def crowding_distance(loss: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within ``loss`` (one front): the sum over the
    objectives of the normalised gap between its neighbours; extreme rows get ``inf``."""
    loss = np.asarray(loss, dtype=float)
    n = loss.shape[0]
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for column in loss.T:
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0 and np.isfinite(span):
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def select_best(loss: np.ndarray, count: int) -> list[int]:
    """Indices of the ``count`` best rows: whole fronts in order, the last one cut by
    decreasing crowding distance (ties: lower index first)."""
    loss = np.asarray(loss, dtype=float)
    ranks = non_dominated_ranks(loss) if loss.shape[0] else np.zeros(0, dtype=int)
    chosen: list[int] = []
    for rank in range(int(ranks.max(initial=-1)) + 1):
        members = np.flatnonzero(ranks == rank)
        if len(chosen) + len(members) <= count:
            chosen += members.tolist()
            continue
        crowd = crowding_distance(loss[members])
        order = sorted(range(len(members)), key=lambda i: (-crowd[i], members[i]))
        chosen += [int(members[i]) for i in order[: count - len(chosen)]]
        break
    return chosen


def ideal_point(loss: np.ndarray) -> np.ndarray:
    """Best (smallest) loss of each objective."""
    best: np.ndarray = np.min(np.asarray(loss, dtype=float), axis=0)
    return best


def reference_point(loss: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The default hypervolume reference point: nadir + ``margin`` x range (loss form); where an
    objective does not vary, ``margin`` x its absolute value (or ``margin``) instead."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        raise ValueError("reference_point needs at least one point")
    worst = loss.max(axis=0)
    span = worst - loss.min(axis=0)
    span = np.where(span > 0, span, np.where(worst != 0, np.abs(worst), 1.0))
    point: np.ndarray = worst + margin * span
    return point


def _area_2d(points: np.ndarray, ref: np.ndarray) -> float:
    area, best_y = 0.0, ref[1]
    for x, y in points[np.argsort(points[:, 0], kind="stable")]:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def _volume_by_grid(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume in any dimension by summing the grid cells some point dominates."""
    axes = [np.unique(np.concatenate([points[:, j], [ref[j]]])) for j in range(points.shape[1])]
    lower = np.stack([g.ravel() for g in np.meshgrid(*[a[:-1] for a in axes], indexing="ij")], axis=1)
    cell = np.prod(
        np.stack([w.ravel() for w in np.meshgrid(*[np.diff(a) for a in axes], indexing="ij")], axis=1), axis=1
    )
    covered = np.zeros(lower.shape[0], dtype=bool)
    for p in points:
        covered |= np.all(lower >= p, axis=1)
    return float(cell[covered].sum())


def dominated_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume that ``points`` (loss form) dominate inside the box below ``ref``.

    Two objectives: a sweep; three: slabs along the last axis, each a 2-D sweep; more: a grid.
    Points not strictly better than ``ref`` in every objective add nothing.
    """
    points = np.asarray(points, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    points = points[np.all(np.isfinite(points), axis=1) & np.all(points < ref, axis=1)]
    if points.shape[0] == 0:
        return 0.0
    points = points[is_non_dominated(points)]
    if len(ref) == 1:
        return float(ref[0] - points[:, 0].min())
    if len(ref) == 2:
        return _area_2d(points, ref)
    if len(ref) > 3:
        return _volume_by_grid(points, ref)
    pts = points[np.argsort(points[:, 2], kind="stable")]
    volume = 0.0
    for i in range(len(pts)):
        z_next = pts[i + 1, 2] if i + 1 < len(pts) else ref[2]
        if z_next > pts[i, 2]:
            volume += _area_2d(pts[: i + 1, :2], ref[:2]) * (z_next - pts[i, 2])
    return float(volume)


def _box(
    loss: np.ndarray, ref: np.ndarray | None, ideal: np.ndarray | None, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ref = reference_point(loss, margin) if ref is None else np.asarray(ref, dtype=float)
    ideal = ideal_point(loss) if ideal is None else np.asarray(ideal, dtype=float)
    scale = ref - ideal
    if np.any(scale <= 0):
        bad = int(np.flatnonzero(scale <= 0)[0])
        raise ValueError(
            f"reference point {ref[bad]:g} of objective {bad} is not worse than the best trial ({ideal[bad]:g})"
        )
    return ref, ideal, scale


def hypervolume(
    loss: np.ndarray, ref: np.ndarray | None = None, *, ideal: np.ndarray | None = None, margin: float = 0.1
) -> HypervolumeResult:
    """Normalised hypervolume of ``loss`` (n, k): the dominated fraction of the ideal..ref box."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        raise ValueError("hypervolume needs at least one point")
    ref, ideal, scale = _box(loss, ref, ideal, margin)
    return HypervolumeResult(dominated_volume((loss - ideal) / scale, np.ones(loss.shape[1])), ref, ideal)


def hypervolume_history(
    loss: np.ndarray, ref: np.ndarray | None = None, *, ideal: np.ndarray | None = None, margin: float = 0.1
) -> np.ndarray:
    """Normalised hypervolume of the first ``i + 1`` rows for every ``i``, all in the box of the
    whole array, so the curve is monotone and ends at :func:`hypervolume` of all rows."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        return np.zeros(0)
    ref, ideal, scale = _box(loss, ref, ideal, margin)
    norm = (loss - ideal) / scale
    ones = np.ones(loss.shape[1])
    return np.array([dominated_volume(norm[: i + 1], ones) for i in range(len(norm))])


def knee_order(loss: np.ndarray) -> list[int]:
    """Indices (into ``loss``) of the non-dominated rows, nearest the ideal point first, each
    objective scaled to the front's range: the knee, then the runners-up."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape[0] == 0:
        raise ValueError("knee_order needs at least one point")
    idx = non_dominated_indices(loss)
    front = loss[idx]
    lo, hi = front.min(axis=0), front.max(axis=0)
    norm = np.where(hi > lo, (front - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    return [int(idx[i]) for i in np.argsort(np.sqrt((norm**2).sum(axis=1)), kind="stable")]


def knee_index(loss: np.ndarray) -> int:
    """Index (into ``loss``) of the knee of the non-dominated rows of ``loss``."""
    return knee_order(loss)[0]
