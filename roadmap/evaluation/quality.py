"""Image quality: PSNR and SSIM on ``[N, C, H, W]`` tensors in [0, 1].

Both return the mean over the N images of the per-image score (the usual
benchmark convention), computed in float64 so that tiny differences between
trials are not rounding noise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from roadmap.evaluation.degradations import bicubic_up
from roadmap.evaluation.tasks import DEFAULT_TASK, Task

if TYPE_CHECKING:
    from roadmap.build import UNetPlusPlus

# ITU-R BT.601 luma on [0, 1] RGB, as MATLAB's rgb2ycbcr (BasicSR's "test_y_channel").
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_Y_OFFSET = 16.0 / 255.0


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` RGB in [0, 1] -> ``[N, 1, H, W]`` Y (BT.601, [16, 235]/255)."""
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True) + _Y_OFFSET


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean over images of ``10 log10(data_range^2 / MSE)``; inputs ``[N, C, H, W]``.

    An image with MSE 0 scores 100 dB rather than infinity (keeps means finite).
    """
    diff = pred.detach().double() - target.detach().double()
    mse = diff.pow(2).flatten(1).mean(dim=1)
    values = [100.0 if m == 0 else 10.0 * math.log10(data_range**2 / m) for m in mse.tolist()]
    return float(sum(values) / len(values))


def _gaussian_window(size: int, sigma: float, channels: int, dtype, device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean SSIM (Wang et al. 2004) over images and channels of ``[N, C, H, W]`` inputs.

    Gaussian window ``window`` x ``window`` of std ``sigma``, constants
    ``(k1 L)^2``, ``(k2 L)^2``, population (biased) local statistics, mean over the
    'valid' region only. This is what ``skimage.metrics.structural_similarity``
    computes with ``gaussian_weights=True, use_sample_covariance=False,
    channel_axis=0`` (up to its border crop), i.e. the reference MATLAB ``ssim_index``.
    """
    x, y = pred.detach().double(), target.detach().double()
    _n, c = x.shape[:2]
    win = _gaussian_window(window, sigma, c, x.dtype, x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)  # valid region: no padding artefacts

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(s.flatten(1).mean(dim=1).mean())


def shave(x: torch.Tensor, pixels: int) -> torch.Tensor:
    """``[N, C, H, W]`` without ``pixels`` rows / columns at each border (BasicSR's ``crop_border``)."""
    return x[..., pixels:-pixels, pixels:-pixels] if pixels else x


def score(out: torch.Tensor, clean: torch.Tensor, task: Task = DEFAULT_TASK) -> dict[str, float]:
    """``psnr`` and ``ssim`` of the outputs ``out`` clamped to [0, 1] (nan when not finite).

    For ``sr`` they are measured as FMEN and BasicSR do: on the Y channel (`rgb_to_y`) with
    ``scale`` pixels shaved at each border; ``psnr_rgb`` (same border) is added."""
    out = out.float()
    if not torch.isfinite(out).all():
        return {"psnr": float("nan"), "ssim": float("nan"), **({"psnr_rgb": float("nan")} if task.y_channel else {})}
    out = out.clamp(0.0, 1.0)
    if not task.y_channel:
        return {"psnr": psnr(out, clean), "ssim": ssim(out, clean)}
    out, clean = shave(out, task.scale), shave(clean, task.scale)
    y_out, y_clean = rgb_to_y(out), rgb_to_y(clean)
    return {"psnr": psnr(y_out, y_clean), "ssim": ssim(y_out, y_clean), "psnr_rgb": psnr(out, clean)}


def baseline(inputs: torch.Tensor, task: Task = DEFAULT_TASK) -> torch.Tensor:
    """What the degraded input itself gives at the output's size (the figure a network must
    beat): the input clamped to [0, 1], bicubically up-sampled for ``sr``."""
    return bicubic_up(inputs, task.scale) if task.upscale > 1 else inputs.clamp(0.0, 1.0)


@torch.inference_mode()
def evaluate_quality(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    clean: torch.Tensor,
    batch: int = 4,
    task: Task = DEFAULT_TASK,
) -> dict[str, float]:
    """Run ``model`` on the fixed crops and score it like :func:`score`.

    ``inputs``: ``[N, 3, h, w]`` (``h = H / scale`` for ``sr``), ``clean``: ``[N, 3, H, W]``.
    Returns ``psnr``, ``ssim`` (``psnr_rgb`` for ``sr``) and ``input_psnr``: the degraded
    input's own PSNR, measured the same way (:func:`baseline`). A non-finite output gives
    ``psnr = ssim = nan``.
    """
    model.eval()
    outs = [model(inputs[i : i + batch]) for i in range(0, inputs.shape[0], batch)]
    return {"input_psnr": score(baseline(inputs, task), clean, task)["psnr"], **score(torch.cat(outs), clean, task)}


@torch.inference_mode()
def evaluate_heads(
    model: UNetPlusPlus,
    inputs: torch.Tensor,
    clean: torch.Tensor,
    batch: int = 4,
    task: Task = DEFAULT_TASK,
) -> dict[int, dict[str, float]]:
    """Score every head of a deep-supervised UNet++ (``model.forward_heads``) on the fixed
    crops in one pass: ``{depth: {"psnr", "ssim"}}``, each as :func:`evaluate_quality` scores
    the network's one output (clamped to [0, 1]; nan where not finite). Head ``d`` is what the
    network pruned to depth ``d`` outputs, so one trained network scores every depth."""
    model.eval()
    parts: dict[int, list[torch.Tensor]] = {}
    for i in range(0, inputs.shape[0], batch):
        for depth, out in model.forward_heads(inputs[i : i + batch]).items():
            parts.setdefault(depth, []).append(out)
    return {depth: score(torch.cat(outs), clean, task) for depth, outs in sorted(parts.items())}
