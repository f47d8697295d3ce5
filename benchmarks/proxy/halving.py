"""Successive halving replayed on the benchmark's rung runs: which candidates a scheme carries
to the top rung, what it costs, and what it loses.

Every candidate was trained through all rungs once (150, 450, 1350 iterations, continuing), so
any promotion rule can be replayed offline: a scheme is the list of rungs it evaluates at, its
reduction factor ``eta`` and how it ranks a rung (PSNR alone, or non-dominated sorting on PSNR,
MACs and predicted memory with crowding distance, as ``roadmap search`` does). The reference
points (seed, mofa, unet--) are always promoted, as in the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from roadmap import pareto

REFERENCE_POINTS = ("seed", "mofa", "unet--")


SCREEN = 3  # the column of the inherited screen (150 iterations from the trained seed)


@dataclass(frozen=True)
class Scheme:
    """``rungs``: columns of the PSNR matrix a candidate passes (0, 1, 2: the from-scratch chain
    at 150 / 450 / 1350 iterations, continuing; `SCREEN`: inherited weights + 150 iterations,
    after which a promoted candidate trains the whole chain from scratch)."""

    rungs: tuple[int, ...]
    eta: int
    multi_objective: bool

    @property
    def name(self) -> str:
        its = "/".join("inherit+150" if r == SCREEN else str((150, 450, 1350)[r]) for r in self.rungs)
        return f"{its}, eta {self.eta}, {'PSNR+MACs+memory' if self.multi_objective else 'PSNR only'}"

    def cost(self, cpu: np.ndarray, reached: int) -> float:
        """CPU seconds a candidate spends when its last rung is ``reached`` (a column)."""
        if self.rungs[0] == SCREEN:
            return float(cpu[SCREEN] + (cpu[:3].sum() if reached != SCREEN else 0.0))
        return float(cpu[: reached + 1].sum())


def _promote(scheme: Scheme, idx: np.ndarray, psnr: np.ndarray, cost_axes: np.ndarray) -> np.ndarray:
    count = math.ceil(len(idx) / scheme.eta)
    if not scheme.multi_objective:
        return idx[np.argsort(-psnr[idx], kind="stable")[:count]]
    loss = pareto.to_loss(np.c_[psnr[idx], cost_axes[idx]], (True, False, False))
    return idx[pareto.select_best(loss, count)]


def replay(
    scheme: Scheme, labels: list[str], by_rung: np.ndarray, cpu: np.ndarray, cost_axes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(highest rung index reached, CPU seconds spent) per candidate."""
    alive = np.ones(len(labels), dtype=bool)
    reached = np.full(len(labels), scheme.rungs[0])
    refs = np.isin(labels, REFERENCE_POINTS)
    for prev, rung in zip(scheme.rungs, scheme.rungs[1:], strict=False):
        best = _promote(scheme, np.flatnonzero(alive), by_rung[:, prev], cost_axes)
        alive = np.isin(np.arange(len(labels)), best) | (alive & refs)
        reached[alive] = rung
    spent = np.array([scheme.cost(cpu[i], r) for i, r in enumerate(reached)])
    return reached, spent


def evaluate(
    scheme: Scheme,
    labels: list[str],
    by_rung: np.ndarray,
    cpu: np.ndarray,
    cost_axes: np.ndarray,
    reference: np.ndarray,
) -> dict:
    """Share at the top, CPU per candidate, recall of the reference's top 5 and of its front
    (PSNR, MACs, memory), and how many of the front declared at the top are truly on it."""
    reached, spent = replay(scheme, labels, by_rung, cpu, cost_axes)
    top = np.flatnonzero(reached == scheme.rungs[-1])
    true_front = pareto.is_non_dominated(pareto.to_loss(np.c_[reference, cost_axes], (True, False, False)))
    declared = top[
        pareto.is_non_dominated(
            pareto.to_loss(np.c_[by_rung[top, scheme.rungs[-1]], cost_axes[top]], (True, False, False))
        )
    ]
    best5 = np.argsort(-reference)[:5]
    order = {column: k for k, column in enumerate(scheme.rungs)}  # rank by rung passed, then PSNR there
    score = np.array([100.0 * order[r] + by_rung[i, r] for i, r in enumerate(reached)])
    return {
        "at_top": len(top),
        "cpu_seconds_per_candidate": float(spent.mean()),
        "top5_at_top": int(np.isin(best5, top).sum()),
        "front_at_top": f"{int(true_front[top].sum())}/{int(true_front.sum())}",
        "declared_on_true_front": f"{int(true_front[declared].sum())}/{len(declared)}",
        "composite_score": score,
    }
