"""ONNX export of a built model: the one export function evaluation and review share.

The exporter is TorchScript-based (``torch.onnx.export(..., dynamo=False, opset_version=17)``):
the dynamo exporter needs onnxscript and is ~20x slower. The graph is traced at a fixed
input shape (the U-Net pads to a multiple of ``2**levels`` and crops back, which tracing
freezes) with a dynamic batch axis. ``roadmap.review.onnx_export`` adds the onnxruntime
check ``roadmap export --onnx`` runs; the latency backends time the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from roadmap.errors import RoadmapError

__all__ = ["OPSET", "export_model_onnx", "onnxruntime_module"]

OPSET = 17


def onnxruntime_module(what: str = "--onnx"):
    """The ``onnxruntime`` module; `RoadmapError` naming ``what`` needs it when it is missing."""
    try:
        import onnxruntime
    except ImportError:
        raise RoadmapError(f"{what} needs onnx and onnxruntime: pip install 'roadmap[onnx]'") from None
    return onnxruntime


def export_model_onnx(model: torch.nn.Module, path: str | Path, x: torch.Tensor) -> Path:
    """Write ``model`` (eval mode, CPU) traced on the input ``x`` to the ONNX file ``path``
    (input ``input``, output ``output``, dynamic batch axis). Raises `RoadmapError` with the
    exporter's first message line when the export fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about the frozen padding arithmetic
        try:
            torch.onnx.export(
                model,
                (x,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
        except Exception as exc:  # exporter errors come in many types
            from roadmap.files import WriteError, os_fault

            if os_fault(exc) is not None:  # the file system, not the network: say so
                raise WriteError(f"ONNX file {path}: cannot write ({os_fault(exc)})") from exc
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RoadmapError(f"ONNX export to {path} failed: {msg}") from exc
    return path
