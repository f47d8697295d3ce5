"""``--device`` values checked like any other input: one line naming what torch reports."""

from __future__ import annotations

from roadmap.errors import RoadmapError

__all__ = ["check_device"]


def check_device(value: str, *, remote: bool = False) -> str:
    """``value`` if torch can run on it here (``cpu``, ``cuda``, ``cuda:N``); ``remote``: the
    work runs on a Ray cluster, whose GPUs this machine cannot see, so only the form is checked."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        raise RoadmapError(f"--device {value}: not a device (use cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise RoadmapError(f"--device {value}: only cpu and cuda are supported")
    if device.type == "cuda" and not remote:
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
            raise RoadmapError(f"--device {value}: no usable GPU (torch {torch.__version__}: {why})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RoadmapError(f"--device {value}: only {torch.cuda.device_count()} CUDA device(s) here")
    return value
