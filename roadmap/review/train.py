"""Full training of an exported architecture (``roadmap train``), resumable.

Uses the evaluation pipeline's pieces so a retrained winner sees exactly the data a trial
saw: ``load_data`` (embedded photographs, a folder of clean images, or input/target pairs),
``TrainSampler`` (crops, flips, synthetic noise from one seeded generator), the fidelity's
loss (``LOSS_FUNCTIONS``), AdamW with ``cosine_lr`` and ``evaluate_quality`` on the fixed
validation crops. What it adds to ``roadmap.evaluation.training.train`` is checkpointing:
every ``checkpoint_every`` iterations the model, the optimiser, the sampler's generator and
the step go to ``<out>.ckpt`` (written atomically); a later run with the same spec, data and
settings continues from there and ends with the same weights as an uninterrupted run.

The output file is a ``torch.save`` dict: ``state_dict``, ``spec_yaml``, ``iterations``,
``fidelity`` (the settings), ``data`` (the source), ``val`` (PSNR/SSIM on the validation
crops) and ``seconds``. :func:`load_weights` builds the spec and loads it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from roadmap.errors import RoadmapError

__all__ = ["TrainOutcome", "full_fidelity", "train_spec", "checkpoint_path", "load_weights"]

# progress(iteration_done, iterations_total, loss, elapsed_seconds)
ProgressFn = Callable[[int, int, float, float], None]


@dataclass
class TrainOutcome:
    out: Path
    iterations: int
    resumed_from: int  # 0 when started fresh
    val: dict[str, float]
    seconds: float


def full_fidelity(**overrides: Any):
    """The settings of a full training: the ``long`` preset with 128x128 crops, overridable."""
    from roadmap.evaluation.fidelity import PRESETS

    base = dataclasses.replace(PRESETS["long"], name="train", crop=128, threads=None)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return dataclasses.replace(base, **overrides)
    except TypeError as exc:
        raise RoadmapError(f"train: {exc}") from None


def checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def _fingerprint(spec_yaml_no_prov: str, fidelity: Any, data_source: str, seed: int) -> str:
    text = "\n".join([spec_yaml_no_prov, repr(sorted(fidelity.to_dict().items())), data_source, str(seed)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_spec(
    spec: Any,
    out: str | Path,
    *,
    data: str | Path | None = None,
    fidelity: Any = None,
    seed: int = 0,
    device: str = "cpu",
    checkpoint_every: int = 100,
    restart: bool = False,
    sigma: float | None = None,
    progress: ProgressFn | None = None,
    stop_after: int | None = None,
) -> TrainOutcome:
    """Train ``spec`` from scratch (or from ``<out>.ckpt``) and save the weights to ``out``.

    Args:
        spec: the architecture (``UNetSpec``).
        out: the weights file to write (``.pt``).
        data: a data folder (see ``roadmap.evaluation.data``) or None for the embedded photos.
        fidelity: a ``Fidelity`` (default :func:`full_fidelity`).
        seed: torch seed of the initial weights and of the batch sampler.
        device: torch device.
        checkpoint_every: iterations between checkpoints.
        restart: ignore an existing checkpoint.
        sigma: synthetic noise level (0-255 scale); default the data pipeline's.
        progress: called every 10 iterations and at the end.
        stop_after: stop (after checkpointing) once this many iterations are done in total;
            for tests of the resume and for time-boxed runs. The output is then not written.

    Raises:
        RoadmapError: bad data, a checkpoint for another spec/settings (use ``restart``), or a
            diverging loss.
    """
    import torch

    from roadmap.build import build_model
    from roadmap.evaluation.data import DEFAULT_SIGMA, TrainSampler, load_data
    from roadmap.evaluation.quality import evaluate_quality
    from roadmap.evaluation.threads import deterministic, torch_threads
    from roadmap.evaluation.training import LOSS_FUNCTIONS, cosine_lr

    fid = fidelity if fidelity is not None else full_fidelity()
    if checkpoint_every < 1:
        raise RoadmapError(f"--checkpoint-every: must be >= 1, got {checkpoint_every}")
    out = Path(out)
    if out.is_dir():
        raise RoadmapError(f"--out {out} is a directory; give a .pt file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt_path = checkpoint_path(out)
    sigma = DEFAULT_SIGMA if sigma is None else sigma
    dataset = load_data(data, sigma=sigma, val_crop=fid.val_crop, val_count=fid.val_count, train_crop=fid.crop)
    body = dataclasses.replace(spec, provenance={}).to_yaml()
    key = _fingerprint(body, fid, f"{dataset.source}|sigma={dataset.sigma}", seed)

    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=fid.lr, betas=fid.betas, weight_decay=fid.weight_decay)
    sampler = TrainSampler(dataset, fid.batch, fid.crop, seed)
    start_step, elapsed_before = 0, 0.0
    if ckpt_path.exists() and not restart:
        try:
            ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file
            raise RoadmapError(f"cannot read checkpoint {ckpt_path} ({type(exc).__name__}); use --restart") from None
        if ckpt.get("fingerprint") != key:
            raise RoadmapError(
                f"checkpoint {ckpt_path} is for another spec, data or settings; use --restart to start over"
            )
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sampler.generator.set_state(ckpt["generator"])
        start_step, elapsed_before = int(ckpt["step"]), float(ckpt.get("seconds", 0.0))

    def save_checkpoint(step: int, seconds: float) -> None:
        _atomic_save(
            {"fingerprint": key, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "generator": sampler.generator.get_state(), "seconds": seconds, "spec_yaml": spec.to_yaml()},
            ckpt_path,
        )

    loss_fn = LOSS_FUNCTIONS[fid.loss]
    total = fid.iterations
    begin = time.perf_counter()
    step = start_step
    model.train()
    with torch_threads(fid.threads if torch.device(device).type == "cpu" else None), deterministic():
        while step < total:
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, fid.lr, fid.min_lr)
            noisy, clean = sampler.next_batch()
            loss = loss_fn(model(noisy.to(device)), clean.to(device))
            value = float(loss.detach())
            if not math.isfinite(value):
                raise RoadmapError(
                    f"training diverged: loss became {value} at iteration {step + 1} "
                    f"(last checkpoint: {ckpt_path if ckpt_path.exists() else 'none'}); try a lower --lr"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if fid.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), fid.grad_clip)
            opt.step()
            step += 1
            seconds = elapsed_before + time.perf_counter() - begin
            if progress is not None and (step % 10 == 0 or step == total):
                progress(step, total, value, seconds)
            if step % checkpoint_every == 0 or step == total or (stop_after is not None and step >= stop_after):
                save_checkpoint(step, seconds)
            if stop_after is not None and step >= stop_after and step < total:
                return TrainOutcome(out, step, start_step, {}, seconds)
        model.eval()
        val = evaluate_quality(model, dataset.val_noisy.to(device), dataset.val_clean.to(device))
    seconds = elapsed_before + time.perf_counter() - begin
    _atomic_save(
        {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "spec_yaml": spec.to_yaml(),
         "iterations": total, "fidelity": fid.to_dict(), "data": dataset.source, "sigma": dataset.sigma,
         "seed": seed, "val": val, "seconds": seconds},
        out,
    )
    return TrainOutcome(out, total, start_step, val, seconds)


def load_weights(spec: Any, path: str | Path):
    """``build_model(spec)`` with the weights saved by :func:`train_spec` (or a bare state dict)."""
    import torch

    from roadmap.build import build_model

    path = Path(path)
    if not path.is_file():
        raise RoadmapError(f"weights file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise RoadmapError(f"cannot read weights {path} ({type(exc).__name__})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise RoadmapError(f"{path}: not a weights file (expected a state dict)")
    model = build_model(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise RoadmapError(f"{path}: weights do not fit this spec ({str(exc).splitlines()[0]})") from None
    return model.eval()
