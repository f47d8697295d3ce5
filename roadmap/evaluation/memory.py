"""Peak inference memory, measured from real allocations during one forward pass.

What is counted (CPU and CUDA alike): the input tensor, plus every byte the
allocator hands out during ``model(x)`` and has not yet taken back -- layer
outputs, kept skips, temporaries inside kernels (e.g. oneDNN's re-ordered copies
of a convolution's input and output), and the final output. The peak of that
running total is the result. Parameters and buffers are **not** counted: they are
allocated before the pass and do not move.

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``,
  minus what was allocated before the pass, plus the input's bytes.
* CPU: the torch profiler with ``profile_memory=True`` records every allocation
  and free of the CPU allocator with its address and time; frees are matched to
  allocations by address (a free of memory allocated before the pass is ignored),
  and the allocations are summed in time order to a running peak.

The forward pass runs under ``torch.inference_mode()`` (no autograd graph) after
one untimed warm-up pass, so lazily created caches are not counted.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import asdict, dataclass

import torch

from roadmap.evaluation.latency import DEFAULT_INPUT_SHAPE
from roadmap.evaluation.threads import torch_threads

COUNTS = "input + all tensors allocated during the forward pass (output included), excluding parameters"


@dataclass(frozen=True)
class MemoryReport:
    """Measured peak bytes of one inference.

    ``peak_bytes = input_bytes + peak_forward_bytes``; ``peak_forward_bytes`` is the
    highest running total of bytes allocated during the pass and not yet freed;
    ``output_bytes`` is the size of the returned tensor; ``allocations`` counts the
    allocation events observed (CPU) and ``method`` names the mechanism.
    """

    device: str
    input_shape: tuple[int, ...]
    threads: int | None
    peak_bytes: int
    input_bytes: int
    peak_forward_bytes: int
    output_bytes: int
    allocations: int
    method: str
    counts: str = COUNTS

    def to_dict(self) -> dict:
        """JSON-able dict of every field."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def _allocation_events(prof) -> list[tuple[int, int, int]]:
    """``(time_ns, ptr, signed bytes)`` of every CPU allocation / free the profiler saw."""
    from torch._C._profiler import _EventType  # the profiler's event tree (torch >= 2.0)

    events: list[tuple[int, int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        ev = stack.pop()
        if ev.tag == _EventType.Allocation:
            fields = ev.extra_fields
            if fields.device.type == "cpu":
                events.append((ev.start_time_ns, int(fields.ptr), int(fields.alloc_size)))
        stack.extend(ev.children)
    events.sort(key=lambda e: e[0])
    return events


def running_peak(events: list[tuple[int, int, int]]) -> tuple[int, int]:
    """Peak of live bytes over ``(time, ptr, signed bytes)`` events and the number of
    allocations; a free is only counted when its allocation was seen."""
    live: dict[int, int] = {}
    total = peak = count = 0
    for _, ptr, size in events:
        if size > 0:
            live[ptr] = live.get(ptr, 0) + size
            total += size
            count += 1
            peak = max(peak, total)
        elif ptr in live:
            total -= live.pop(ptr)
    return peak, count


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence file descriptor 2 for the block: the profiler's C++ side (Kineto)
    prints start/stop lines there that would interleave with our progress output."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreter): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _measure_cpu(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int, int]:
    from torch.profiler import ProfilerActivity, profile

    with _quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = model(x)
    peak, count = running_peak(_allocation_events(prof))
    return peak, out.numel() * out.element_size(), count


def _measure_cuda(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int, int]:
    device = x.device
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    out = model(x)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    return peak, out.numel() * out.element_size(), 0


def measure_peak_memory(
    model: torch.nn.Module,
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
) -> MemoryReport:
    """Measured peak activation bytes of ``model`` on a random ``input_shape`` input.

    ``threads`` (CPU) matters: with one thread torch runs some 1x1 convolutions
    without oneDNN and its re-ordered copies, so use the count the latency uses.
    See the module docstring for exactly what is counted.
    """
    device = torch.device(device)
    model = model.eval().to(device)
    cuda = device.type == "cuda"
    x = torch.rand(input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    with torch_threads(None if cuda else threads), torch.inference_mode():
        del_out = model(x)  # warm-up: lazy initialisation must not count
        del del_out
        if cuda:
            peak, out_bytes, count = _measure_cuda(model, x)
            method = "torch.cuda.max_memory_allocated"
        else:
            peak, out_bytes, count = _measure_cpu(model, x)
            method = "torch.profiler allocation events"
        used_threads = None if cuda else torch.get_num_threads()
    in_bytes = x.numel() * x.element_size()
    return MemoryReport(
        device=str(device),
        input_shape=tuple(int(s) for s in input_shape),
        threads=used_threads,
        peak_bytes=int(in_bytes + peak),
        input_bytes=int(in_bytes),
        peak_forward_bytes=int(peak),
        output_bytes=int(out_bytes),
        allocations=int(count),
        method=method,
    )
