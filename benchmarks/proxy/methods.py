"""Proxy methods: how a candidate is scored cheaply. Each method is a plain dict (its cache
key) with a ``name`` and a ``kind``; `run_method` trains one candidate with it."""
from __future__ import annotations

from benchmarks.proxy.candidates import build

REFERENCE = {"name": "long", "kind": "train", "fidelity": "long"}


def run_method(method: dict, steps: list[dict], seed: int) -> dict:
    kind = method["kind"]
    if kind == "train":
        return _train(method, steps, seed)
    raise ValueError(f"unknown proxy method kind {kind!r}")


def _train(method: dict, steps: list[dict], seed: int) -> dict:
    from roadmap.evaluation import evaluate_spec

    out = evaluate_spec(build(steps), method["fidelity"], None, random_seed=seed, measure=False)
    return {k: out[k] for k in ("psnr", "ssim", "status", "train_seconds", "params", "macs")} | (
        {"reason": out["reason"]} if out.get("reason") else {})
