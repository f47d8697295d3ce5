"""Inference latency of a model on the device at hand.

CPU: a fixed torch thread count (restored afterwards), warm-up runs, then
``repeats`` timed forward passes with ``time.perf_counter``. CUDA: the same with
CUDA events, synchronising before reading them. Everything runs under
``torch.inference_mode()`` on a random input of ``input_shape``.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from roadmap.evaluation.threads import torch_threads

DEFAULT_INPUT_SHAPE = (1, 3, 256, 256)


@dataclass(frozen=True)
class LatencyReport:
    """Timing of ``repeats`` forward passes of one ``input_shape`` batch.

    ``median_ms``: the median time of one forward pass. ``cv``: coefficient of
    variation (population std / mean) of the repeats. ``robust_cv``: 1.4826 x the
    median absolute deviation / median, which ignores the odd stall of a busy
    machine. ``threads`` is ``None`` on CUDA.
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

    def to_dict(self) -> dict:
        """JSON-able dict of every field."""
        d = asdict(self)
        d["input_shape"], d["times_ms"] = list(self.input_shape), list(self.times_ms)
        return d


def _spread(times: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(times)
    med = statistics.median(times)
    cv = statistics.pstdev(times) / mean if mean > 0 else 0.0
    mad = statistics.median(abs(t - med) for t in times)
    return cv, (1.4826 * mad / med if med > 0 else 0.0)


def measure_latency(
    model: torch.nn.Module,
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
    warmup: int = 3,
    repeats: int = 15,
    min_seconds: float = 0.0,
) -> LatencyReport:
    """Median latency (ms) of ``model(x)`` for a random ``x`` of ``input_shape``.

    The model is put in eval mode and moved to ``device``. ``threads`` (CPU only)
    is the torch thread count during the measurement. After ``warmup`` untimed
    runs, at least ``repeats`` timed runs are made, more while their total is under
    ``min_seconds``.
    """
    device = torch.device(device)
    model = model.eval().to(device)
    x = torch.rand(input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    cuda = device.type == "cuda"
    times: list[float] = []
    with torch_threads(None if cuda else threads), torch.inference_mode():
        for _ in range(warmup):
            model(x)
        if cuda:
            torch.cuda.synchronize(device)
        while len(times) < repeats or sum(times) < min_seconds * 1000.0:
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                torch.cuda.synchronize(device)
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - t0) * 1000.0)
        used_threads = None if cuda else torch.get_num_threads()
    cv, robust_cv = _spread(times)
    return LatencyReport(
        device=str(device),
        threads=used_threads,
        input_shape=tuple(int(s) for s in input_shape),
        warmup=warmup,
        repeats=len(times),
        median_ms=statistics.median(times),
        mean_ms=statistics.fmean(times),
        min_ms=min(times),
        cv=cv,
        robust_cv=robust_cv,
        times_ms=tuple(times),
    )
