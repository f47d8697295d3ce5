"""`evaluate_spec`: everything one trial measures about a spec, as one flat dict.

Order: the data first (a bad folder is the user's error and raises), then the
static analysis, then the model is built, its latency and memory measured (cheap,
and known even if training fails), then the proxy training and the validation
scores. A model that diverges or fails comes back with a status, never an
exception, so a search can record it and go on.

Scores: ``psnr`` / ``ssim`` on the validation crops (for ``sr`` on the Y channel with borders
shaved, ``psnr_rgb`` beside them), ``input_psnr`` the degraded input's own (the baseline: noisy,
blurred, bicubic, JPEG), ``test_psnr`` / ``test_input_psnr`` the same on the test images (``None``
when the data has none; never used to choose anything). ``loss_curve``: mean loss of each block
of 10 iterations (``None`` when training did not run).

Rungs: rung ``k`` of ``fidelity.rungs`` is its own training segment (`Fidelity.rung_fidelity`)
with the batch seed ``random_seed + 1000 k``, so a search that trains rung ``k`` from the
weights rung ``k - 1`` saved gets exactly the network one call trains in one go.

Latency, memory, ``params`` and ``macs`` are the deployed network's: RRRBs (``reparam``) train
multi-branch and are measured folded; a failing latency command fails the trial. A
deep-supervised UNet++ (``nested.deep_supervision``) trains with the loss averaged over its heads,
and one training scores every depth: ``psnr_by_depth`` / ``ssim_by_depth`` are ``{depth: value}``
for each head (``None`` where its output is not finite; both ``None`` for other networks), and
``psnr`` / ``ssim`` are those of the spec's own depth.

Weights in and out (multi-fidelity rungs, weight inheritance): ``init_weights`` loads a
file into the freshly built model so training continues from it; ``save_weights`` writes
the trained weights (``{"state_dict", "spec_yaml", "iterations", "psnr"}``) atomically.
A weights file that cannot be read or does not fit the spec fails the trial, with a
reason naming the file.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from roadmap.errors import RoadmapError
from roadmap.evaluation.data import RestorationData, load_data
from roadmap.evaluation.fidelity import Fidelity, get_fidelity
from roadmap.evaluation.latency import Clock, LatencyConfig, LatencyError, measure_models, measure_with
from roadmap.evaluation.memory import measure_peak_memory
from roadmap.evaluation.quality import evaluate_heads, evaluate_quality
from roadmap.evaluation.tasks import DEFAULT_TASK, Task
from roadmap.evaluation.threads import torch_threads
from roadmap.evaluation.training import ProgressFn, train
from roadmap.files import WriteError
from roadmap.spec import deep_supervised

LATENCY_HW = (256, 256)
RESULT_KEYS = (
    "psnr",
    "ssim",
    "input_psnr",
    "test_psnr",
    "test_input_psnr",
    "psnr_rgb",
    "task",
    "latency_ms",
    "latency_cv",
    "latency_rounds",
    "latency_backend",
    "peak_memory_measured_bytes",
    "peak_memory_predicted_bytes",
    "params",
    "macs",
    "train_seconds",
    "loss_curve",
    "status",
    "fidelity",
    "device",
    "psnr_by_depth",
    "ssim_by_depth",
)


def _analysis(spec, hw: tuple[int, int], device: str = "cpu") -> dict:
    """params / macs / predicted peak bytes of the deployed network (``fold_spec``: RRRBs
    folded) from the static analysis (None if it fails: a missing number must not hide the
    measured ones). On the CPU the prediction includes the convolution workspaces PyTorch's
    CPU kernels allocate (``peak_memory_cpu_bytes``)."""
    try:
        from roadmap.analysis import analyze
        from roadmap.build import fold_spec

        a = analyze(fold_spec(spec), measured_hw(spec, hw))
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


def _steps(fid: Fidelity, rungs_trained: range) -> int:
    """Iterations trained by the rungs ``rungs_trained`` of ``fid`` (0 for none)."""
    if not rungs_trained:
        return 0
    first, last = rungs_trained[0], rungs_trained[-1]
    return fid.rung_iterations[last] - (fid.rung_iterations[first - 1] if first else 0)


def evaluate_spec(
    spec,
    fidelity: str | Fidelity | dict = "default",
    data: str | Path | RestorationData | None = None,
    device: str = "cpu",
    random_seed: int = 0,
    measure: bool = True,
    *,
    task: Task = DEFAULT_TASK,
    threads: int | None = None,
    latency_hw: tuple[int, int] = LATENCY_HW,
    latency_repeats: int = 15,
    progress: ProgressFn | None = None,
    init_weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    save_weights: str | Path | None = None,
    rungs: tuple[int, int] | None = None,
    latency: LatencyConfig | None = None,
    train: bool = True,
) -> dict:
    """Train ``spec`` at ``fidelity`` and measure it; returns the `RESULT_KEYS` dict.

    ``spec``: a `UNetSpec`, or a seed name / spec path. ``data``: ``None`` (embedded
    photographs), a folder, or a loaded `RestorationData` (its task then wins over ``task``, the
    `Task` whose up-scaling the spec's head must have: `for_task`). ``threads``: CPU threads for
    training, latency and memory (default ``fidelity.threads``). ``measure=False`` skips latency
    and measured memory; both use the input that produces a ``latency_hw`` output (`measured_hw`).
    Scores: see the module docstring. ``init_weights``: a weights file or state dict to continue
    from (fresh optimiser and schedule); ``save_weights``: where an ``ok`` training's weights go.
    ``rungs``: ``(first, last)`` rungs of ``fidelity.rungs`` to train (default: all, from scratch;
    a first rung above 0 needs ``init_weights``). ``latency``: the timing backend (`LatencyConfig`).
    ``train=False``: score ``init_weights`` as they are (``eval --weights``: the fidelity only sizes
    the validation and the threads). ``status``: ``ok``, ``diverged`` (non-finite loss or output)
    or ``failed`` (else), with a one-line ``reason``. Raises `RoadmapError` for bad data or fidelity.
    """
    fid = get_fidelity(fidelity)
    first, last = _rung_range(fid, rungs, init_weights)
    fid = fid if threads is None else Fidelity.from_dict({**fid.to_dict(), "threads": int(threads)})
    dataset = load_data(data, task=task, val_crop=fid.val_crop, val_count=fid.val_count, train_crop=fid.crop)
    result = _initial_result(fid, device, dataset)
    with torch.random.fork_rng(devices=_rng_devices(device)):  # keep the caller's RNG state
        try:
            timing = (measure, latency_hw, latency_repeats, latency)
            rungs_trained = range(first, last + 1) if train else range(0)
            weights = (init_weights, save_weights)
            _evaluate(
                _resolve(spec), dataset, fid, rungs_trained, result, device, random_seed, timing, weights, progress
            )
        except WriteError as exc:  # the disk, not the candidate: the search stops on it (write_fault)
            result.update(status="failed", reason=str(exc), psnr=None, ssim=None, write_fault=True)
        except (WeightsError, LatencyError) as exc:  # one line already naming the file / the command
            result.update(status="failed", reason=str(exc), psnr=None, ssim=None)
        except Exception as exc:  # noqa: BLE001 -- a failing trial is data, not a crash
            result.update(status="failed", reason=_short(exc), psnr=None, ssim=None)
    return result


def _initial_result(fid: Fidelity, device, dataset: RestorationData) -> dict:
    """Every `RESULT_KEYS` field, with what is known before anything trains."""
    known = {"fidelity": fid.name, "device": str(device), "status": "ok", "task": dataset.task.to_dict()}
    return dict.fromkeys(RESULT_KEYS) | known | {"input_psnr": _input_psnr(dataset)}


def _evaluate(
    spec,
    dataset,
    fid: Fidelity,
    rungs_trained: range,
    result: dict,
    device,
    random_seed: int,
    timing: tuple,
    weights: tuple,
    progress,
) -> None:
    """`evaluate_spec`'s work on a resolved spec, into ``result``: build (and load ``weights[0]``),
    measure (``timing``: whether, the output size, repeats, `LatencyConfig`), train
    ``rungs_trained``, score, save an ``ok`` training's weights to ``weights[1]``."""
    init_weights, save_weights = weights
    measure, latency_hw, repeats, latency = timing
    model, inherited = _prepared_model(spec, dataset, random_seed, init_weights, latency_hw, device, result)
    if measure:
        shape = _input_shape(spec, latency_hw)
        result.update(_measure(_deployed(model), shape, device, fid.threads, repeats, latency))
    _train_and_score(model, dataset, fid, rungs_trained, device, random_seed, progress, result)
    if result["status"] == "ok" and deep_supervised(spec):
        _score_depths(model, dataset, fid, device, result)
    if save_weights is not None and result["status"] == "ok":
        save_weights_file(save_weights, model, spec, inherited + _steps(fid, rungs_trained), result["psnr"])


def _prepared_model(spec, dataset, random_seed: int, init_weights, latency_hw, device, result: dict):
    """``(model, iterations its init_weights record)``: ``spec`` checked against the data's
    channels, built with the seeded initialisation, ``init_weights`` loaded; its static figures
    go into ``result``."""
    result.update(_analysis(spec, latency_hw, device))
    _check_channels(spec, dataset)
    torch.manual_seed(random_seed)  # weight initialisation
    model = _build(spec)
    inherited = 0 if init_weights is None else load_init_weights(model, init_weights)
    if result["params"] is None:
        result["params"] = sum(p.numel() for p in _deployed(model).parameters())
    return model, inherited


def _rung_range(fid: Fidelity, rungs: tuple[int, int] | None, init_weights) -> tuple[int, int]:
    """``(first, last)`` rung to train: all by default; a later first rung needs weights."""
    first, last = rungs if rungs is not None else (0, len(fid.rung_iterations) - 1)
    if not 0 <= first <= last < len(fid.rung_iterations) or (first > 0 and init_weights is None):
        raise RoadmapError(
            f"rungs {rungs}: not rungs of fidelity {fid.name!r} "
            f"({len(fid.rung_iterations)} rungs; a later first rung needs init_weights)"
        )
    return first, last


def _resolve(spec):
    """A `UNetSpec` from a spec, a seed name or a spec path."""
    if isinstance(spec, (str, Path)):
        from roadmap.seeds import resolve_spec

        return resolve_spec(str(spec))
    return spec


def _check_channels(spec, dataset: RestorationData) -> int:
    """The spec's input channels; ValueError when the data has another count or another
    up-scaling than the spec's head."""
    in_channels = getattr(spec, "in_channels", 3)
    if in_channels != dataset.val_input.shape[1]:
        raise ValueError(f"the spec takes {in_channels} input channels, the data has {dataset.val_input.shape[1]}")
    if spec.upscale != dataset.task.upscale:
        raise ValueError(
            f"the spec up-scales x{spec.upscale}, the task {dataset.task.name} needs "
            f"x{dataset.task.upscale} (see `for_task`)"
        )
    return in_channels


def measured_hw(spec, output_hw: tuple[int, int] = LATENCY_HW) -> tuple[int, int]:
    """The output size latency and memory are measured at: ``output_hw`` rounded down to whole
    low-resolution pixels of a super-resolution spec (255x255 at x3, whose input is 85x85)."""
    s = getattr(spec, "upscale", 1)
    return (output_hw[0] - output_hw[0] % s, output_hw[1] - output_hw[1] % s)


def _input_shape(spec, output_hw: tuple[int, int]) -> tuple[int, ...]:
    """``(1, C, h, w)``: the input of ``spec`` whose output is ``output_hw`` (smaller by the
    spec's up-scaling; see `measured_hw`)."""
    from roadmap.spec import input_hw

    return (1, getattr(spec, "in_channels", 3), *input_hw(spec, measured_hw(spec, output_hw)))


def _rng_devices(device) -> list[int]:
    d = torch.device(device)
    return [d.index or 0] if d.type == "cuda" else []


def _build(spec) -> torch.nn.Module:
    from roadmap.build import build_model

    return build_model(spec)


def _deployed(model) -> torch.nn.Module:
    """The network as deployed: RRRBs folded into single convs (a copy; ``model`` itself when it
    has none). What latency and memory are measured on."""
    from roadmap.build import fold_model

    return fold_model(model)


def _measure(model, shape, device, threads, repeats, latency: LatencyConfig | None = None) -> dict:
    """Latency on the configured backend (same threads as training) and measured peak memory."""
    lat = measure_with(model, shape, latency, device, threads, Clock(repeats=repeats))
    mem = measure_peak_memory(model, shape, device, threads=threads)
    return {**_latency_figures(lat), "peak_memory_measured_bytes": mem.peak_bytes}


def _latency_figures(report) -> dict:
    """The latency keys of a result from a `LatencyReport`."""
    return {
        "latency_ms": report.median_ms,
        "latency_cv": report.cv,
        "latency_rounds": report.rounds,
        "latency_backend": report.backend,
    }


def _untrained(spec, device, random_seed: int) -> torch.nn.Module:
    """``spec`` built with the initialisation of ``random_seed``, the caller's RNG untouched."""
    with torch.random.fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(random_seed)
        return _build(spec)


def measure_spec(
    spec,
    device: str = "cpu",
    threads: int | None = 1,
    latency_hw: tuple[int, int] = LATENCY_HW,
    latency_repeats: int = 15,
    random_seed: int = 0,
    latency: LatencyConfig | None = None,
) -> dict:
    """Latency and memory of the untrained model of ``spec`` (neither depends on the
    weights) plus its static figures: ``latency_ms``, ``latency_cv``, ``latency_rounds``,
    ``latency_backend``, ``peak_memory_measured_bytes``, ``peak_memory_predicted_bytes``,
    ``params``, ``macs``. The same numbers `evaluate_spec` reports; ``latency`` picks the
    backend (default eager torch); exceptions propagate (`LatencyError` for a failing command).

    All of them describe the deployed form: a spec with re-parameterised convs (``reparam``)
    is measured as ``fold_spec(spec)`` -- every RRRB folded into the single conv it computes --
    since the multi-branch form only exists for training (FMEN section 3.3).
    """
    if isinstance(spec, (str, Path)):
        from roadmap.seeds import resolve_spec

        spec = resolve_spec(str(spec))
    from roadmap.build import fold_spec

    spec = fold_spec(spec)  # latency and memory do not depend on the weights: build it folded
    out: dict[str, Any] = {"params": None, "macs": None, "peak_memory_predicted_bytes": None}
    out.update(_analysis(spec, latency_hw, device))
    model = _untrained(spec, device, random_seed)
    if out["params"] is None:
        out["params"] = sum(p.numel() for p in model.parameters())
    out.update(_measure(model, _input_shape(spec, latency_hw), device, threads, latency_repeats, latency))
    return out


def measure_latencies(
    specs,
    device: str = "cpu",
    threads: int | None = 1,
    latency_hw: tuple[int, int] = LATENCY_HW,
    latency_repeats: int = 15,
    latency: LatencyConfig | None = None,
) -> list[dict]:
    """Latencies of the untrained, folded models of ``specs`` timed **side by side**: one
    interleaved measurement (round k of every model before round k + 1 of any), so a machine
    whose speed drifts while it runs slows them alike and their ratios hold. One dict per spec:
    ``latency_ms``, ``latency_cv``, ``latency_rounds``, ``latency_backend``. The specs share
    the first one's input size."""
    from roadmap.build import fold_spec

    models = [_untrained(fold_spec(spec), device, 0) for spec in specs]
    shape = _input_shape(specs[0], latency_hw)
    config = latency or LatencyConfig()
    reports = measure_models([(m, config) for m in models], shape, device, threads, Clock(repeats=latency_repeats))
    return [_latency_figures(r) for r in reports]


def _input_psnr(data: RestorationData) -> float:
    """The degraded validation input's own PSNR, measured like the network's output."""
    from roadmap.evaluation.quality import baseline, score

    return score(baseline(data.val_input, data.task), data.val_clean, data.task)["psnr"]


def _train_and_score(model, data, fid, rungs, device, seed, progress, result) -> None:
    """Train the ``rungs`` segments in order, then score on the validation crops; fills
    ``result`` in place."""
    start = time.perf_counter()
    result["loss_curve"] = []
    for k in rungs:
        outcome = train(model, data, fid.rung_fidelity(k), seed + 1000 * k, device=device, progress=progress)
        result["loss_curve"] += outcome.loss_curve
        if outcome.status != "ok":
            result.update(
                status=outcome.status,
                reason=f"rung {k}: {outcome.reason}" if k else outcome.reason,
                train_seconds=time.perf_counter() - start,
            )
            return
    # Same thread count as training: CPU reductions depend on it, and the PSNR must
    # not depend on the caller's setting.
    with torch_threads(fid.threads if torch.device(device).type == "cpu" else None):
        scores = evaluate_quality(
            model.to(device), data.val_input.to(device), data.val_clean.to(device), task=data.task
        )
        test = (
            None
            if data.test_input is None
            else evaluate_quality(model, data.test_input.to(device), data.test_clean.to(device), task=data.task)
        )
    result["train_seconds"] = time.perf_counter() - start
    if not math.isfinite(scores["psnr"]):
        result.update(status="diverged", reason="the trained model's output is not finite")
        return
    result.update(
        psnr=scores["psnr"], ssim=scores["ssim"], input_psnr=scores["input_psnr"], psnr_rgb=scores.get("psnr_rgb")
    )
    if test is not None:
        result.update(test_psnr=_finite(test["psnr"]), test_input_psnr=test["input_psnr"])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _score_depths(model, data, fid, device, result) -> None:
    """``psnr_by_depth`` / ``ssim_by_depth`` of a deep-supervised UNet++ (every head, one pass);
    its own depth's figures are ``psnr`` / ``ssim`` already."""
    with torch_threads(fid.threads if torch.device(device).type == "cpu" else None):
        scores = evaluate_heads(model, data.val_input.to(device), data.val_clean.to(device), task=data.task)
    for key in ("psnr", "ssim"):
        result[f"{key}_by_depth"] = {d: s[key] if math.isfinite(s[key]) else None for d, s in scores.items()}


# ---------------------------------------------------------------- weights files


class WeightsError(RoadmapError):
    """A weights file that cannot be read or does not fit the spec (the message names it)."""


def read_weights(path: Path) -> tuple[dict, int]:
    """``(state dict, iterations recorded)`` from a weights file: a dict with a
    ``state_dict`` key (``save_weights``, ``roadmap train``) or a bare state dict."""
    if not path.is_file():
        raise WeightsError(f"init_weights {path}: file not found")
    try:
        # weights_only: tensors and plain containers only, no code runs from the file
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torn, foreign or not a torch file
        # torch's own message is many lines of advice about weights_only; the type is enough
        why = type(exc).__name__
        raise WeightsError(f"init_weights {path}: cannot read it as a weights file ({why})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"init_weights {path}: not a weights file (expected a state dict)")
    iterations = obj.get("iterations", 0) if "state_dict" in obj else 0
    return state, int(iterations or 0)


def _misfit(expected: dict, state: dict) -> str | None:
    """Why ``state`` cannot load into a model whose state dict is ``expected`` (one line),
    or None when every key and shape matches."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing, e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
    if reshaped:
        k = reshaped[0]
        parts.append(
            f"{len(reshaped)} of another shape, e.g. {k} is {list(state[k].shape)} "
            f"in the file, {list(expected[k].shape)} in the model"
        )
    return "; ".join(parts) or None


def load_init_weights(model: torch.nn.Module, source: str | Path | Mapping[str, torch.Tensor]) -> int:
    """Load ``source`` -- a weights file, or a state dict (e.g. weights carried from a trained
    seed) -- into ``model`` (every tensor must fit); returns the iterations the file records
    (0 when none or for a state dict). Raises `WeightsError` naming the file."""
    if isinstance(source, Mapping):
        state, iterations, name = dict(source), 0, "the inherited weights"
    else:
        state, iterations = read_weights(Path(source))
        name = str(source)
    problem = _misfit(model.state_dict(), state)
    if problem:
        raise WeightsError(f"init_weights {name}: the weights do not fit this spec ({problem})")
    model.load_state_dict(state)
    return iterations


def save_weights_file(path: str | Path, model: torch.nn.Module, spec, iterations: int, psnr: float) -> Path:
    """Write ``{"state_dict", "spec_yaml", "iterations", "psnr"}`` to ``path`` atomically
    (a temporary file then ``os.replace``: a reader never sees half a file). Raises
    `roadmap.files.WriteError` naming the file when it cannot be written."""
    from roadmap import files

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return files.save_torch(
        {"state_dict": state, "spec_yaml": spec.to_yaml(), "iterations": int(iterations), "psnr": psnr},
        path,
        "save_weights",
    )
