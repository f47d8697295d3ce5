"""Full training of an exported architecture (``roadmap train``), resumable.

Uses the evaluation pipeline so a retrained winner sees exactly the data and the step loop a
trial saw: ``load_data`` (embedded photographs, a folder of clean images, or input/target
pairs) and ``roadmap.evaluation.training.train`` (``TrainSampler`` crops, the fidelity's loss,
AdamW with cosine decay), then ``evaluate_quality`` on the fixed validation crops. What it
adds is checkpointing, through ``train``'s ``on_step`` hook: every ``checkpoint_every``
iterations the model, the `TrainCheckpoint` (optimiser, sampler generator, step) and a
fingerprint of the settings go to ``<out>.ckpt`` (written atomically); a later run with the
same spec, data and settings continues from there (``train(start=...)``) and ends with the
same weights as an uninterrupted run.

The output file is a ``torch.save`` dict: ``state_dict``, ``spec_yaml``, ``iterations``,
``fidelity`` (the settings), ``data`` (the source), ``val`` (PSNR/SSIM on the validation
crops) and ``seconds``. :func:`load_weights` builds the spec and loads it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from roadmap.errors import RoadmapError

if TYPE_CHECKING:  # annotations only: this module imports torch lazily, inside functions
    from roadmap.evaluation.training import StepState, TrainCheckpoint

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


def _atomic_save(obj: Any, path: Path, label: str) -> None:
    """``torch.save`` whole or not at all; a full disk or a forbidden folder is one line."""
    from roadmap import files

    files.save_torch(obj, path, label)


def _output_path(out: str | Path, checkpoint_every: int) -> Path:
    """``out`` as a Path where the weights and their checkpoint can be written, checked
    before any work (`roadmap.files.check_writable`); RoadmapError for bad arguments."""
    from roadmap import files

    if checkpoint_every < 1:
        raise RoadmapError(f"--checkpoint-every: must be >= 1, got {checkpoint_every}")
    return files.check_writable(out, "--out")


def _data_and_fingerprint(spec: Any, data: Any, fid: Any, task: Any, seed: int):
    """The loaded `RestorationData` and the fingerprint a checkpoint must carry to be resumed:
    the spec without provenance, the settings, the data source and task, the seed."""
    from roadmap.evaluation.data import load_data
    from roadmap.evaluation.tasks import DEFAULT_TASK

    dataset = load_data(data, task=task or DEFAULT_TASK, val_crop=fid.val_crop, val_count=fid.val_count,
                        train_crop=fid.crop)
    body = dataclasses.replace(spec, provenance={}).to_yaml()
    return dataset, _fingerprint(body, fid, f"{dataset.source}|{dataset.description}", seed)


def _read_checkpoint(path: Path, fingerprint: str, model: Any) -> "TrainCheckpoint | None":
    """Load ``path``'s weights into ``model`` and return its `TrainCheckpoint`; None when
    there is no checkpoint. RoadmapError for an unreadable or foreign one."""
    import torch

    from roadmap.evaluation.training import TrainCheckpoint

    if not path.exists():
        return None
    try:
        # On the CPU: the generator state must be a CPU tensor; load_state_dict copies the
        # weights to the model's device and the optimiser moves its state to the parameters'.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file
        raise RoadmapError(f"cannot read checkpoint {path} ({type(exc).__name__}); use --restart") from None
    if not isinstance(ckpt, dict) or ckpt.get("fingerprint") != fingerprint:
        raise RoadmapError(
            f"checkpoint {path} is for another spec, data or settings; use --restart to start over"
        )
    model.load_state_dict(ckpt["model"])
    return TrainCheckpoint.from_dict(ckpt)


class _Checkpointer:
    """The ``on_step`` hook of :func:`train_spec`: writes ``<out>.ckpt`` (weights, the
    `TrainCheckpoint`, the fingerprint) every ``every`` iterations, at the last one and
    when stopping; asks `train` to stop once ``stop_after`` iterations are done."""

    def __init__(self, path: Path, fingerprint: str, spec_yaml: str, every: int, stop_after: int | None):
        self.path, self.fingerprint, self.spec_yaml = path, fingerprint, spec_yaml
        self.every, self.stop_after = every, stop_after

    def __call__(self, state: "StepState") -> bool:
        stop = self.stop_after is not None and state.step >= self.stop_after
        if stop or state.step % self.every == 0 or state.step == state.total:
            weights = {k: v.detach().cpu() for k, v in state.model.state_dict().items()}
            _atomic_save({"fingerprint": self.fingerprint, "model": weights, "spec_yaml": self.spec_yaml,
                          **state.checkpoint().to_dict()}, self.path, "checkpoint")
        return stop


def _validate(model: Any, dataset: Any, fid: Any, device: str) -> dict[str, float]:
    """PSNR / SSIM on the fixed validation crops (and ``test_psnr`` on the test crops), at the
    training's thread count."""
    import torch

    from roadmap.evaluation.quality import evaluate_quality
    from roadmap.evaluation.threads import torch_threads

    with torch_threads(fid.threads if torch.device(device).type == "cpu" else None):
        scores = evaluate_quality(model.eval(), dataset.val_input.to(device), dataset.val_clean.to(device),
                                  task=dataset.task)
        if dataset.test_input is not None:
            test = evaluate_quality(model, dataset.test_input.to(device), dataset.test_clean.to(device),
                                    task=dataset.task)
            scores.update(test_psnr=test["psnr"], test_input_psnr=test["input_psnr"])
        return scores


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
    task: Any = None,
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
        task: the restoration `Task` (default: denoising at sigma 25); ``spec`` must fit it.
        progress: called every 10 iterations and at the end.
        stop_after: stop (after checkpointing) once this many iterations are done in total;
            for tests of the resume and for time-boxed runs. The output is then not written.

    Raises:
        RoadmapError: bad data, a checkpoint for another spec/settings (use ``restart``), or a
            diverging loss.
    """
    import torch

    from roadmap.build import build_model
    from roadmap.evaluation.training import train

    fid = fidelity if fidelity is not None else full_fidelity()
    out = _output_path(out, checkpoint_every)
    ckpt_path = checkpoint_path(out)
    dataset, key = _data_and_fingerprint(spec, data, fid, task, seed)
    torch.manual_seed(seed)
    model = build_model(spec).to(device)
    start = None if restart else _read_checkpoint(ckpt_path, key, model)
    resumed_from = start.step if start is not None else 0
    hook = _Checkpointer(ckpt_path, key, spec.to_yaml(), checkpoint_every, stop_after)
    result = train(model, dataset, fid, seed, device, start=start, on_step=hook, progress=progress)
    if result.status == "diverged":
        last = ckpt_path if ckpt_path.exists() else "none"
        raise RoadmapError(f"training diverged: {result.reason} (last checkpoint: {last}); try a lower --lr")
    if result.status == "stopped":
        return TrainOutcome(out, result.iterations, resumed_from, {}, result.seconds)
    val, seconds = _validate_and_save(model, spec, dataset, fid, device, seed, result.seconds, out)
    return TrainOutcome(out, fid.iterations, resumed_from, val, seconds)


def _validate_and_save(model: Any, spec: Any, dataset: Any, fid: Any, device: str, seed: int,
                       trained_seconds: float, out: Path) -> tuple[dict, float]:
    """Score the trained model (`_validate`) and write the weights file with what produced it;
    ``(scores, seconds including the validation)``."""
    t0 = time.perf_counter()
    val = _validate(model, dataset, fid, device)
    seconds = trained_seconds + time.perf_counter() - t0
    _atomic_save(
        {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "spec_yaml": spec.to_yaml(),
         "iterations": fid.iterations, "fidelity": fid.to_dict(), "data": dataset.source, "task": dataset.task.to_dict(),
         "seed": seed, "val": val, "seconds": seconds},
        out, "--out",
    )
    return val, seconds


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
