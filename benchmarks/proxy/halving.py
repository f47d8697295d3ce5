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


@dataclass(frozen=True)
class Scheme:
    rungs: tuple[int, ...]  # indices into the run's rungs (0: 150, 1: 450, 2: 1350 iterations)
    eta: int
    multi_objective: bool

    @property
    def name(self) -> str:
        its = "/".join(str((150, 450, 1350)[r]) for r in self.rungs)
        return f"{its}, eta {self.eta}, {'PSNR+MACs+memory' if self.multi_objective else 'PSNR only'}"


def _promote(scheme: Scheme, idx: np.ndarray, psnr: np.ndarray, cost_axes: np.ndarray) -> np.ndarray:
    count = math.ceil(len(idx) / scheme.eta)
    if not scheme.multi_objective:
        return idx[np.argsort(-psnr[idx], kind="stable")[:count]]
    loss = pareto.to_loss(np.c_[psnr[idx], cost_axes[idx]], (True, False, False))
    return idx[pareto.select_best(loss, count)]


def replay(scheme: Scheme, labels: list[str], by_rung: np.ndarray, cpu: np.ndarray,
           cost_axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(highest rung index reached, CPU seconds spent) per candidate."""
    alive = np.ones(len(labels), dtype=bool)
    reached = np.full(len(labels), scheme.rungs[0])
    refs = np.isin(labels, REFERENCE_POINTS)
    for prev, rung in zip(scheme.rungs, scheme.rungs[1:]):
        best = _promote(scheme, np.flatnonzero(alive), by_rung[:, prev], cost_axes)
        alive = np.isin(np.arange(len(labels)), best) | (alive & refs)
        reached[alive] = rung
    spent = np.array([cpu[i, : r + 1].sum() for i, r in enumerate(reached)])
    return reached, spent


def evaluate(scheme: Scheme, labels: list[str], by_rung: np.ndarray, cpu: np.ndarray, cost_axes: np.ndarray,
             reference: np.ndarray) -> dict:
    """Share at the top, CPU per candidate, recall of the reference's top 5 and of its front
    (PSNR, MACs, memory), and how many of the front declared at the top are truly on it."""
    reached, spent = replay(scheme, labels, by_rung, cpu, cost_axes)
    top = np.flatnonzero(reached == scheme.rungs[-1])
    true_front = pareto.is_non_dominated(pareto.to_loss(np.c_[reference, cost_axes], (True, False, False)))
    declared = top[pareto.is_non_dominated(pareto.to_loss(np.c_[by_rung[top, scheme.rungs[-1]], cost_axes[top]],
                                                          (True, False, False)))]
    best5 = np.argsort(-reference)[:5]
    score = np.array([100.0 * r + by_rung[i, r] for i, r in enumerate(reached)])
    return {"at_top": len(top), "cpu_seconds_per_candidate": float(spent.mean()),
            "top5_at_top": int(np.isin(best5, top).sum()),
            "front_at_top": f"{int(true_front[top].sum())}/{int(true_front.sum())}",
            "declared_on_true_front": f"{int(true_front[declared].sum())}/{len(declared)}",
            "composite_score": score}
