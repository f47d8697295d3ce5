"""Inference latency of a model: a steadier clock, on the backend where the model will run.

The clock (every backend): ``warmup`` untimed calls, discarded (the first calls allocate,
pick kernels and fault pages in); then rounds of timed calls, ``repeats`` calls in all split
over ``rounds`` rounds. A round's figure is its median and the latency is the median of the
round figures, so one stall of a busy machine moves neither. When the round medians spread
by more than ``max_cv`` (coefficient of variation: population std / mean), up to
``extra_rounds`` more rounds are timed; the report records the CV and the rounds it took.

Comparisons (`measure_models`) interleave: round ``k`` of every model / backend runs before
round ``k + 1`` of any, in an order rotated each round, so a slow drift of the machine (a
background job, the CPU clock) hits them alike and their ratios hold.

CPU: a fixed torch thread count (the training's; restored afterwards), ``time.perf_counter``.
CUDA: CUDA events, synchronising before reading them. Backends (`latency_backends`): eager
``torch``, ``onnxruntime`` (the exported graph in a CPU session with as many intra-op threads)
and ``command`` (a user command timing the exported file, one call per round, no warm-up: it
warms up itself). Everything runs under ``torch.inference_mode()`` on a fixed random input.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from roadmap.evaluation.latency_backends import LATENCY_BACKENDS, LatencyConfig, LatencyError, Timer
from roadmap.evaluation.threads import torch_threads

__all__ = [
    "DEFAULT_INPUT_SHAPE",
    "Clock",
    "LatencyConfig",
    "LatencyError",
    "LatencyReport",
    "LATENCY_BACKENDS",
    "measure_latency",
    "measure_models",
    "measure_with",
]

DEFAULT_INPUT_SHAPE = (1, 3, 256, 256)


@dataclass(frozen=True)
class Clock:
    """How a latency is timed: ``warmup`` discarded calls, ``repeats`` timed calls over
    ``rounds`` rounds, then up to ``extra_rounds`` more while the round medians' CV is above
    ``max_cv`` (``None``: never) or a model's timed total is under ``min_seconds``."""

    warmup: int = 3
    repeats: int = 15
    rounds: int = 3
    max_cv: float | None = 0.03
    extra_rounds: int = 3
    min_seconds: float = 0.0

    def round_sizes(self) -> list[int]:
        """Calls in each of the first rounds: ``repeats`` split as evenly as possible."""
        rounds = max(1, min(self.rounds, self.repeats))
        base, rest = divmod(max(1, self.repeats), rounds)
        return [base + (i < rest) for i in range(rounds)]


@dataclass(frozen=True)
class LatencyReport:
    """Timing of one model on one backend for one ``input_shape`` batch.

    ``median_ms``: the median of the round medians (the latency). ``cv``: CV of the round
    medians (how far the figure moves between rounds; 0 with one round). ``run_cv``: CV of
    all timed calls; ``robust_cv``: 1.4826 x their median absolute deviation / median, which
    ignores the odd stall. ``repeats``: timed calls in all, over ``rounds`` rounds.
    ``threads`` is ``None`` on CUDA. ``backend``: ``torch``, ``onnxruntime`` or ``command``.
    """

    device: str
    threads: int | None
    input_shape: tuple[int, ...]
    warmup: int
    repeats: int
    median_ms: float
    mean_ms: float
    min_ms: float
    cv: float
    robust_cv: float
    times_ms: tuple[float, ...]
    backend: str = "torch"
    rounds: int = 1
    run_cv: float = 0.0
    round_medians_ms: tuple[float, ...] = field(default=())

    def to_dict(self) -> dict:
        """JSON-able dict of every field."""
        d = asdict(self)
        d["input_shape"], d["times_ms"] = list(self.input_shape), list(self.times_ms)
        d["round_medians_ms"] = list(self.round_medians_ms)
        return d


def _cv(values: Sequence[float]) -> float:
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if len(values) > 1 and mean > 0 else 0.0


def _robust_cv(values: Sequence[float]) -> float:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    return 1.4826 * mad / med if med > 0 else 0.0


def _more_rounds(clock: Clock, rounds: list[list[list[float]]], done: int) -> bool:
    """Whether another round is due after ``done`` rounds of every timer."""
    first = len(clock.round_sizes())
    if done < first:
        return True
    if any(sum(map(sum, r)) < clock.min_seconds * 1000.0 for r in rounds):
        return True
    unsteady = clock.max_cv is not None and any(_cv([statistics.median(x) for x in r]) > clock.max_cv for r in rounds)
    return unsteady and done < first + clock.extra_rounds


def _time_rounds(timers: Sequence[Timer], clock: Clock) -> list[list[list[float]]]:
    """Warm every timer up, then time interleaved rounds; per timer, its rounds of call times."""
    for t in timers:
        for _ in range(0 if t.whole else clock.warmup):
            t.call()
    sizes = clock.round_sizes()
    rounds: list[list[list[float]]] = [[] for _ in timers]
    done = 0
    while _more_rounds(clock, rounds, done):
        n = sizes[done] if done < len(sizes) else sizes[0]
        for i in range(len(timers)):  # rotated: no timer always runs first (after another's round)
            j = (i + done) % len(timers)
            rounds[j].append([timers[j].call() for _ in range(1 if timers[j].whole else n)])
        done += 1
    return rounds


def _report(timer: Timer, rounds: list[list[float]], shape: tuple[int, ...], clock: Clock) -> LatencyReport:
    times = [t for r in rounds for t in r]
    medians = [statistics.median(r) for r in rounds]
    return LatencyReport(
        device=timer.device,
        threads=timer.threads,
        input_shape=tuple(int(s) for s in shape),
        warmup=0 if timer.whole else clock.warmup,
        repeats=len(times),
        median_ms=statistics.median(medians),
        mean_ms=statistics.fmean(times),
        min_ms=min(times),
        cv=_cv(medians),
        robust_cv=_robust_cv(times),
        times_ms=tuple(times),
        backend=timer.backend,
        rounds=len(rounds),
        run_cv=_cv(times),
        round_medians_ms=tuple(medians),
    )


def _exported(model: torch.nn.Module, x: torch.Tensor, workdir: Path, index: int) -> Path:
    """``model`` exported to ONNX in ``workdir`` (a CPU copy when it lives on a GPU)."""
    from roadmap.evaluation.onnx import export_model_onnx

    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    cpu_model = (model if on_cpu else copy.deepcopy(model).cpu()).eval()
    return export_model_onnx(cpu_model, workdir / f"model{index}.onnx", x.cpu())


def _backend_timer(model, x, config: LatencyConfig, device, threads, workdir: Path | None, index: int) -> Timer:
    """The timer of ``model`` on ``config.backend`` (``threads``: the resolved CPU count; an
    exporting backend gets the model's ONNX file, written in ``workdir``)."""
    backend = LATENCY_BACKENDS.lookup(config.backend)
    assert workdir is not None or not backend.exports  # the caller makes one for an exporting backend
    onnx = _exported(model, x, workdir, index) if backend.exports and workdir is not None else None
    return backend.timer(model, x, config, device, threads, onnx)


def measure_models(
    entries: Sequence[tuple[torch.nn.Module, LatencyConfig]],
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
    clock: Clock = Clock(),
) -> list[LatencyReport]:
    """Latency of each ``(model, backend config)`` of ``entries``, timed side by side in
    interleaved rounds (see the module doc). One model may appear with several backends.

    ``threads``: the CPU thread count of torch and of the onnxruntime session and the
    command's ``{threads}`` (``None``: torch's current count). ``device``: where the torch
    backend runs (onnxruntime runs on the CPU, a command where it runs). Raises
    `LatencyError` (one line) when a command fails, `RoadmapError` when an export fails.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    x = torch.rand(input_shape, generator=torch.Generator().manual_seed(0))
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch_threads(None if cuda else threads))  # CUDA: as before, torch's own
        stack.enter_context(torch.inference_mode())
        used = torch.get_num_threads() if threads is None else int(threads)
        workdir = None
        if any(LATENCY_BACKENDS.lookup(cfg.backend).exports for _, cfg in entries):
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roadmap-latency-")))
        timers = [_backend_timer(m, x, cfg, device, used, workdir, i) for i, (m, cfg) in enumerate(entries)]
        rounds = _time_rounds(timers, clock)
        if cuda:
            torch.cuda.synchronize(device)
    return [_report(t, r, input_shape, clock) for t, r in zip(timers, rounds, strict=False)]


def measure_with(
    model: torch.nn.Module,
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE,
    config: LatencyConfig | None = None,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
    clock: Clock = Clock(),
) -> LatencyReport:
    """Latency of one model on the backend of ``config`` (default: eager torch)."""
    return measure_models([(model, config or LatencyConfig())], input_shape, device, threads, clock)[0]


def measure_latency(
    model: torch.nn.Module,
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
    warmup: int = 3,
    repeats: int = 15,
    min_seconds: float = 0.0,
    *,
    rounds: int = 3,
    max_cv: float | None = 0.03,
    extra_rounds: int = 3,
) -> LatencyReport:
    """Median latency (ms) of ``model(x)`` in eager torch for a random ``x`` of ``input_shape``.

    The model is put in eval mode and moved to ``device``. ``threads`` (CPU only) is the
    torch thread count during the measurement. After ``warmup`` discarded calls, ``repeats``
    timed calls over ``rounds`` rounds, then extra rounds (see `Clock`) while the round
    medians' CV is above ``max_cv`` or the timed total is under ``min_seconds``.
    """
    clock = Clock(warmup, repeats, rounds, max_cv, extra_rounds, min_seconds)
    return measure_with(model, input_shape, LatencyConfig(), device, threads, clock)
