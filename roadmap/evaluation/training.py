"""Proxy training: a short AdamW run with cosine learning-rate decay.

Deterministic on CPU for a given seed and thread count: the crops, flips and
noise come from the sampler's own generator, and torch is asked for
deterministic kernels. A NaN or infinite loss stops the run with status
``diverged``; the caller decides what to report.

The one step loop of the project: ``roadmap eval`` / the search train through it
directly, ``roadmap train`` (`roadmap.review.train`) adds checkpoints, validation and weight
averaging through the ``on_step`` hook and resumes with ``start`` (a `TrainCheckpoint`).

Data parallelism wraps this loop's step rather than copying it: a `Replica` says which worker
this is (rank ``r`` of ``w``). Every worker draws the same global batch from the same
generator and trains on its own ``batch / w`` slice of it; the replica's ``wrap`` (DDP) averages
the gradients and its ``mean`` the loss, so ``w`` workers take the steps one worker would, up
to floating-point noise, and a checkpoint (the generator included) resumes with any ``w``.
Mixed precision (`MixedPrecision`: bf16, or fp16 with loss scaling) is an autocast around the
forward pass and a scaled backward.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    ``generator`` state (a CPU ``ByteTensor``), the ``seconds`` trained so far and the fp16
    loss ``scaler`` state (``None`` in any other precision). Tensors are CPU copies, so a
    checkpoint is a snapshot that later steps do not change."""

    step: int
    optimizer: dict
    generator: torch.Tensor
    seconds: float = 0.0
    scaler: dict | None = None

    def to_dict(self) -> dict:
        """Plain dict for ``torch.save`` (keys ``step``, ``optimizer``, ``generator``, ``seconds``,
        ``scaler``)."""
        return {
            "step": self.step,
            "optimizer": self.optimizer,
            "generator": self.generator,
            "seconds": self.seconds,
            "scaler": self.scaler,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TrainCheckpoint:
        """Inverse of :meth:`to_dict` (extra keys are ignored)."""
        return cls(
            int(data["step"]),
            data["optimizer"],
            data["generator"].cpu(),
            float(data.get("seconds", 0.0)),
            data.get("scaler"),
        )


@dataclass
class StepState:
    """What an ``on_step`` hook sees after each optimiser step: ``step`` (iterations done
    in total), ``total``, this step's ``loss``, the live ``model``, ``optimizer`` and
    ``sampler``, and ``seconds`` trained so far. ``loss`` is the global batch's (the mean
    over the workers), ``model`` the bare network (not its DDP wrapper) and ``lr`` the
    learning rate of this step. :meth:`checkpoint` snapshots it."""

    step: int
    total: int
    loss: float
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    sampler: TrainSampler
    seconds: float
    scaler: torch.amp.GradScaler | None = None

    @property
    def lr(self) -> float:
        """The learning rate this step took."""
        return float(self.optimizer.param_groups[0]["lr"])

    def checkpoint(self) -> TrainCheckpoint:
        """A `TrainCheckpoint` to resume from this point (copies, safe to keep)."""
        scaler = None if self.scaler is None else cpu_copy(self.scaler.state_dict())
        return TrainCheckpoint(
            self.step, cpu_copy(self.optimizer.state_dict()), self.sampler.generator.get_state(), self.seconds, scaler
        )


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


def model_loss(
    model: torch.nn.Module,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The training loss of ``model`` on one batch. A deep-supervised network (UNet++: a
    ``forward_heads`` that returns ``{depth: output}``) is trained with the loss averaged over its
    heads, so that every depth learns to restore and can be pruned to later; a network with one
    output (or one head) gets ``loss_fn(model(noisy), clean)``."""
    heads = getattr(model, "forward_heads", None)
    if heads is None:
        return loss_fn(model(noisy), clean)
    losses = [loss_fn(out, clean) for out in heads(noisy).values()]
    return sum(losses[1:], losses[0]) / len(losses)


def cosine_lr(step: int, total: int, lr: float, min_lr: float) -> float:
    """Learning rate of step ``step`` (0-based) of ``total``: cosine from ``lr`` to ``min_lr``."""
    if total <= 1:
        return lr
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * step / (total - 1)))


def loss_curve(losses: list[float], block: int = CURVE_BLOCK) -> list[float]:
    """Mean of each consecutive block of ``block`` losses (the last may be shorter)."""
    return [sum(losses[i : i + block]) / len(losses[i : i + block]) for i in range(0, len(losses), block)]


def make_optimizer(model: torch.nn.Module, fidelity: Fidelity) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters with the fidelity's betas and weight decay."""
    return torch.optim.AdamW(
        model.parameters(), lr=fidelity.lr, betas=fidelity.betas, weight_decay=fidelity.weight_decay
    )


class LossOf(torch.nn.Module):
    """The training loss as a module: ``forward(inputs, clean)`` is `model_loss` of ``model``
    on the batch (``[N, C, h, w]`` inputs, ``[N, C, H, W]`` clean; a scalar), the outputs taken
    in float32 so that a bf16 / fp16 forward pass does not round the loss. It is what DDP wraps:
    DDP synchronises the gradients of what its own ``forward`` ran, and a deep-supervised
    UNet++ trains through ``forward_heads``, not ``forward``."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, inputs: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return model_loss(self.model, inputs, clean, lambda out, target: self.loss_fn(out.float(), target))


def _unwrapped(module: torch.nn.Module) -> torch.nn.Module:
    return module


def _item(value: torch.Tensor) -> float:
    return float(value)


@dataclass(frozen=True)
class Replica:
    """One worker of a data-parallel training: rank ``rank`` of ``world``. ``wrap`` turns the
    `LossOf` module into the one whose backward averages the gradients over the workers (DDP:
    `roadmap.evaluation.parallel.ddp_replica`); ``mean`` averages a scalar tensor over them.
    The default is a training alone (rank 0 of 1: nothing to wrap or average)."""

    rank: int = 0
    world: int = 1
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = _unwrapped
    mean: Callable[[torch.Tensor], float] = _item


ALONE = Replica()
PRECISIONS = ("fp32", "bf16", "fp16")


class MixedPrecision:
    """How a step computes: ``fp32``; ``bf16`` (autocast to bfloat16: the range of float32,
    no loss scaling); ``fp16`` (autocast to float16 with a ``GradScaler`` so that small
    gradients do not underflow). Where bf16 / fp16 are sensible (CUDA) is the caller's choice."""

    def __init__(self, precision: str, device: torch.device):
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
        self.device_type = device.type
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def autocast(self):
        """The context of the forward pass (no autocast in fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, grad_clip: float | None) -> None:
        """Backward, the optional gradient clipping (on the true, unscaled gradients) and the step."""
        params = [p for group in opt.param_groups for p in group["params"]]
        if self.scaler is None:
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(opt)  # skipped when the scaled gradients overflowed
        self.scaler.update()


def _restore(start: TrainCheckpoint, opt: torch.optim.Optimizer, sampler: TrainSampler, mixed: MixedPrecision) -> None:
    # A fresh copy: load_state_dict keeps tensors that are already on the right device,
    # and the steps would then update the checkpoint's own tensors in place.
    opt.load_state_dict(cpu_copy(start.optimizer))
    sampler.generator.set_state(start.generator.cpu())
    if mixed.scaler is not None and start.scaler is not None:
        mixed.scaler.load_state_dict(start.scaler)


def _step(
    loss_of: torch.nn.Module,
    opt,
    sampler,
    fidelity: Fidelity,
    step: int,
    device: torch.device,
    mixed: MixedPrecision,
    replica: Replica,
) -> float:
    """Iteration ``step`` (0-based): set the learning rate, this worker's share of the global
    batch, one AdamW step. Returns the global batch's loss (the workers' mean); when it is not
    finite nothing was updated, on any worker."""
    for group in opt.param_groups:
        group["lr"] = cosine_lr(step, fidelity.iterations, fidelity.lr, fidelity.min_lr)
    noisy, clean = sampler.next_batch()
    with mixed.autocast():
        loss = loss_of(noisy.to(device), clean.to(device))
    value = replica.mean(loss.detach().float())  # every worker then takes the same decision
    if not math.isfinite(value):
        return value
    opt.zero_grad(set_to_none=True)
    mixed.backward_and_step(loss, opt, fidelity.grad_clip)
    return value


def _result(
    status: str,
    iterations: int,
    losses: list[float],
    seconds: float,
    final_loss: float | None = None,
    reason: str | None = None,
) -> TrainResult:
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
    replica: Replica = ALONE,
    precision: str = "fp32",
) -> TrainResult:
    """Train ``model`` in place for ``fidelity.iterations`` steps on crops of ``data``.

    Batches are ``[fidelity.batch, 3, fidelity.crop, fidelity.crop]`` clean crops and their
    degraded inputs (``crop / scale`` for super-resolution) from a `TrainSampler` seeded with
    ``seed``; a ``replica`` of a data-parallel training (see the module docstring) trains on
    its ``fidelity.batch / world`` slice of each. ``start`` resumes from a `TrainCheckpoint`
    (the caller has loaded the matching weights into ``model``): the run then ends
    with the same weights as an uninterrupted one. ``progress`` is called every
    ``progress_every`` iterations and at the end; ``on_step`` after every step, and
    returning True stops the run there (status ``stopped``, unless it was the last
    step). A non-finite loss ends the run with ``diverged``. ``precision``: ``fp32``,
    ``bf16`` or ``fp16`` (`MixedPrecision`). Leaves ``model`` in eval mode except when diverged.
    """
    device = torch.device(device)
    model.to(device).train()
    mixed = MixedPrecision(precision, device)
    loss_of = replica.wrap(LossOf(model, LOSS_FUNCTIONS[fidelity.loss]))
    sampler = TrainSampler(data, fidelity.batch, fidelity.crop, seed, shard=(replica.rank, replica.world))
    opt = make_optimizer(model, fidelity)
    if start is not None:
        _restore(start, opt, sampler, mixed)
    first, total = (start.step if start else 0), fidelity.iterations
    losses: list[float] = []
    t0, before = time.perf_counter(), (start.seconds if start else 0.0)
    with torch_threads(fidelity.threads if device.type == "cpu" else None), deterministic():
        for step in range(first, total):
            value = _step(loss_of, opt, sampler, fidelity, step, device, mixed, replica)
            seconds = before + time.perf_counter() - t0
            if not math.isfinite(value):
                reason = f"loss became {value} at iteration {step + 1}"
                return _result("diverged", step, losses, seconds, final_loss=value, reason=reason)
            losses.append(value)
            done = step + 1
            if progress is not None and (done % progress_every == 0 or done == total):
                progress(done, total, value, seconds)
            state = StepState(done, total, value, model, opt, sampler, seconds, mixed.scaler)
            if on_step is not None and on_step(state) and done < total:
                model.eval()
                return _result("stopped", done, losses, seconds)
    model.eval()
    return _result("ok", total, losses, before + time.perf_counter() - t0)
