"""Full training of an exported architecture (``roadmap train``): resumable, data-parallel on
Ray Train, from carried weights, with the habits of restoration training.

It uses the evaluation pipeline so a retrained winner sees exactly the data and the step loop a
trial saw: ``load_data`` (embedded photographs, a folder of clean images, or input/target
pairs) and the one loop, ``roadmap.evaluation.training.train`` (``TrainSampler`` crops, the
fidelity's loss, AdamW with cosine decay, gradient clipping, mixed precision). What it adds
goes through the loop's ``on_step`` hook (`roadmap.review.train_monitor.Monitor`, rank 0 only):
the weight average that is validated and exported, validation every K iterations with the best
weights kept, checkpoints, a CSV log and a progress line.

:func:`train_spec` checks everything first (where it writes, the data, the checkpoint it would
resume, the ``--init`` weights, Ray's resources) and writes nothing before; then
:func:`run_replica` trains -- in this process for one worker, or on every Ray Train worker
(`roadmap.review.ray_train`) with a DDP `Replica`, which shards each global batch. A checkpoint
holds the global state (raw and averaged weights, optimiser, batch generator), so a run resumes
with any worker count and, up to floating-point noise, ends where an uninterrupted one would.

The weights file (``torch.save`` dict): ``state_dict`` (the exported weights: the average),
``raw_state_dict``, ``spec_yaml``, ``iterations``, ``fidelity``, ``data``, ``task``, ``seed``,
``val`` (validation PSNR / SSIM, the raw weights' PSNR, test PSNR), ``best`` (iteration, scores
and path of the best validated weights), ``seconds``, ``ema``, ``workers``, ``precision``,
``init``. :func:`load_weights` builds the spec and loads ``state_dict``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roadmap.errors import RoadmapError
from roadmap.review.train_monitor import TrainPaths
from roadmap.review.train_settings import TrainSettings, full_fidelity, resolve_train_settings

if TYPE_CHECKING:  # annotations only: this module imports torch lazily, inside functions
    import torch

    from roadmap.evaluation.training import Replica

__all__ = [
    "TrainOutcome",
    "TrainJob",
    "TrainSettings",
    "full_fidelity",
    "resolve_train_settings",
    "prepare_job",
    "train_spec",
    "run_replica",
    "checkpoint_path",
    "load_weights",
]

LogFn = Callable[[str], None]


@dataclass
class TrainOutcome:
    """What a training did: the weights file ``out``, ``iterations`` done, the iteration it
    ``resumed_from`` (0: a fresh start), the final weights' scores ``val`` (``psnr``, ``ssim``,
    ``input_psnr``, ``raw_psnr``, ``test_psnr``, ``test_input_psnr``; empty when stopped early),
    the ``best`` validated weights (``step``, ``psnr``, ``test_psnr``, ``path``) and ``seconds``."""

    out: Path
    iterations: int
    resumed_from: int
    val: dict
    seconds: float
    best: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class TrainJob:
    """Everything a worker needs, shipped whole to Ray workers (they read no input file):
    the spec (``spec_yaml``), the checked ``settings``, the loaded ``data``, the output
    ``paths``, the ``fingerprint`` a checkpoint must carry, and the start: a checkpoint dict
    (``start``: weights, average, optimiser, generator, log rows) or carried weights
    (``init_state``), or neither (random weights of ``settings.seed``)."""

    spec_yaml: str
    settings: TrainSettings
    data: Any
    paths: TrainPaths
    fingerprint: str
    start: dict | None = None
    init_state: dict | None = None


def checkpoint_path(out: str | Path) -> Path:
    """``<out>.ckpt``: where the training's checkpoint goes."""
    return TrainPaths.of(out).checkpoint


def _fingerprint(spec: Any, settings: TrainSettings, dataset: Any) -> str:
    """What a checkpoint must match to be resumed: the spec without provenance, the
    optimisation (not the threads), the data and task, the seed, the average, the ``--init``
    file's bytes. Not the worker count, device or precision: a run may resume elsewhere."""
    from roadmap.review.init_weights import file_digest

    body = dataclasses.replace(spec, provenance={}).to_yaml()
    fid = dataclasses.replace(settings.fidelity, threads=None).to_dict()
    init = file_digest(settings.init) if settings.init else ""
    text = "\n".join(
        [
            body,
            repr(sorted(fid.items())),
            f"{dataset.source}|{dataset.description}",
            str(settings.seed),
            f"ema {settings.ema}",
            f"init {init}",
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_checkpoint(path: Path, fingerprint: str, spec: Any) -> dict | None:
    """The checkpoint dict at ``path`` (CPU tensors), None when there is none. RoadmapError,
    naming it, for an unreadable one or one of another spec, data or settings."""
    import torch

    from roadmap.spec import load_spec

    if not path.exists():
        return None
    try:
        # On the CPU: the generator state must be a CPU tensor; load_state_dict copies the
        # weights to the model's device and the optimiser moves its state to the parameters'.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file
        raise RoadmapError(f"cannot read checkpoint {path} ({type(exc).__name__}); use --restart") from None
    if not isinstance(ckpt, dict):
        raise RoadmapError(f"checkpoint {path}: not a checkpoint of roadmap train; use --restart or another --out")
    if ckpt.get("fingerprint") != fingerprint:
        theirs = _spec_name(ckpt.get("spec_yaml"), load_spec)
        if theirs is not None and dataclasses.replace(theirs, provenance={}) != dataclasses.replace(
            spec, provenance={}
        ):
            from roadmap.review.init_weights import spec_label

            raise RoadmapError(
                f"checkpoint {path} is for another spec ({spec_label(theirs)}), not "
                f"{spec_label(spec)}; use --restart to start over, or another --out"
            )
        raise RoadmapError(f"checkpoint {path} is for another spec, data or settings; use --restart to start over")
    return ckpt


def _spec_name(spec_yaml: Any, load_spec: Callable) -> Any:
    """The spec a checkpoint records, None when it records none readable."""
    try:
        return load_spec(spec_yaml) if isinstance(spec_yaml, str) else None
    except RoadmapError:
        return None


def prepare_job(
    spec: Any, out: str | Path, settings: TrainSettings, data: Any = None, task: Any = None, log: LogFn | None = None
) -> TrainJob:
    """The `TrainJob` of a training, after every check that precedes any work, in the order a
    user fixes them: where it writes, the data, the checkpoint it would resume (read into the
    job), the ``--init`` weights it would start from (carried into the job, the share logged)."""
    log = log or (lambda line: None)
    from roadmap.evaluation.data import load_data
    from roadmap.evaluation.tasks import DEFAULT_TASK

    paths = TrainPaths.of(out)
    paths.check()
    fid = settings.fidelity
    dataset = load_data(
        data, task=task or DEFAULT_TASK, val_crop=fid.val_crop, val_count=fid.val_count, train_crop=fid.crop
    )
    key = _fingerprint(spec, settings, dataset)
    start = None if settings.restart else _read_checkpoint(paths.checkpoint, key, spec)
    init_state = None
    if start is not None:
        log(f"resuming from {paths.checkpoint} at iteration {int(start['step'])}")
    elif settings.init is not None:
        from roadmap.review.init_weights import carried_start

        carried = carried_start(spec, settings.init, settings.seed)
        log(carried.line())
        init_state = carried.state
    return TrainJob(spec.to_yaml(), settings, dataset, paths, key, start, init_state)


def train_spec(
    spec: Any,
    out: str | Path,
    settings: TrainSettings | None = None,
    *,
    data: Any = None,
    task: Any = None,
    log: LogFn | None = None,
) -> TrainOutcome:
    """Train ``spec`` with ``settings`` (default `TrainSettings()`), resuming from
    ``<out>.ckpt`` when it exists, and save the weights to ``out``.

    Args:
        spec: the architecture (``UNetSpec``), made fit for ``task`` (`for_task`).
        out: the weights file to write (``.pt``); its checkpoint, best weights and CSV log go
            beside it (`TrainPaths`).
        settings: a `TrainSettings` (`resolve_train_settings` checks the options).
        data: a data folder (see ``roadmap.evaluation.data``), None for the embedded photos, or
            a loaded `RestorationData`.
        task: the restoration `Task` (default: denoising at sigma 25).
        log: where progress lines go (the header, one line every ``log_every`` iterations).

    Returns the `TrainOutcome`; with ``settings.stop_after`` the run stops after checkpointing
    and writes no weights file (``val`` empty).

    Raises:
        RoadmapError: bad data, a checkpoint for another spec/settings (use ``restart``),
            ``--init`` weights that cannot be carried, Ray that cannot start or lacks the
            workers' resources, or a diverging loss. Nothing is written before these checks.
    """
    settings = settings or TrainSettings()
    log = log or (lambda line: None)
    job = prepare_job(spec, out, settings, data, task, log)
    resumed_from = int(job.start["step"]) if job.start else 0
    if settings.on_ray:
        from roadmap.review.ray_train import run_on_ray

        run_on_ray(job, log)
    else:
        import torch

        run_replica(job, None, torch.device(settings.device), log)
    return _outcome(job, resumed_from)


def run_replica(job: TrainJob, replica: Replica | None, device: torch.device, log: LogFn | None) -> None:
    """Train ``job`` as one worker: ``replica`` (None: alone, in this process) on ``device``.
    Rank 0 monitors (weight average, validation, checkpoints, log lines to ``log``) and
    writes the weights file; every rank raises `RoadmapError` when the loss diverges."""
    import torch

    from roadmap.build import build_model
    from roadmap.evaluation.training import ALONE, TrainCheckpoint, train
    from roadmap.review.train_monitor import Monitor, StopAt
    from roadmap.review.train_settings import resolve_precision
    from roadmap.spec import load_spec

    s, replica = job.settings, replica or ALONE
    precision = resolve_precision(s.precision, device)
    torch.manual_seed(s.seed)  # the initial weights, alike on every worker
    model = build_model(load_spec(job.spec_yaml)).to(device)
    start = None
    if job.start is not None:
        model.load_state_dict(job.start["model"])
        start = TrainCheckpoint.from_dict(job.start)
    elif job.init_state is not None:
        model.load_state_dict(job.init_state)
    monitor = Monitor(job, model, precision, replica.world, log) if replica.rank == 0 else None
    if monitor is not None and log is not None:
        from roadmap.review.init_weights import spec_label

        log(
            f"training {spec_label(load_spec(job.spec_yaml))} on {replica.world} worker(s), {device.type}: "
            f"{s.describe(precision)}"
        )
    result = train(
        model,
        job.data,
        s.fidelity,
        s.seed,
        device,
        start=start,
        replica=replica,
        on_step=monitor or StopAt(s.stop_after),
        precision=precision,
    )
    if result.status == "diverged":
        last = job.paths.checkpoint if job.paths.checkpoint.exists() else "none"
        raise RoadmapError(f"training diverged: {result.reason} (last checkpoint: {last}); try a lower --lr")
    if result.status == "ok" and monitor is not None:
        monitor.finish(model, result.seconds)


def _outcome(job: TrainJob, resumed_from: int) -> TrainOutcome:
    """The outcome as rank 0 left it on disk: the weights file, or the checkpoint of a run
    stopped early (``stop_after``)."""
    import torch

    s, paths = job.settings, job.paths
    if s.stop_after is not None and s.stop_after < s.fidelity.iterations:
        ckpt = torch.load(paths.checkpoint, map_location="cpu", weights_only=False)
        return TrainOutcome(paths.out, int(ckpt["step"]), resumed_from, {}, float(ckpt.get("seconds", 0.0)))
    saved = torch.load(paths.out, map_location="cpu", weights_only=False)
    return TrainOutcome(
        paths.out,
        int(saved["iterations"]),
        resumed_from,
        dict(saved["val"]),
        float(saved["seconds"]),
        dict(saved.get("best") or {}),
    )


def load_weights(spec: Any, path: str | Path):
    """``build_model(spec)`` with the weights saved by :func:`train_spec` (its exported
    ``state_dict``: the weight average) or a bare state dict, in eval mode."""
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
