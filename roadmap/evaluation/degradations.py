"""The degradations of each `Task`: pure functions of clean images and a random generator.

Every function takes clean images ``[N, C, H, W]`` float32 in [0, 1] and returns the degraded
network input: the same size (``denoise``, ``deblur``, ``jpeg``) or ``scale`` times smaller
(``sr``). Parameters drawn from a range (a noise level, a blur kernel, a JPEG quality) are drawn
per image from the ``torch.Generator`` given, so the result is a function of the images and
the generator's state alone: the same seed gives the same degraded batch. A fixed value (a range
of one number) draws nothing, so denoising at one sigma consumes exactly the random numbers of
its noise.

:func:`degrade` dispatches on ``task.name`` through ``DEGRADATIONS``; a new task registers its
function there and in `roadmap.evaluation.tasks`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from roadmap.evaluation.tasks import Range, Task


def draw(r: Range, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` values uniform in ``r`` (float64); ``r[0]`` repeated, drawing nothing, when the
    range is one value."""
    lo, hi = r
    if lo == hi:
        return torch.full((count,), float(lo), dtype=torch.float64)
    return lo + (hi - lo) * torch.rand(count, generator=generator, dtype=torch.float64)


# --------------------------------------------------------------------------- noise


def add_noise(clean: torch.Tensor, sigma: float | Range, generator: torch.Generator) -> torch.Tensor:
    """``clean + N(0, (sigma / 255)^2)``, unclipped (as DnCNN / NAFNet train), one sigma per image
    drawn from ``sigma`` (a number or a range on the 0-255 scale)."""
    r = (float(sigma), float(sigma)) if isinstance(sigma, (int, float)) else sigma
    per_image = draw(r, clean.shape[0], generator).to(clean.dtype).view(-1, *[1] * (clean.dim() - 1))
    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
    return clean + noise * (per_image / 255.0)


# --------------------------------------------------------------------------- blur


def gaussian_kernel(std: float) -> torch.Tensor:
    """An isotropic Gaussian ``[k, k]`` kernel of std ``std`` pixels, ``k = 2 ceil(3 std) + 1``,
    summing to 1."""
    radius = max(1, math.ceil(3.0 * std))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2.0 * std**2))
    k = g[:, None] * g[None, :]
    return (k / k.sum()).float()


def motion_kernel(length: float, generator: torch.Generator, steps: int = 64) -> torch.Tensor:
    """A camera-shake kernel ``[k, k]`` (``k`` the smallest odd size holding it) summing to 1.

    The trajectory is a random walk with inertia, as in Boracchi and Foi's model of hand shake:
    a start direction uniform in [0, 2 pi), each of ``steps`` moves turning by a Gaussian angle
    (std 0.35 rad) and rescaled so the path is ``length`` pixels long; the path's points are
    splatted bilinearly onto the grid, centred on their mean (no shift of the image).
    """
    angle = float(torch.rand(1, generator=generator, dtype=torch.float64)) * 2.0 * math.pi
    turns = torch.randn(steps, generator=generator, dtype=torch.float64) * 0.35
    headings = angle + torch.cumsum(turns, 0)
    moves = torch.stack([torch.sin(headings), torch.cos(headings)], 1) * (length / steps)
    path = torch.cat([torch.zeros(1, 2, dtype=torch.float64), torch.cumsum(moves, 0)])
    path = path - path.mean(0)
    radius = math.ceil(float(path.abs().max())) + 1
    k = 2 * radius + 1
    pos = path + radius
    base = pos.floor()
    frac = pos - base
    kernel = torch.zeros(k * k, dtype=torch.float64)
    for dy in (0, 1):  # bilinear splatting: each point spreads over its four neighbours
        for dx in (0, 1):
            weight = (frac[:, 0] if dy else 1 - frac[:, 0]) * (frac[:, 1] if dx else 1 - frac[:, 1])
            rows = (base[:, 0].long() + dy).clamp(max=k - 1)
            cols = (base[:, 1].long() + dx).clamp(max=k - 1)
            kernel.index_add_(0, rows * k + cols, weight)
    kernel = kernel.view(k, k)
    return (kernel / kernel.sum()).float()


def blur_kernels(task: Task, count: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One kernel per image for a ``deblur`` task: Gaussian, motion, or (``mixed``) either with
    probability 1/2."""
    kernels = []
    for _ in range(count):
        kind = task.blur
        if kind == "mixed":
            kind = "motion" if float(torch.rand(1, generator=generator)) < 0.5 else "gaussian"
        if kind == "gaussian":
            kernels.append(gaussian_kernel(float(draw(task.blur_sigma, 1, generator))))
        else:
            kernels.append(motion_kernel(float(draw(task.motion_length, 1, generator)), generator))
    return kernels


def convolve(images: torch.Tensor, kernels: list[torch.Tensor]) -> torch.Tensor:
    """Each image ``[N, C, H, W]`` convolved with its own kernel (every channel alike), borders
    reflected; kernels of different sizes are zero-padded to the largest. The output has the
    input's size."""
    n, c, h, w = images.shape
    size = max(k.shape[-1] for k in kernels)
    padded = torch.stack([F.pad(k, [(size - k.shape[-1]) // 2] * 4) for k in kernels])  # [N, size, size]
    weight = padded.to(images.dtype).repeat_interleave(c, 0).unsqueeze(1)  # [N*C, 1, size, size]
    r = size // 2
    x = F.pad(images.reshape(1, n * c, h, w), (r, r, r, r), mode="reflect" if r < min(h, w) else "replicate")
    # conv2d is a correlation: flip so the kernel is convolved (motion kernels are not symmetric)
    return F.conv2d(x, weight.flip(-1, -2), groups=n * c).reshape(n, c, h, w)


def blur(clean: torch.Tensor, task: Task, generator: torch.Generator) -> torch.Tensor:
    """The ``deblur`` input: each image blurred by its kernel, then mild noise (``blur_noise``)."""
    kernels = blur_kernels(task, clean.shape[0], generator)
    return add_noise(convolve(clean, kernels), task.blur_noise, generator)


# --------------------------------------------------------------------------- super-resolution


def bicubic_down(clean: torch.Tensor, scale: int) -> torch.Tensor:
    """The ``sr`` input: antialiased bicubic down-sampling by ``scale`` (MATLAB ``imresize``'s
    kind; ``H`` and ``W`` must be multiples of ``scale``), clamped to [0, 1] as a saved image is.
    The one down-sampling of training and validation."""
    h, w = clean.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} is not divisible by the scale {scale}")
    out = F.interpolate(clean, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return out.clamp(0.0, 1.0)


def bicubic_up(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic up-sampling by ``scale`` (the baseline an SR network must beat), clamped to [0, 1]."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0.0, 1.0)


# --------------------------------------------------------------------------- JPEG


def jpeg(clean: torch.Tensor, quality: int | Range, generator: torch.Generator) -> torch.Tensor:
    """The ``jpeg`` input: each image quantised to 8 bits, JPEG-encoded in memory by Pillow at a
    quality drawn from ``quality`` (4:2:0 chroma sub-sampling, Pillow's default) and decoded."""
    from PIL import Image

    r = (float(quality), float(quality)) if isinstance(quality, (int, float)) else quality
    qualities = draw(r, clean.shape[0], generator).round().int().tolist()
    out = []
    for image, q in zip(clean, qualities, strict=False):
        array = (image.clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).numpy()
        grey = image.shape[0] == 1
        buffer = io.BytesIO()
        Image.fromarray(array[:, :, 0] if grey else array).save(buffer, format="JPEG", quality=int(q))
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L" if grey else "RGB"))
        decoded = decoded[:, :, None] if grey else decoded
        out.append(torch.from_numpy(decoded.transpose(2, 0, 1).astype(np.float32) / 255.0))
    return torch.stack(out)


# --------------------------------------------------------------------------- dispatch

DEGRADATIONS: dict[str, Callable[[torch.Tensor, Task, torch.Generator], torch.Tensor]] = {
    "denoise": lambda clean, task, g: add_noise(clean, task.sigma, g),
    "deblur": blur,
    "sr": lambda clean, task, g: bicubic_down(clean, task.scale),
    "jpeg": lambda clean, task, g: jpeg(clean, task.quality, g),
}


def degrade(clean: torch.Tensor, task: Task, generator: torch.Generator) -> torch.Tensor:
    """The network input for the clean images ``[N, C, H, W]`` under ``task`` (see the module
    docstring); randomness from ``generator`` only."""
    return DEGRADATIONS[task.name](clean, task, generator)
