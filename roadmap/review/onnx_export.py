"""ONNX export of a spec's network with an onnxruntime check (``roadmap export --onnx``).

The export itself is `roadmap.evaluation.onnx.export_model_onnx` (TorchScript exporter, opset
17, traced at one input size with a dynamic batch axis; the latency backends use it too). The
size asked for is the image the network outputs: a super-resolution network (``upscale`` s) is
traced at its low-resolution input, ``1/s`` of it, and its bicubic residual becomes a cubic
``Resize`` node.
onnxruntime then runs the file on a random input and the largest absolute difference to
PyTorch must be within ``atol``.

A network with re-parameterised convs (RRRBs, ``reparam``) is exported folded
(`roadmap.build.fold_model`: one Conv node per RRRB instead of three), and the check compares
onnxruntime with the PyTorch training form, so it covers the fold as well as the export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from roadmap.errors import RoadmapError
from roadmap.evaluation.onnx import OPSET, export_model_onnx, onnxruntime_module
from roadmap.spec import Scaled
from roadmap.spec import input_hw as network_input_hw

__all__ = ["OnnxExport", "export_onnx", "OPSET"]


@dataclass
class OnnxExport:
    path: Path
    input_shape: tuple[int, int, int, int]  # the traced input (a super-resolution network's LR input)
    max_abs_error: float | None  # None when the check was skipped
    output_shape: tuple[int, ...] = ()  # what the traced input gives


def _require_onnxruntime():
    return onnxruntime_module("--onnx")


def export_onnx(
    spec_or_model: Any,
    path: str | Path,
    *,
    input_hw: tuple[int, int] = (256, 256),
    check: bool = True,
    atol: float = 1e-4,
    seed: int = 0,
) -> OnnxExport:
    """Export ``spec_or_model`` (a ``UNetSpec`` or an ``nn.Module``) to ``path``.

    Args:
        spec_or_model: a spec (built with ``roadmap.build_model``, weights from ``seed``) or a
            model (e.g. with trained weights); RRRBs are folded before the export.
        path: the ``.onnx`` file to write.
        input_hw: the spatial size of the network's OUTPUT; the graph is traced at the input
            that gives it (``roadmap.spec.input_hw``: for a super-resolution network of scale
            s, ``input_hw / s``, which must be whole).
        check: run the file in onnxruntime and compare with PyTorch.
        atol: largest allowed absolute difference.
        seed: torch seed for the weights of a spec and the check input.

    Raises:
        RoadmapError: onnxruntime is missing, the export fails, or the outputs differ by
            more than ``atol``; ``SpecError`` when the scale does not divide ``input_hw``.
    """
    import torch

    ort = _require_onnxruntime() if check else None
    torch.manual_seed(seed)
    if isinstance(spec_or_model, torch.nn.Module):
        model = spec_or_model
    else:
        from roadmap.build import build_model

        model = build_model(spec_or_model)
    from roadmap.build import fold_model

    model = model.eval().cpu()
    in_ch = getattr(spec_or_model, "in_channels", None) or _in_channels(model)
    # a spec, or a network built from one, knows its scale; any other module is taken as 1
    scaled = spec_or_model if hasattr(spec_or_model, "upscale") else model
    # the cast: hasattr cannot narrow a Module, whose __getattr__ claims every attribute
    h, w = network_input_hw(cast(Scaled, scaled), input_hw) if hasattr(scaled, "upscale") else input_hw
    shape = (1, int(in_ch), int(h), int(w))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    path = export_model_onnx(fold_model(model), path, x)
    with torch.no_grad():
        expected = model(x).numpy()
    if not check:
        return OnnxExport(path, shape, None, tuple(expected.shape))
    assert ort is not None  # imported above when check is set
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != expected.shape:
        raise RoadmapError(f"ONNX output shape {got.shape} differs from PyTorch's {expected.shape}")
    err = float(abs(got - expected).max())
    if not err <= atol:
        raise RoadmapError(f"ONNX output differs from PyTorch by {err:.3g} (max abs), more than {atol:g}")
    return OnnxExport(path, shape, err, tuple(expected.shape))


def _in_channels(model: Any) -> int:
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return m.in_channels
    raise RoadmapError("cannot tell the model's input channels; pass a spec")
