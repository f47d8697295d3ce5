"""A cheap stand-in for the PSNR of a long training, for benchmarks that need thousands of
evaluations (``benchmarks/search_efficiency.py``).

A ridge regression from a few structural features of a NAFNet-w16 candidate to its reference
PSNR (the ``long`` fidelity, mean over the random seeds cached so far), fitted on the
calibration candidates of ``benchmarks/proxy_fidelity.py``. The fit is redone every time
(the calibration cache grows while its trainings run), and `leave_one_out` says how well the
stand-in ranks candidates it was not fitted on.

The static analysis (`roadmap.analysis.analyze` at the search's latency input size) is the
slow part; `AnalysisCache` keeps it on disk per architecture across runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.proxy.candidates import build, load_candidates
from benchmarks.proxy.methods import REFERENCE
from benchmarks.proxy.runs import RESULTS, RunCache

ANALYSIS_FILE = RESULTS / "analysis_cache.json"
REFERENCE_SEEDS = (0, 1)
# Few features for ~22 points, each an effect the calibration shows or the papers describe:
# capacity (log params), whether the full-resolution skip survives (no skips costs ~5 dB),
# MSIAM's aggregation of the skips, decoupled (pool / interpolate) samplers, and the share of
# each stage conv the partial convs keep.
FEATURES = ("log_params", "full_res_skip", "msiam", "decoupled", "pconv_portion")
RIDGE = 1.0  # on standardised features; shrinks the model toward the mean with 22 points


# --------------------------------------------------------------------------- static analysis


def _arch_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class AnalysisCache:
    """``architecture_key(spec)`` (hashed) -> the static figures of ``analyze``, on disk.

    ``save`` merges with what another process wrote meanwhile, then replaces the file."""

    def __init__(self, path: Path = ANALYSIS_FILE):
        self.path = path
        self.data: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}
        self.new = 0

    def get(self, spec) -> dict:
        """``macs``, ``params``, ``peak_memory_predicted_bytes`` of ``spec`` (computed once)."""
        from roadmap.analysis import analyze
        from roadmap.evaluation.evaluate import LATENCY_HW
        from roadmap.search.candidates import architecture_key

        key = _arch_hash(architecture_key(spec))
        if key not in self.data:
            a = analyze(spec, input_hw=LATENCY_HW)  # the search's own input size (RoadmapEvaluator.check)
            self.data[key] = {
                "macs": int(a.macs),
                "params": int(a.params),
                "peak_memory_predicted_bytes": int(a.peak_activation_bytes),
            }
            self.new += 1
        return self.data[key]

    def save(self) -> None:
        if not self.new:
            return
        on_disk = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.data = {**on_disk, **self.data}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, separators=(",", ":")))
        os.replace(tmp, self.path)
        self.new = 0


# --------------------------------------------------------------------------- features


def _convs(spec) -> list:
    """Every explicit conv of the stages and samplers (``None`` where the block's default)."""
    stages = [*spec.encoder, *spec.middle, *spec.decoder]
    return [s.conv for s in stages] + [s.conv for s in (*spec.down, *spec.up)]


def features(spec, static: dict) -> dict[str, float]:
    """Structural features of ``spec`` (``static``: its `AnalysisCache` entry). More than
    `FEATURES` uses, so the benchmark can print them."""
    convs = _convs(spec)
    stage_convs = convs[: len(spec.encoder) + len(spec.middle) + len(spec.decoder)]
    portions = [c.portion if c is not None and c.portion else 1.0 for c in stage_convs]
    partial = [c for c in convs if c is not None and c.is_partial]
    kept = [s.type != "none" for s in spec.skips]
    agg = spec.aggregate
    decoupled = any(s.type not in ("strided_conv", "pixel_shuffle") for s in (*spec.down, *spec.up))
    return {
        "log_params": math.log(static["params"]),
        "log_macs": math.log(static["macs"]),
        "levels": float(len(spec.encoder)),
        "skip_share": sum(kept) / len(kept),
        "full_res_skip": float(kept[0]),
        "msiam": float(agg is not None and agg.type == "msiam"),
        "msiam_shallow": float(agg is not None and agg.target_level < len(spec.encoder) - 1),
        "decoupled": float(decoupled),
        # every MSIAM + decoupled candidate of the calibration trained badly (0.9 to 5 dB down)
        "msiam_x_decoupled": float(decoupled and agg is not None and agg.type == "msiam"),
        "pconv_portion": float(np.mean(portions)),
        "dw_share": sum(bool(c.dw_threshold) for c in partial) / len(partial) if partial else 0.0,
    }


def feature_matrix(specs: list, cache: AnalysisCache, names: tuple[str, ...] = FEATURES) -> np.ndarray:
    return np.array([[features(s, cache.get(s))[n] for n in names] for s in specs], dtype=float)


# --------------------------------------------------------------------------- the model


@dataclass
class Ridge:
    """Ridge regression on standardised features (the intercept is not shrunk)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, alpha: float = RIDGE) -> Ridge:
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0  # a constant feature gets no weight instead of a division by 0
        z = (x - mean) / scale
        coef = np.linalg.solve(z.T @ z + alpha * np.eye(x.shape[1]), z.T @ (y - y.mean()))
        return cls(mean, scale, coef, float(y.mean()))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.intercept + ((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef


def calibration(runs: RunCache | None = None) -> tuple[list[str], list, np.ndarray, np.ndarray]:
    """(labels, specs, reference PSNR, seeds per candidate) of the calibration candidates with
    at least one finished reference run; the PSNR is the mean over the seeds cached so far."""
    runs = runs or RunCache()
    labels, specs, psnr, counts = [], [], [], []
    for label, steps in load_candidates().items():
        values = [
            r["psnr"]
            for s in REFERENCE_SEEDS
            if (r := runs.get(REFERENCE, steps, s)) and r.get("status") == "ok" and r.get("psnr") is not None
        ]
        if values:
            labels.append(label)
            specs.append(build(steps))
            psnr.append(float(np.mean(values)))
            counts.append(len(values))
    return labels, specs, np.array(psnr), np.array(counts)


def leave_one_out(x: np.ndarray, y: np.ndarray, alpha: float = RIDGE) -> np.ndarray:
    """The prediction of each point by the model fitted on all the others."""
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = Ridge.fit(x[keep], y[keep], alpha).predict(x[i])[0]
    return out


class StandIn:
    """PSNR stand-in and the static figures of a spec, from one fit of the calibration set."""

    def __init__(self, cache: AnalysisCache | None = None, names: tuple[str, ...] = FEATURES):
        self.cache, self.names = cache or AnalysisCache(), tuple(names)
        self.labels, specs, self.reference, self.seed_counts = calibration()
        if len(self.labels) < len(self.names) + 2:
            raise SystemExit(
                f"only {len(self.labels)} calibration candidates have a reference PSNR; "
                "run benchmarks/proxy_fidelity.py first"
            )
        if unknown := set(self.names) - set(features(specs[0], self.cache.get(specs[0]))):
            raise SystemExit(f"unknown stand-in feature(s): {', '.join(sorted(unknown))}")
        self.x = feature_matrix(specs, self.cache, self.names)
        self.model = Ridge.fit(self.x, self.reference)

    def loo(self) -> np.ndarray:
        return leave_one_out(self.x, self.reference)

    def evaluate(self, spec) -> tuple[float, dict]:
        """(stand-in PSNR, static figures) of ``spec``."""
        static = self.cache.get(spec)
        x = np.array([features(spec, static)[n] for n in self.names])
        return float(self.model.predict(x)[0]), static
