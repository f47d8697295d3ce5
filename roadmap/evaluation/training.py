"""Proxy training: a short AdamW run with cosine learning-rate decay.

Deterministic on CPU for a given seed and thread count: the crops, flips and
noise come from the sampler's own generator, and torch is asked for
deterministic kernels. A NaN or infinite loss stops the run with status
``diverged``; the caller decides what to report.

The one step loop of the project: ``roadmap eval`` / the search train through it
directly, ``roadmap train`` (`roadmap.review.train`) adds checkpoints through the
``on_step`` hook and resumes with ``start`` (a `TrainCheckpoint`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from roadmap.evaluation.data import RestorationData, TrainSampler
from roadmap.evaluation.fidelity import Fidelity
from roadmap.evaluation.threads import deterministic, torch_threads

# progress(iteration_done, iterations_total, loss, elapsed_seconds)
ProgressFn = Callable[[int, int, float, float], None]

CURVE_BLOCK = 10  # iterations averaged into one point of `TrainResult.loss_curve`


@dataclass
class TrainResult:
    """Outcome of `train`.

    ``status``: ``ok``, ``stopped`` (the ``on_step`` hook asked to stop) or ``diverged``
    (with ``reason``). ``iterations``: iterations done in total (a resumed run's earlier
    ones included). ``final_loss``: mean of the last 10 losses of this call (the non-finite
    loss when diverged). ``seconds``: training time, a resumed run's earlier time included.
    ``loss_curve``: mean loss of each consecutive block of 10 iterations this call ran
    (the last block may be shorter).
    """

    status: str
    iterations: int
    final_loss: float
    seconds: float
    reason: str | None = None
    loss_curve: list[float] = field(default_factory=list)


@dataclass
class TrainCheckpoint:
    """What `train` needs to resume besides the model weights (the caller loads those):
    ``step`` (iterations done), the AdamW ``optimizer`` state dict, the batch sampler's
    ``generator`` state (a CPU ``ByteTensor``) and the ``seconds`` trained so far.
    Tensors are CPU copies, so a checkpoint is a snapshot that later steps do not change."""

    step: int
    optimizer: dict
    generator: torch.Tensor
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain dict for ``torch.save`` (keys ``step``, ``optimizer``, ``generator``, ``seconds``)."""
        return {"step": self.step, "optimizer": self.optimizer, "generator": self.generator,
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainCheckpoint":
        """Inverse of :meth:`to_dict` (extra keys are ignored)."""
        return cls(int(data["step"]), data["optimizer"], data["generator"].cpu(),
                   float(data.get("seconds", 0.0)))


@dataclass
class StepState:
    """What an ``on_step`` hook sees after each optimiser step: ``step`` (iterations done
    in total), ``total``, this step's ``loss``, the live ``model``, ``optimizer`` and
    ``sampler``, and ``seconds`` trained so far. :meth:`checkpoint` snapshots it."""

    step: int
    total: int
    loss: float
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    sampler: TrainSampler
    seconds: float

    def checkpoint(self) -> TrainCheckpoint:
        """A `TrainCheckpoint` to resume from this point (copies, safe to keep)."""
        return TrainCheckpoint(self.step, cpu_copy(self.optimizer.state_dict()),
                               self.sampler.generator.get_state(), self.seconds)


# on_step(state) -> True to stop training after this step
StepHook = Callable[[StepState], "bool | None"]


def cpu_copy(obj: Any) -> Any:
    """``obj`` with every tensor (in nested dicts / lists / tuples) copied to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NAFNet's PSNR loss on ``[N, C, H, W]``: ``mean_n 10 log10(MSE_n + 1e-8)``
    (minimising it maximises PSNR)."""
    mse = (pred - target).pow(2).flatten(1).mean(dim=1)
    return 10.0 / math.log(10.0) * torch.log(mse + 1e-8).mean()


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return (pred - target).abs().mean()


LOSS_FUNCTIONS = {"psnr": psnr_loss, "l1": l1_loss}


def model_loss(model: torch.nn.Module, noisy: torch.Tensor, clean: torch.Tensor,
               loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The training loss of ``model`` on one batch. A deep-supervised network (UNet++: a
    ``forward_heads`` that returns ``{depth: output}``) is trained with the loss averaged over its
    heads, so that every depth learns to restore and can be pruned to later; a network with one
    output (or one head) gets ``loss_fn(model(noisy), clean)``."""
    heads = getattr(model, "forward_heads", None)
    if heads is None:
        return loss_fn(model(noisy), clean)
    outputs = heads(noisy)
    return sum(loss_fn(out, clean) for out in outputs.values()) / len(outputs)


def cosine_lr(step: int, total: int, lr: float, min_lr: float) -> float:
    """Learning rate of step ``step`` (0-based) of ``total``: cosine from ``lr`` to ``min_lr``."""
    if total <= 1:
        return lr
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * step / (total - 1)))


def loss_curve(losses: list[float], block: int = CURVE_BLOCK) -> list[float]:
    """Mean of each consecutive block of ``block`` losses (the last may be shorter)."""
    return [sum(losses[i:i + block]) / len(losses[i:i + block]) for i in range(0, len(losses), block)]


def make_optimizer(model: torch.nn.Module, fidelity: Fidelity) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters with the fidelity's betas and weight decay."""
    return torch.optim.AdamW(model.parameters(), lr=fidelity.lr, betas=fidelity.betas,
                             weight_decay=fidelity.weight_decay)


def _restore(start: TrainCheckpoint, opt: torch.optim.Optimizer, sampler: TrainSampler) -> None:
    # A fresh copy: load_state_dict keeps tensors that are already on the right device,
    # and the steps would then update the checkpoint's own tensors in place.
    opt.load_state_dict(cpu_copy(start.optimizer))
    sampler.generator.set_state(start.generator.cpu())


def _step(model, opt, sampler, fidelity: Fidelity, step: int, device: torch.device) -> float:
    """Iteration ``step`` (0-based): set the learning rate, one batch, one AdamW step.
    Returns the loss; when it is not finite nothing was updated."""
    for group in opt.param_groups:
        group["lr"] = cosine_lr(step, fidelity.iterations, fidelity.lr, fidelity.min_lr)
    noisy, clean = sampler.next_batch()
    loss = model_loss(model, noisy.to(device), clean.to(device), LOSS_FUNCTIONS[fidelity.loss])
    value = float(loss.detach())
    if not math.isfinite(value):
        return value
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if fidelity.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), fidelity.grad_clip)
    opt.step()
    return value


def _result(status: str, iterations: int, losses: list[float], seconds: float,
            final_loss: float | None = None, reason: str | None = None) -> TrainResult:
    """A `TrainResult` from this call's losses (``final_loss`` overrides their tail mean)."""
    recent = losses[-CURVE_BLOCK:]
    if final_loss is None:
        final_loss = sum(recent) / len(recent) if recent else math.nan
    return TrainResult(status, iterations, final_loss, seconds, reason, loss_curve(losses))


def train(
    model: torch.nn.Module,
    data: RestorationData,
    fidelity: Fidelity,
    seed: int,
    device: str | torch.device = "cpu",
    *,
    start: TrainCheckpoint | None = None,
    on_step: StepHook | None = None,
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> TrainResult:
    """Train ``model`` in place for ``fidelity.iterations`` steps on crops of ``data``.

    Batches are ``[fidelity.batch, 3, fidelity.crop, fidelity.crop]`` clean crops and their
    degraded inputs (``crop / scale`` for super-resolution) from a `TrainSampler` seeded with
    ``seed``. ``start`` resumes from a `TrainCheckpoint`
    (the caller has loaded the matching weights into ``model``): the run then ends
    with the same weights as an uninterrupted one. ``progress`` is called every
    ``progress_every`` iterations and at the end; ``on_step`` after every step, and
    returning True stops the run there (status ``stopped``, unless it was the last
    step). A non-finite loss ends the run with ``diverged``. Leaves ``model`` in eval
    mode except when diverged.
    """
    device = torch.device(device)
    model.to(device).train()
    sampler = TrainSampler(data, fidelity.batch, fidelity.crop, seed)
    opt = make_optimizer(model, fidelity)
    if start is not None:
        _restore(start, opt, sampler)
    first, total = (start.step if start else 0), fidelity.iterations
    losses: list[float] = []
    t0, before = time.perf_counter(), (start.seconds if start else 0.0)
    with torch_threads(fidelity.threads if device.type == "cpu" else None), deterministic():
        for step in range(first, total):
            value = _step(model, opt, sampler, fidelity, step, device)
            seconds = before + time.perf_counter() - t0
            if not math.isfinite(value):
                return _result("diverged", step, losses, seconds, final_loss=value,
                               reason=f"loss became {value} at iteration {step + 1}")
            losses.append(value)
            done = step + 1
            if progress is not None and (done % progress_every == 0 or done == total):
                progress(done, total, value, seconds)
            state = StepState(done, total, value, model, opt, sampler, seconds)
            if on_step is not None and on_step(state) and done < total:
                model.eval()
                return _result("stopped", done, losses, seconds)
    model.eval()
    return _result("ok", total, losses, before + time.perf_counter() - t0)
