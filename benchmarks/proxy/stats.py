"""Rank statistics of a proxy against the reference: Kendall tau-b, Spearman rho with
bootstrap intervals, pair accuracy on pairs the reference separates, top-k hits."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def kendall(a, b) -> float:
    return float(sps.kendalltau(a, b).statistic)


def spearman(a, b) -> float:
    return float(sps.spearmanr(a, b).statistic)


def bootstrap(fn, a, b, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """5th and 95th percentile of ``fn`` over candidate resamples (a 90 % interval)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(a), len(a))
        if len(set(idx)) < 3:
            continue
        v = fn(a[idx], b[idx])
        if math.isfinite(v):
            values.append(v)
    return float(np.percentile(values, 5)), float(np.percentile(values, 95))


def pair_accuracy(proxy, reference, min_gap: float) -> tuple[float, int]:
    """Share of pairs ordered like the reference among those whose reference difference
    exceeds ``min_gap`` (proxy ties count as half right), and how many such pairs."""
    right, pairs = 0.0, 0
    for i in range(len(reference)):
        for j in range(i + 1, len(reference)):
            d_ref = reference[i] - reference[j]
            if abs(d_ref) <= min_gap:
                continue
            pairs += 1
            d_proxy = proxy[i] - proxy[j]
            right += 0.5 if d_proxy == 0 else float((d_proxy > 0) == (d_ref > 0))
    return (right / pairs if pairs else float("nan")), pairs


def rank_of(scores, index: int) -> int:
    """1-based rank of ``scores[index]`` (1 = highest)."""
    return 1 + int(np.sum(np.asarray(scores) > scores[index]))


def top_k_hit(proxy, reference, k: int = 3) -> bool:
    """Whether the reference's best candidate is among the proxy's top ``k``."""
    return rank_of(proxy, int(np.argmax(reference))) <= k


def seed_spread(runs_a, runs_b) -> dict:
    """Agreement of two reference runs per candidate: mean |difference|, pooled single-run SD,
    Kendall tau between them."""
    a, b = np.asarray(runs_a, float), np.asarray(runs_b, float)
    return {
        "mean_abs_diff_db": float(np.mean(np.abs(a - b))),
        "sigma_db": float(np.sqrt(np.mean((a - b) ** 2) / 2)),
        "kendall_tau": kendall(a, b),
        "spearman_rho": spearman(a, b),
    }


def summarise(proxy, reference, min_gap: float, seed_index: int) -> dict:
    """Every statistic the benchmark table shows for one proxy."""
    accuracy, pairs = pair_accuracy(proxy, reference, min_gap)
    return {
        "kendall_tau": kendall(proxy, reference),
        "kendall_tau_90ci": bootstrap(kendall, proxy, reference),
        "spearman_rho": spearman(proxy, reference),
        "spearman_rho_90ci": bootstrap(spearman, proxy, reference),
        "pair_accuracy": accuracy,
        "pairs": pairs,
        "best_in_top3": top_k_hit(proxy, reference),
        "seed_rank": rank_of(proxy, seed_index),
        "seed_rank_reference": rank_of(reference, seed_index),
    }
