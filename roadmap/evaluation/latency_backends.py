"""Where a latency is measured: the backend settings and the backends, registered by name.

Each backend is a `LatencyBackend` in `LATENCY_BACKENDS`: a function making the `Timer` of
one model, and what the backend needs (an ONNX export, a command). The clock that calls the
timers is `roadmap.evaluation.latency`. A new backend is one function registered with
:func:`latency_backend` (its test is parametrised over the registry).

- ``torch``: eager PyTorch in this process (``perf_counter`` on the CPU, CUDA events on a GPU).
- ``onnxruntime``: the model exported to ONNX (`roadmap.evaluation.onnx`) and run in an
  onnxruntime CPU session with ``intra_op_num_threads`` = the torch measurement's thread count
  and one inter-op thread, so both backends get the same cores.
- ``command``: a user command template, e.g. ``python examples/ort_latency.py {onnx} --input
  {shape}``, run on the exported file. ``{onnx}`` is the file, ``{shape}`` the input shape
  (``1x3x256x256``), ``{threads}`` the thread count. It must print the latency in milliseconds
  as the first number of its last stdout line. A time-out, a non-zero exit or an unreadable
  output raises `LatencyError` with one line (the command's last stderr line when it failed).

The template is split like a shell line (``shlex``) but never run by a shell; placeholders are
replaced inside each argument, so a path with spaces stays one argument.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from roadmap.errors import RoadmapError
from roadmap.registry import Registry

__all__ = [
    "LATENCY_BACKENDS",
    "PLACEHOLDERS",
    "LatencyBackend",
    "LatencyConfig",
    "LatencyError",
    "Timer",
    "command_args",
    "latency_backend",
    "onnxruntime_session",
    "ort_call",
    "run_latency_command",
    "shape_text",
]

PLACEHOLDERS = ("onnx", "shape", "threads")
DEFAULT_TIMEOUT_S = 120.0


class LatencyError(RoadmapError):
    """A latency that could not be measured (one line: the backend's reason)."""


@dataclass
class Timer:
    """One model on one backend: ``call()`` times one call (ms). ``whole`` calls (a command)
    report a median themselves: one a round and no warm-up."""

    call: Callable[[], float]
    backend: str
    device: str
    threads: int | None
    whole: bool = False


@dataclass(frozen=True)
class LatencyBackend:
    """A place where latency is measured.

    ``timer(model, x, config, device, threads, onnx) -> Timer`` times ``model`` on the input
    ``x`` (``device``: where the torch model runs, ``threads``: the resolved CPU thread count,
    ``onnx``: the model's exported file when ``exports``, else ``None``). ``takes_command``:
    the backend runs `LatencyConfig.command` (the others refuse one). ``check()``, run when a
    `LatencyConfig` names the backend, refuses a missing optional dependency (`RoadmapError`).
    """

    timer: Callable[..., Timer]
    exports: bool = False
    takes_command: bool = False
    check: Callable[[], None] | None = None


def _unknown_backend(name: str, known: tuple[str, ...]) -> RoadmapError:
    return RoadmapError(f"--latency-backend: must be one of {', '.join(known)}, got {name!r}")


LATENCY_BACKENDS: Registry[LatencyBackend] = Registry("latency backend", _unknown_backend)


def latency_backend(
    name: str, *, exports: bool = False, takes_command: bool = False, check: Callable[[], None] | None = None
) -> Callable[[Callable[..., Timer]], Callable[..., Timer]]:
    """Decorator: register the timer function as the backend ``name`` (see `LatencyBackend`)."""

    def deco(timer: Callable[..., Timer]) -> Callable[..., Timer]:
        LATENCY_BACKENDS.add(name, LatencyBackend(timer, exports, takes_command, check))
        return timer

    return deco


@dataclass(frozen=True)
class LatencyConfig:
    """Which backend times a model: ``backend`` (a name in `LATENCY_BACKENDS`), the ``command`` template
    of the ``command`` backend and its ``timeout_s``. Validated on creation (`RoadmapError`
    naming the option)."""

    backend: str = "torch"
    command: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        backend = LATENCY_BACKENDS.lookup(self.backend)
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise RoadmapError(f"--latency-timeout: must be a number of seconds > 0, got {self.timeout_s!r}")
        if backend.takes_command:
            _check_template(self.command)
        elif self.command is not None:
            raise RoadmapError(f"--latency-command needs --latency-backend command (got {self.backend})")
        if backend.check is not None:
            backend.check()

    @classmethod
    def from_options(cls, backend: str | None, command: str | None, timeout_s: float | None) -> LatencyConfig:
        """From CLI options (``None`` = not given): a command alone implies ``backend=command``."""
        backend = backend or ("command" if command is not None else "torch")
        return cls(backend, command, DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)

    def binding(self) -> dict[str, Any]:
        """What a study stores: the backend and the command define what ``latency_ms`` means;
        the time-out does not."""
        return {"latency_backend": self.backend, "latency_command": self.command}

    def describe(self) -> str:
        """One line for output: ``onnxruntime`` or ``command: <template>``."""
        return f"command: {self.command}" if LATENCY_BACKENDS[self.backend].takes_command else self.backend


def _check_template(template: str | None) -> None:
    """A usable command template: splits, names ``{onnx}``, no unknown placeholder."""
    if not template or not template.strip():
        raise RoadmapError(
            "--latency-backend command needs --latency-command "
            '(e.g. "python examples/ort_latency.py {onnx} --input {shape}")'
        )
    try:
        shlex.split(template)
    except ValueError as exc:
        raise RoadmapError(f"--latency-command: cannot split {template!r} ({exc})") from None
    unknown = sorted(set(re.findall(r"\{(\w*)\}", template)) - set(PLACEHOLDERS))
    if unknown:
        raise RoadmapError(
            f"--latency-command: unknown placeholder {{{unknown[0]}}} "
            f"(use {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        )
    if "{onnx}" not in template:
        raise RoadmapError("--latency-command: the template must pass the model file as {onnx}")


def shape_text(shape: tuple[int, ...]) -> str:
    """``(1, 3, 256, 256)`` -> ``1x3x256x256`` (the ``{shape}`` placeholder)."""
    return "x".join(str(int(s)) for s in shape)


def command_args(template: str, onnx: str | Path, shape: tuple[int, ...], threads: int | None) -> list[str]:
    """The command's argument list with the placeholders filled in."""
    values = {"{onnx}": str(onnx), "{shape}": shape_text(shape), "{threads}": str(threads or 1)}
    args = []
    for token in shlex.split(template):
        for key, value in values.items():
            token = token.replace(key, value)
        args.append(token)
    return args


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _kill_group(proc: subprocess.Popen) -> None:
    """End the command and what it started (its own session: we started both)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()


def run_latency_command(config: LatencyConfig, onnx: str | Path, shape: tuple[int, ...], threads: int | None) -> float:
    """Run the ``command`` backend once on the ONNX file ``onnx``; returns the milliseconds it
    printed. Raises `LatencyError` (one line) on a time-out, a non-zero exit (naming the
    command's last stderr line) or a last stdout line that is not a positive number."""
    args = command_args(config.command or "", onnx, shape, threads)
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise LatencyError(f"latency command {args[0]!r} could not start: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=config.timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise LatencyError(f"latency command timed out after {config.timeout_s:g} s") from None
    if proc.returncode != 0:
        why = _last_line(err) or _last_line(out) or "no message on stderr"
        raise LatencyError(f"latency command exited with status {proc.returncode}: {why}")
    return _parse_ms(_last_line(out))


def _parse_ms(line: str) -> float:
    """The first number of ``line`` as milliseconds (> 0, finite)."""
    try:
        value = float(line.split()[0]) if line else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        shown = repr(line[:80]) if line else "nothing"
        raise LatencyError(f"latency command printed no latency in ms on its last stdout line (got {shown})")
    return value


def onnxruntime_session(path: str | Path, threads: int | None) -> Any:
    """An onnxruntime CPU session on ``path`` with ``threads`` intra-op threads (the torch
    measurement's count), one inter-op thread, sequential execution, all graph optimisations."""
    from roadmap.evaluation.onnx import onnxruntime_module

    ort = onnxruntime_module("--latency-backend onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers on stderr
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_call(session: Any, x: Any):
    """A function timing one ``session.run`` on the numpy array ``x`` (milliseconds)."""
    name = session.get_inputs()[0].name
    feed = {name: x}

    def call() -> float:
        t0 = time.perf_counter()
        session.run(None, feed)
        return (time.perf_counter() - t0) * 1000.0

    return call


# --------------------------------------------------------------------------- the backends


@latency_backend("torch")
def _torch_timer(
    model: torch.nn.Module,
    x: torch.Tensor,
    config: LatencyConfig,
    device: torch.device,
    threads: int | None,
    onnx: Path | None,
) -> Timer:
    """Eager torch: ``perf_counter`` on the CPU, CUDA events on a GPU (no thread count there)."""
    model = model.eval().to(device)
    x = x.to(device)
    if device.type != "cuda":

        def call() -> float:
            t0 = time.perf_counter()
            model(x)
            return (time.perf_counter() - t0) * 1000.0

        return Timer(call, "torch", str(device), threads)

    def cuda_call() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)  # the warm-up's (or the previous call's) work is done
        start.record()
        model(x)
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end)

    return Timer(cuda_call, "torch", str(device), None)


def _onnxruntime_installed() -> None:
    from roadmap.evaluation.onnx import onnxruntime_module

    onnxruntime_module("--latency-backend onnxruntime")


@latency_backend("onnxruntime", exports=True, check=_onnxruntime_installed)
def _onnxruntime_timer(
    model: torch.nn.Module,
    x: torch.Tensor,
    config: LatencyConfig,
    device: torch.device,
    threads: int | None,
    onnx: Path | None,
) -> Timer:
    """The exported file in an onnxruntime CPU session (`onnxruntime_session`)."""
    assert onnx is not None  # an exporting backend is always given its file
    session = onnxruntime_session(onnx, threads)
    return Timer(ort_call(session, x.cpu().numpy()), "onnxruntime", "cpu", threads)


@latency_backend("command", exports=True, takes_command=True)
def _command_timer(
    model: torch.nn.Module,
    x: torch.Tensor,
    config: LatencyConfig,
    device: torch.device,
    threads: int | None,
    onnx: Path | None,
) -> Timer:
    """The user's command on the exported file (`run_latency_command`): one run a round, no
    warm-up (it warms up itself)."""
    assert onnx is not None  # an exporting backend is always given its file
    shape = tuple(x.shape)
    return Timer(
        lambda: run_latency_command(config, onnx, shape, threads),
        "command",
        f"command ({shape_text(shape)})",
        threads,
        whole=True,
    )
