"""A fast, deterministic stand-in evaluator for tests and benchmarks of the search machinery.

Select it with ``ROADMAP_SEARCH_EVALUATOR=roadmap.search.testing:FakeEvaluator``. Its figures
are a smooth function of the spec (portions, widths, skips, depth), so samplers have
something to learn, but nothing is trained or timed. Knobs (environment variables, read
when a job runs, so they reach Ray workers started by the command):

``ROADMAP_FAKE_TRAIN_SECONDS``  sleep this long in ``train`` (default 0)
``ROADMAP_FAKE_MEASURE_SECONDS`` sleep this long in ``measure`` (default 0)
``ROADMAP_FAKE_FAIL_PSNR_BELOW`` report ``diverged`` when the fake PSNR is below this
"""
from __future__ import annotations

import hashlib
import os
import time
from typing import Any

__all__ = ["FakeEvaluator"]


def _cost(spec: Any) -> tuple[float, float, float]:
    """(relative compute, relative memory, capacity) of a spec, from its structure."""
    compute = memory = capacity = 0.0
    stages = [(s, 2**i) for i, s in enumerate(spec.encoder)] + [(s, 2**i) for i, s in enumerate(spec.decoder)]
    stages += [(s, 2 ** spec.levels) for s in spec.middle]
    for stage, scale in stages:
        conv = stage.conv
        portion = 1.0
        if conv is not None and getattr(conv, "portion", None):
            portion = float(conv.portion)
            if getattr(conv, "dw_threshold", None) is not None:
                portion *= 0.6
        work = max(stage.depth, 1) * stage.width**2 / scale**2
        compute += work * (0.3 + 0.7 * portion)
        capacity += work * (0.5 + 0.5 * portion) ** 0.5
    for i, skip in enumerate(spec.skips):
        if skip.type != "none":
            memory += spec.encoder[i].width / 4**i
            capacity += 40.0 / 2**i
    if spec.aggregate is not None:
        memory *= 0.3
        capacity *= 0.97
    for sampler in list(spec.down) + list(spec.up):
        if sampler.type in ("pool_conv", "conv_interp"):
            compute *= 0.97
            capacity *= 0.995
    memory += spec.encoder[0].width * 1.5
    return compute, memory, capacity


class FakeEvaluator:
    """See the module docstring."""

    def check(self, spec: Any) -> dict:
        compute, memory, _ = _cost(spec)
        return {
            "macs": int(compute * 1e5),
            "peak_memory_predicted_bytes": int(memory * 65536 * 4),
            "params": int(compute * 100),
        }

    def measure(self, spec: Any, *, device: str) -> dict:
        delay = float(os.environ.get("ROADMAP_FAKE_MEASURE_SECONDS", "0") or 0)
        if delay:
            time.sleep(delay)
        compute, memory, _ = _cost(spec)
        static = self.check(spec)
        return {
            "latency_ms": 5.0 + compute / 200.0,
            "latency_cv": 0.01,
            "peak_memory_measured_bytes": int(memory * 65536 * 4 * 1.05),
            "peak_memory_predicted_bytes": static["peak_memory_predicted_bytes"],
            "params": static["params"],
            "macs": static["macs"],
        }

    def train(self, spec: Any, *, fidelity: Any, data: Any, device: str, random_seed: int) -> dict:
        delay = float(os.environ.get("ROADMAP_FAKE_TRAIN_SECONDS", "0") or 0)
        t0 = time.perf_counter()
        if delay:
            time.sleep(delay)
        _, _, capacity = _cost(spec)
        digest = hashlib.sha256((spec.to_yaml() + str(random_seed)).encode()).digest()
        noise = (digest[0] / 255.0 - 0.5) * 0.1
        psnr = 26.0 + 4.0 * capacity / (capacity + 2000.0) + noise
        out = {
            "psnr": psnr,
            "ssim": min(0.99, psnr / 40.0),
            "noisy_psnr": 20.2,
            "train_seconds": time.perf_counter() - t0,
            "status": "ok",
        }
        floor = os.environ.get("ROADMAP_FAKE_FAIL_PSNR_BELOW")
        if floor and psnr < float(floor):
            out.update(status="diverged", reason=f"fake PSNR {psnr:.2f} below {floor}")
        return out
