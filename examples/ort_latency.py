"""Time an ONNX file in onnxruntime and print the median latency in ms on the last line.

An example of a ``--latency-backend command`` measurement: roadmap exports each candidate to
ONNX and runs the command template on it, e.g.

    roadmap eval nafnet --latency-backend command \\
        --latency-command "python examples/ort_latency.py {onnx} --input {shape} --threads {threads}"

Replace the body of `main` with what runs the model where it will run (an ``adb shell`` on a
phone, TensorRT, a web service ...): the contract is only the last stdout line, the
milliseconds, and a non-zero exit with one line on stderr when something went wrong.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def parse_shape(text: str) -> tuple[int, ...]:
    """``1x3x256x256`` -> ``(1, 3, 256, 256)``."""
    try:
        shape = tuple(int(s) for s in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape like 1x3x256x256: {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"not a shape like 1x3x256x256: {text!r}")
    return shape


def time_session(path: str, shape: tuple[int, ...], threads: int, warmup: int, repeats: int) -> float:
    """Median ms of ``repeats`` runs after ``warmup`` discarded ones, one intra-op thread pool
    of ``threads`` and one inter-op thread."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("onnx", help="the ONNX file")
    p.add_argument("--input", type=parse_shape, default=(1, 3, 256, 256), help="input shape, e.g. 1x3x256x256")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--warmup", type=int, default=2, help="discarded runs (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    args = p.parse_args(argv)
    try:
        ms = time_session(args.onnx, args.input, args.threads, args.warmup, max(1, args.repeats))
    except Exception as exc:  # noqa: BLE001 - the caller wants one line, not a traceback
        print(
            f"ort_latency: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
            file=sys.stderr,
        )
        return 1
    print(f"{ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
