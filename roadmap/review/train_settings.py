"""The settings of a full training (``roadmap train``), resolved and checked once.

:func:`resolve_train_settings` turns the command's options into a frozen :class:`TrainSettings`
or raises one `RoadmapError` line naming the option and the value: a batch the workers cannot
share, more workers than CPUs or GPUs, an unreachable ``--address``, a precision the device
cannot run. Everything after it (`roadmap.review.train`) reads the object, never the options.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

__all__ = ["TrainSettings", "full_fidelity", "resolve_train_settings", "resolve_precision", "PRECISION_CHOICES"]

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
DEFAULT_EMA = 0.999  # BasicSR's ema_decay


def full_fidelity(**overrides: Any):
    """The settings of a full training: the ``long`` preset with 128x128 crops, overridable."""
    from roadmap.evaluation.fidelity import PRESETS

    base = dataclasses.replace(PRESETS["long"], name="train", crop=128, threads=None)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return dataclasses.replace(base, **overrides)
    except TypeError as exc:
        raise RoadmapError(f"train: {exc}") from None


@dataclass(frozen=True)
class TrainSettings:
    """How ``roadmap train`` trains, checked.

    ``fidelity``: the optimisation -- ``batch`` is the GLOBAL batch (each of ``workers`` workers
    trains on ``batch / workers`` crops of it), ``lr`` its peak learning rate (not scaled with the
    worker count, since the global batch does not change), ``threads`` each worker's CPU threads,
    ``grad_clip`` the max gradient norm. ``seed``: weights and batches. ``device``: ``cpu``,
    ``cuda`` or ``cuda:N`` in this process; ``cpu`` or ``cuda`` on Ray, where a worker gets
    ``gpus_per_worker`` GPUs. ``precision``: ``auto`` (bf16 on a GPU that has it, else fp16; fp32
    on the CPU), ``fp32``, ``bf16`` or ``fp16``. ``ema``: decay of the weight average that is
    validated and exported (0: none). Every ``validate_every`` iterations the exported weights
    are scored on the validation crops (the best kept), every ``checkpoint_every`` the training
    is saved, every ``log_every`` a progress line and a CSV row are written. ``address``: a Ray
    cluster (``None``: Ray is started here when ``workers > 1`` or GPUs per worker are asked).
    ``init``: a weights file carried through the spec's roadmap to start from. ``stop_after``:
    stop after that many iterations (tests, time-boxed runs). ``tensorboard``: a folder for
    TensorBoard event files.
    """

    fidelity: Any = field(default_factory=full_fidelity)
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"
    ema: float = DEFAULT_EMA
    validate_every: int = 300
    checkpoint_every: int = 100
    log_every: int = 100
    workers: int = 1
    gpus_per_worker: int = 0
    address: str | None = None
    init: str | None = None
    restart: bool = False
    stop_after: int | None = None
    tensorboard: str | None = None

    @property
    def on_ray(self) -> bool:
        """Whether the training runs on Ray Train workers rather than in this process."""
        return self.workers > 1 or self.address is not None or self.gpus_per_worker > 0

    @property
    def worker_batch(self) -> int:
        """Crops each worker trains on per step."""
        return self.fidelity.batch // self.workers

    @property
    def cpus_per_worker(self) -> int:
        """CPUs a Ray worker reserves: its torch threads on the CPU, one beside a GPU."""
        return (self.fidelity.threads or 1) if self.device == "cpu" else 1

    def describe(self, precision: str | None = None) -> str:
        """One line for the log: iterations, global batch and its split, lr, precision, EMA."""
        f = self.fidelity
        split = f" ({self.workers} workers x {self.worker_batch})" if self.workers > 1 else ""
        clip = "off" if f.grad_clip is None else f"{f.grad_clip:g}"
        ema = f"EMA {self.ema:g}" if self.ema else "no EMA"
        return (
            f"{f.iterations} iterations, global batch {f.batch}{split} of {f.crop}x{f.crop} crops, "
            f"lr {f.lr:g} cosine to {f.min_lr:g} (that of the global batch: not scaled with the workers), "
            f"{precision or self.precision}, {ema}, grad clip {clip}, validation every "
            f"{self.validate_every} iterations"
        )


def resolve_train_settings(
    *,
    iterations: int | None = None,
    batch: int | None = None,
    crop: int | None = None,
    lr: float | None = None,
    grad_clip: float | None = None,
    threads: int | None = None,
    fidelity: Any = None,
    device: str | None = None,
    gpus_per_worker: int | None = None,
    workers: int = 1,
    address: str | None = None,
    precision: str = "auto",
    ema: float | None = None,
    validate_every: int | None = None,
    init: str | None = None,
    tensorboard: str | None = None,
    **rest: Any,
) -> TrainSettings:
    """A checked `TrainSettings` from the options (``None``: the default). ``fidelity`` replaces
    the `full_fidelity` base; ``rest``: the plain fields (``seed``, ``checkpoint_every``,
    ``log_every``, ``restart``, ``stop_after``). Raises `RoadmapError` naming the option."""
    fid = _training_fidelity(
        fidelity, iterations=iterations, batch=batch, crop=crop, lr=lr, grad_clip=grad_clip, threads=threads
    )
    _check_workers(fid.batch, workers)
    if address is not None:
        from roadmap.search.ray_backend import check_address

        check_address(address)  # fail now, not after minutes of Ray's own retries
    device, gpus = _device_and_gpus(device, gpus_per_worker, workers > 1 or address is not None)
    _check_precision(precision, device)
    ema = _checked_outputs(ema, init, tensorboard)
    settings = TrainSettings(
        fidelity=fid,
        device=device,
        gpus_per_worker=gpus,
        workers=workers,
        address=address,
        precision=precision,
        ema=ema,
        init=None if init is None else str(init),
        validate_every=validate_every or max(1, fid.iterations // 10),
        tensorboard=tensorboard,
        **rest,
    )
    if settings.on_ray:
        _check_local_resources(settings)
    return settings


def _checked_outputs(ema: float | None, init: str | None, tensorboard: str | None) -> float:
    """The EMA decay (default `DEFAULT_EMA`), once it, ``--init`` and ``--tensorboard`` are usable."""
    ema = DEFAULT_EMA if ema is None else ema
    if not 0 <= ema < 1:
        raise RoadmapError(f"--ema {ema:g}: must be in [0, 1) (0 turns the weight average off)")
    if init is not None and not Path(init).is_file():
        raise RoadmapError(f"--init {init}: no such file")
    if tensorboard is not None:
        _tensorboard_writer_class()
    return ema


def _training_fidelity(base: Any, **given: Any) -> Any:
    """``base`` (default `full_fidelity`) with the options ``given`` (``None``: left as is)."""
    fid = base if base is not None else full_fidelity()
    fid = dataclasses.replace(fid, **{k: v for k, v in given.items() if v is not None})
    if given["lr"] is not None and fid.min_lr > fid.lr:  # a lower peak keeps the schedule's shape
        fid = dataclasses.replace(fid, min_lr=fid.lr * 1e-3)
    return fid


def _check_workers(batch: int, workers: int) -> None:
    if workers < 1:
        raise RoadmapError(f"--workers {workers}: must be >= 1")
    if batch % workers:
        raise RoadmapError(
            f"--batch {batch}: not a multiple of --workers {workers} (the global batch is shared "
            f"equally: try --batch {batch - batch % workers or workers})"
        )


def _device_and_gpus(device: str | None, gpus: int | None, ray: bool) -> tuple[str, int]:
    """``(device, GPUs per worker)``: ``--gpus-per-worker`` implies CUDA; on Ray, ``--device
    cuda`` implies one GPU per worker and Ray, not the user, numbers them."""
    from roadmap.evaluation.device import check_device

    if gpus and device not in (None, "cuda"):
        raise RoadmapError(
            f"--device {device}: cannot go with --gpus-per-worker {gpus} (each worker trains on "
            "the GPUs Ray gives it; leave --device out or use cuda)"
        )
    device = device or ("cuda" if gpus else "cpu")
    if not (ray or gpus):
        return check_device(device), 0
    check_device(device, remote=True)
    if device not in ("cpu", "cuda"):
        raise RoadmapError(f"--device {device}: with Ray workers use cpu or cuda (Ray gives each worker its GPU)")
    return device, gpus if gpus is not None else int(device == "cuda")


def _check_precision(precision: str, device: str) -> None:
    if precision not in PRECISION_CHOICES:
        raise RoadmapError(f"--precision {precision}: one of {', '.join(PRECISION_CHOICES)}")
    if precision == "fp16" and not device.startswith("cuda"):
        raise RoadmapError("--precision fp16: needs CUDA (on the CPU use fp32, or bf16)")


def resolve_precision(precision: str, device: Any) -> str:
    """The precision a worker trains in: ``auto`` is bf16 on a GPU that supports it, fp16 on an
    older GPU, fp32 on the CPU (where autocast is slower, not faster)."""
    import torch

    if precision != "auto":
        return precision
    if torch.device(device).type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _check_local_resources(settings: TrainSettings) -> None:
    """Without ``--address`` the workers run on this machine: refuse more than it has (Ray
    would wait for them for ever). A cluster's resources are checked once connected
    (`roadmap.review.ray_train.check_resources`)."""
    if settings.address is not None:
        return
    need = settings.workers * settings.cpus_per_worker
    have = available_cpus()
    if need > have:
        raise RoadmapError(
            f"--workers {settings.workers}: needs {need} CPUs ({settings.workers} workers x "
            f"{settings.cpus_per_worker} thread(s)), this machine has {have}"
        )
    if settings.gpus_per_worker:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        need = settings.workers * settings.gpus_per_worker
        if need > gpus:
            raise RoadmapError(
                f"--gpus-per-worker {settings.gpus_per_worker}: {settings.workers} worker(s) need "
                f"{need} GPU(s), this machine has {gpus}"
            )


def _tensorboard_writer_class() -> Any:
    """``SummaryWriter`` from torch (needs the tensorboard package) or tensorboardX."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        pass
    else:
        return SummaryWriter
    try:
        from tensorboardX import SummaryWriter as WriterX
    except ImportError:
        raise RoadmapError(
            "--tensorboard: needs the tensorboard or tensorboardX package (pip install tensorboard)"
        ) from None
    return WriterX
