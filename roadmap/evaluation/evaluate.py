"""`evaluate_spec`: everything one trial measures about a spec, as one flat dict.

Order: the data first (a bad folder is the user's error and raises), then the
static analysis, then the model is built, its latency and memory measured (cheap,
and known even if training fails), then the proxy training and the validation
scores. A model that diverges or fails comes back with a status, never an
exception, so a search can record it and go on.
"""
from __future__ import annotations

import math
import time
import traceback
from pathlib import Path

import torch

from roadmap.evaluation.data import DEFAULT_SIGMA, DenoiseData, load_data
from roadmap.evaluation.fidelity import Fidelity, get_fidelity
from roadmap.evaluation.latency import measure_latency
from roadmap.evaluation.memory import measure_peak_memory
from roadmap.evaluation.quality import evaluate_quality
from roadmap.evaluation.threads import torch_threads
from roadmap.evaluation.training import ProgressFn, train

LATENCY_HW = (256, 256)
RESULT_KEYS = (
    "psnr", "ssim", "noisy_psnr", "latency_ms", "latency_cv", "peak_memory_measured_bytes",
    "peak_memory_predicted_bytes", "params", "macs", "train_seconds", "status", "fidelity", "device",
)


def _analysis(spec, hw: tuple[int, int], device: str = "cpu") -> dict:
    """params / macs / predicted peak bytes from the static analysis (None if it fails:
    a missing number must not hide the measured ones). On the CPU the prediction includes
    the convolution workspaces PyTorch's CPU kernels allocate (``peak_memory_cpu_bytes``)."""
    try:
        from roadmap.analysis import analyze

        a = analyze(spec, hw)
        cpu = torch.device(device).type == "cpu"
        predicted = a.peak_memory_cpu_bytes if cpu else a.peak_activation_bytes
        return {"params": int(a.params), "macs": int(a.macs), "peak_memory_predicted_bytes": int(predicted)}
    except Exception:  # noqa: BLE001 -- reported as missing numbers, see `reason`
        return {}


def _short(exc: BaseException) -> str:
    """One line naming the exception and where it happened (for ``reason``)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}{where}"


def evaluate_spec(
    spec,
    fidelity: "str | Fidelity | dict" = "default",
    data: "None | str | Path | DenoiseData" = None,
    device: str = "cpu",
    random_seed: int = 0,
    measure: bool = True,
    *,
    sigma: float = DEFAULT_SIGMA,
    threads: int | None = None,
    latency_hw: tuple[int, int] = LATENCY_HW,
    latency_repeats: int = 15,
    progress: ProgressFn | None = None,
) -> dict:
    """Train ``spec`` at ``fidelity`` and measure it; returns the `RESULT_KEYS` dict.

    ``spec``: a `UNetSpec`, or a seed name / spec path for `roadmap.resolve_spec`.
    ``data``: ``None`` (embedded photographs), a folder, or a loaded `DenoiseData`
    (a search loads it once). ``threads``: CPU threads for training, latency and
    memory (default: ``fidelity.threads``, 1 for the presets). ``measure=False``
    skips latency and measured memory (their keys are ``None``). Latency and
    memory use a ``1 x C x latency_hw`` input.

    ``status`` is ``ok``, ``diverged`` (non-finite loss or output; ``psnr`` and
    ``ssim`` are ``None``) or ``failed`` (any other exception, e.g. a spec that
    does not build); both carry a one-line ``reason``. Raises `RoadmapError`
    only for bad data (folder, files, crop sizes) or a bad fidelity.
    """
    fid = get_fidelity(fidelity)
    if threads is not None:
        fid = Fidelity.from_dict({**fid.to_dict(), "threads": int(threads)})
    measure_threads = fid.threads
    dataset = load_data(data, sigma=sigma, val_crop=fid.val_crop, val_count=fid.val_count,
                        train_crop=fid.crop)
    result: dict = {key: None for key in RESULT_KEYS}
    result.update(fidelity=fid.name, device=str(device), status="ok",
                  noisy_psnr=_noisy_psnr(dataset))
    with torch.random.fork_rng(devices=_rng_devices(device)):  # keep the caller's RNG state
        try:
            if isinstance(spec, (str, Path)):
                from roadmap.seeds import resolve_spec

                spec = resolve_spec(str(spec))
            result.update(_analysis(spec, latency_hw, device))
            in_channels = getattr(spec, "in_channels", 3)
            if in_channels != dataset.val_noisy.shape[1]:
                raise ValueError(
                    f"the spec takes {in_channels} input channels, the data has {dataset.val_noisy.shape[1]}"
                )
            torch.manual_seed(random_seed)  # weight initialisation
            model = _build(spec)
            if result["params"] is None:
                result["params"] = sum(p.numel() for p in model.parameters())
            if measure:
                result.update(_measure(model, (1, in_channels, *latency_hw), device,
                                       measure_threads, latency_repeats))
            _train_and_score(model, dataset, fid, device, random_seed, progress, result)
        except Exception as exc:  # noqa: BLE001 -- a failing trial is data, not a crash
            result.update(status="failed", reason=_short(exc), psnr=None, ssim=None)
    return result


def _rng_devices(device) -> list[int]:
    d = torch.device(device)
    return [d.index or 0] if d.type == "cuda" else []


def _build(spec) -> torch.nn.Module:
    from roadmap.build import build_model

    return build_model(spec)


def _measure(model, shape, device, threads, repeats) -> dict:
    lat = measure_latency(model, shape, device, threads=threads, repeats=repeats)
    mem = measure_peak_memory(model, shape, device, threads=threads)
    return {"latency_ms": lat.median_ms, "latency_cv": lat.cv,
            "peak_memory_measured_bytes": mem.peak_bytes}


def measure_spec(
    spec,
    device: str = "cpu",
    threads: int | None = 1,
    latency_hw: tuple[int, int] = LATENCY_HW,
    latency_repeats: int = 15,
    random_seed: int = 0,
) -> dict:
    """Latency and memory of the untrained model of ``spec`` (neither depends on the
    weights) plus its static figures: ``latency_ms``, ``latency_cv``,
    ``peak_memory_measured_bytes``, ``peak_memory_predicted_bytes``, ``params``,
    ``macs``. The same numbers `evaluate_spec` reports; exceptions propagate.
    """
    if isinstance(spec, (str, Path)):
        from roadmap.seeds import resolve_spec

        spec = resolve_spec(str(spec))
    out = {"params": None, "macs": None, "peak_memory_predicted_bytes": None}
    out.update(_analysis(spec, latency_hw, device))
    with torch.random.fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(random_seed)
        model = _build(spec)
    if out["params"] is None:
        out["params"] = sum(p.numel() for p in model.parameters())
    shape = (1, getattr(spec, "in_channels", 3), *latency_hw)
    out.update(_measure(model, shape, device, threads, latency_repeats))
    return out


def _noisy_psnr(data: DenoiseData) -> float:
    from roadmap.evaluation.quality import psnr

    return psnr(data.val_noisy.clamp(0, 1), data.val_clean)


def _train_and_score(model, data, fid, device, seed, progress, result) -> None:
    """Train, then score on the validation crops; fills ``result`` in place."""
    start = time.perf_counter()
    outcome = train(model, data, fid, seed, device=device, progress=progress)
    if outcome.status != "ok":
        result.update(status=outcome.status, reason=outcome.reason,
                      train_seconds=time.perf_counter() - start)
        return
    # Same thread count as training: CPU reductions depend on it, and the PSNR must
    # not depend on the caller's setting.
    with torch_threads(fid.threads if torch.device(device).type == "cpu" else None):
        scores = evaluate_quality(model.to(device), data.val_noisy.to(device), data.val_clean.to(device))
    result["train_seconds"] = time.perf_counter() - start
    if not math.isfinite(scores["psnr"]):
        result.update(status="diverged", reason="the trained model's output is not finite")
        return
    result.update(psnr=scores["psnr"], ssim=scores["ssim"], noisy_psnr=scores["noisy_psnr"])
