"""``--latency-backend``, ``--latency-command``, ``--latency-timeout``: where latency is measured.

One definition for ``eval``, ``apply`` and ``search`` (self-contained so that it can move into
`roadmap.cli.common` with the other shared options). Every option defaults to ``None`` (not
given): a resumed search then takes the study's backend; `latency_config` fills the defaults.
"""

from __future__ import annotations

import argparse

from roadmap.evaluation.latency_backends import DEFAULT_TIMEOUT_S, LATENCY_BACKENDS, LatencyConfig

__all__ = ["add_latency_arguments", "latency_config"]


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def add_latency_arguments(parser, default_note: str = "torch") -> None:
    """Add the three latency options to ``parser`` (a parser or an argument group)."""
    parser.add_argument(
        "--latency-backend",
        choices=LATENCY_BACKENDS.names(),
        default=None,
        help=f"where latency is measured: torch (eager PyTorch on --device), onnxruntime (the model "
        f"exported to ONNX, a CPU session with the same threads) or command (--latency-command on the "
        f"exported file) (default: {default_note})",
    )
    parser.add_argument(
        "--latency-command",
        default=None,
        metavar="TEMPLATE",
        help='command timing the exported model, e.g. "python examples/ort_latency.py {onnx} --input '
        '{shape}" ({onnx}: the ONNX file, {shape}: e.g. 1x3x256x256, {threads}); it prints the '
        "latency in ms on its last stdout line (implies --latency-backend command)",
    )
    parser.add_argument(
        "--latency-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=f"time-out of one latency command run (default {DEFAULT_TIMEOUT_S:g})",
    )


def latency_config(args) -> LatencyConfig:
    """The `LatencyConfig` of parsed ``args``; `RoadmapError` naming the option when invalid."""
    return LatencyConfig.from_options(
        getattr(args, "latency_backend", None),
        getattr(args, "latency_command", None),
        getattr(args, "latency_timeout", None),
    )
