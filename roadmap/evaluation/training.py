"""Proxy training: a short AdamW run with cosine learning-rate decay.

Deterministic on CPU for a given seed and thread count: the crops, flips and
noise come from the sampler's own generator, and torch is asked for
deterministic kernels. A NaN or infinite loss stops the run with status
``diverged``; the caller decides what to report.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from roadmap.evaluation.data import DenoiseData, TrainSampler
from roadmap.evaluation.fidelity import Fidelity
from roadmap.evaluation.threads import deterministic, torch_threads

# progress(iteration_done, iterations_total, loss, elapsed_seconds)
ProgressFn = Callable[[int, int, float, float], None]


@dataclass
class TrainResult:
    """Outcome of `train`: ``status`` is ``ok`` or ``diverged`` (with ``reason``);
    ``iterations`` done, ``final_loss`` (mean of the last 10 losses), ``seconds``."""

    status: str
    iterations: int
    final_loss: float
    seconds: float
    reason: str | None = None


def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NAFNet's PSNR loss on ``[N, C, H, W]``: ``mean_n 10 log10(MSE_n + 1e-8)``
    (minimising it maximises PSNR)."""
    mse = (pred - target).pow(2).flatten(1).mean(dim=1)
    return 10.0 / math.log(10.0) * torch.log(mse + 1e-8).mean()


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return (pred - target).abs().mean()


LOSS_FUNCTIONS = {"psnr": psnr_loss, "l1": l1_loss}


def cosine_lr(step: int, total: int, lr: float, min_lr: float) -> float:
    """Learning rate of step ``step`` (0-based) of ``total``: cosine from ``lr`` to ``min_lr``."""
    if total <= 1:
        return lr
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * step / (total - 1)))


def train(
    model: torch.nn.Module,
    data: DenoiseData,
    fidelity: Fidelity,
    seed: int,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> TrainResult:
    """Train ``model`` in place for ``fidelity.iterations`` steps on crops of ``data``.

    Batches are ``[fidelity.batch, 3, fidelity.crop, fidelity.crop]`` from a
    `TrainSampler` seeded with ``seed``. ``progress`` is called every
    ``progress_every`` iterations and at the end. Returns a `TrainResult`; a
    non-finite loss or gradient norm ends the run early with ``diverged``.
    """
    device = torch.device(device)
    model.to(device).train()
    sampler = TrainSampler(data, fidelity.batch, fidelity.crop, seed)
    loss_fn = LOSS_FUNCTIONS[fidelity.loss]
    opt = torch.optim.AdamW(
        model.parameters(), lr=fidelity.lr, betas=fidelity.betas, weight_decay=fidelity.weight_decay
    )
    recent: list[float] = []
    start = time.perf_counter()
    total = fidelity.iterations
    with torch_threads(fidelity.threads if device.type == "cpu" else None), deterministic():
        for step in range(total):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, fidelity.lr, fidelity.min_lr)
            noisy, clean = sampler.next_batch()
            noisy, clean = noisy.to(device), clean.to(device)
            loss = loss_fn(model(noisy), clean)
            value = float(loss.detach())
            if not math.isfinite(value):
                return TrainResult("diverged", step, value, time.perf_counter() - start,
                                   reason=f"loss became {value} at iteration {step + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if fidelity.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), fidelity.grad_clip)
            opt.step()
            recent = (recent + [value])[-10:]
            done = step + 1
            if progress is not None and (done % progress_every == 0 or done == total):
                progress(done, total, value, time.perf_counter() - start)
    model.eval()
    return TrainResult("ok", total, sum(recent) / len(recent), time.perf_counter() - start)
