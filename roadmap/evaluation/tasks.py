"""The restoration task a trial is trained and scored on: `Task`, its options and their checks.

Four tasks, the ones the seed papers measure (``docs/DESIGN.md``, "Tasks"):

* ``denoise`` -- additive Gaussian noise of standard deviation ``sigma`` (0-255 scale), a value
  or a range drawn per crop (``--sigma 15:50``).
* ``deblur`` -- synthetic blur of the clean image (``--blur gaussian|motion|mixed``): isotropic
  Gaussian kernels of std ``blur_sigma`` pixels, camera-shake motion kernels of length
  ``motion_length`` pixels at any angle, or either at random per crop; then mild Gaussian noise
  of std ``blur_noise`` (0-255). Every range is drawn per crop.
* ``sr`` -- super-resolution by ``scale`` (2, 3, 4): the input is the bicubic (antialiased)
  down-sampling of the clean image, the network's head up-samples (``head.upscale``); PSNR is
  measured on the Y channel with ``scale`` pixels shaved at each border (BasicSR / FMEN), RGB
  PSNR beside it.
* ``jpeg`` -- JPEG artefact removal at ``quality`` (1-100), a value or a range drawn per crop.

A task is plain data: settings resolve it once, studies store it (``to_dict``) and refuse a
resume with another one, and `roadmap.evaluation.degradations` applies it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from roadmap.errors import RoadmapError
from roadmap.io import check_known_fields

TASKS = ("denoise", "deblur", "sr", "jpeg")
BLUR_KINDS = ("gaussian", "motion", "mixed")
SCALES = (2, 3, 4)
MAX_SIGMA = 255.0
MAX_BLUR_SIGMA = 8.0  # pixels; a 6-sigma kernel of 49 pixels, more than a 48-pixel crop can hold
MAX_MOTION_LENGTH = 31  # pixels; the largest odd kernel a 32-pixel crop can pad by reflection

Range = tuple[float, float]


def parse_range(text: Any, option: str, lo: float, hi: float, integer: bool = False) -> Range:
    """``"25"`` -> ``(25, 25)``, ``"15:50"`` -> ``(15, 50)``: a value or an inclusive range inside
    ``[lo, hi]``; a RoadmapError naming ``option`` for anything else (an empty or reversed range,
    a value out of bounds, not a number)."""
    parts = [text] if isinstance(text, (int, float)) else str(text).split(":")
    if isinstance(text, (list, tuple)):
        parts = list(text)
    try:
        values = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise RoadmapError(f"{option}: must be a number or a range A:B, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise RoadmapError(f"{option}: must be a number or a range A:B, got {text!r}")
    a, b = values
    if a > b:
        raise RoadmapError(f"{option}: the range {text} is empty (its start is above its end)")
    if a < lo or b > hi:
        raise RoadmapError(f"{option}: {text} is out of bounds (must lie in [{lo:g}, {hi:g}])")
    if integer and not all(v == int(v) for v in values):
        raise RoadmapError(f"{option}: must be whole numbers, got {text!r}")
    return (a, b)


def _show(r: Range, unit: str = "") -> str:
    return f"{r[0]:g}{unit}" if r[0] == r[1] else f"{r[0]:g}-{r[1]:g}{unit}"


@dataclass(frozen=True)
class Task:
    """What the network restores (see the module docstring for each task's meaning).

    Only the fields of ``name``'s task matter, and :meth:`to_dict` stores just those (the others
    keep their defaults: `task_from_options` refuses options of another task). Ranges are
    inclusive ``(low, high)``.
    """

    name: str = "denoise"
    sigma: Range = (25.0, 25.0)
    blur: str = "gaussian"
    blur_sigma: Range = (1.0, 3.0)
    motion_length: Range = (5.0, 15.0)
    blur_noise: Range = (0.0, 2.0)
    scale: int = 2
    quality: Range = (20.0, 20.0)

    def __post_init__(self) -> None:
        if self.name not in TASKS:
            raise RoadmapError(f"--task: unknown task {self.name!r} (choose from {', '.join(TASKS)})")
        if self.blur not in BLUR_KINDS:
            raise RoadmapError(f"--blur: must be one of {', '.join(BLUR_KINDS)}, got {self.blur!r}")
        if isinstance(self.scale, bool) or self.scale not in SCALES:
            raise RoadmapError(f"--scale: must be one of {', '.join(map(str, SCALES))}, got {self.scale!r}")
        for option, name, lo, hi, integer in _RANGES:
            object.__setattr__(self, name, parse_range(getattr(self, name), option, lo, hi, integer))
        if self.sigma[0] <= 0 and self.name == "denoise":
            raise RoadmapError(f"--sigma: must be > 0, got {_show(self.sigma)}")

    @property
    def upscale(self) -> int:
        """How much larger the output is than the input: ``scale`` for ``sr``, else 1."""
        return self.scale if self.name == "sr" else 1

    @property
    def y_channel(self) -> bool:
        """Whether the headline PSNR is the Y channel's with borders shaved (``sr``)."""
        return self.name == "sr"

    def to_dict(self) -> dict:
        """The fields that matter for this task, JSON-able (ranges as ``[low, high]``)."""
        keep = {"name", *_TASK_FIELDS[self.name]}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k in keep}

    @classmethod
    def from_dict(cls, data: dict) -> Task:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        check_known_fields(cls, data, "task")
        return cls(**data)

    def describe(self) -> str:
        """One phrase, e.g. ``deblur (gaussian: Gaussian std 1-3 px, noise 0-2)``."""
        if self.name == "denoise":
            return f"denoise (Gaussian noise sigma {_show(self.sigma)})"
        if self.name == "sr":
            return f"sr x{self.scale} (bicubic down-sampling; PSNR on Y, {self.scale} px shaved)"
        if self.name == "jpeg":
            return f"jpeg (quality {_show(self.quality)})"
        kinds = {
            "gaussian": f"Gaussian std {_show(self.blur_sigma, ' px')}",
            "motion": f"motion {_show(self.motion_length, ' px')}",
        }
        parts = list(kinds.values()) if self.blur == "mixed" else [kinds[self.blur]]
        return f"deblur ({self.blur}: {', '.join(parts)}, noise {_show(self.blur_noise)})"


# (option, field, low, high, whole numbers): every range a task takes, checked alike
_RANGES = (
    ("--sigma", "sigma", 0.0, MAX_SIGMA, False),
    ("--blur-sigma", "blur_sigma", 0.1, MAX_BLUR_SIGMA, False),
    ("--motion-length", "motion_length", 1.0, float(MAX_MOTION_LENGTH), False),
    ("--blur-noise", "blur_noise", 0.0, 50.0, False),
    ("--quality", "quality", 1.0, 100.0, True),
)
_TASK_FIELDS = {
    "denoise": ("sigma",),
    "deblur": ("blur", "blur_sigma", "motion_length", "blur_noise"),
    "sr": ("scale",),
    "jpeg": ("quality",),
}
# the option that sets each field, for "--scale only applies to --task sr"
_OPTION_OF = {"scale": "--scale", "blur": "--blur", **{name: option for option, name, *_ in _RANGES}}

DEFAULT_TASK = Task()
# The command options of a task, each named as its `Task` field (``--sigma`` -> ``sigma``): what
# `task_from_options` takes besides the task's name, for every command that reads them.
TASK_OPTIONS = tuple(f.name for f in fields(Task) if f.name != "name")


def task_from_options(name: str | None, **options: Any) -> Task:
    """The `Task` of a command's options (``None`` = not given; ``name`` None is ``denoise``).
    An option that the task does not take is refused naming it (``--scale`` without ``--task
    sr`` is a mistake, not a no-op)."""
    name = name or "denoise"
    given = {k: v for k, v in options.items() if v is not None}
    task = Task(name=name)  # an unknown name raises here, naming it
    stray = [k for k in given if k not in _TASK_FIELDS[name]]
    if stray:
        raise RoadmapError(
            f"{_OPTION_OF.get(stray[0], stray[0])}: does not apply to --task {name} "
            f"(it takes {', '.join(_OPTION_OF[f] for f in _TASK_FIELDS[name])})"
        )
    return replace(task, **given)


def task_of_spec(spec: Any, name: str | None, **options: Any) -> Task:
    """`task_from_options`, except for a spec given with no task option at all: an exported
    spec's own task (``provenance.task``, what ``roadmap export`` writes), else a
    super-resolution spec at its scale (``roadmap train winner.yaml`` trains what was searched)."""
    if name is None and all(v is None for v in options.values()):
        recorded = getattr(spec, "provenance", {}).get("task")
        if isinstance(recorded, dict):
            return Task.from_dict(recorded)
        if getattr(spec, "upscale", 1) > 1:
            return Task(name="sr", scale=spec.upscale)
    return task_from_options(name, **options)


def for_task(spec: Any, task: Task) -> Any:
    """``spec`` made fit for ``task``: any seed becomes a super-resolution network for ``sr``
    (its head up-samples by ``scale``: `roadmap.spec.with_upscale`); a spec that already
    up-samples is refused for another scale or another task, naming both."""
    if task.upscale == spec.upscale:
        return spec
    if spec.upscale != 1:
        wanted = f"--task sr --scale {spec.upscale}"
        raise RoadmapError(
            f"spec {spec.name!r} up-samples x{spec.upscale} (head.upscale): it is a "
            f"super-resolution network, not one for {task.describe()}; use {wanted}"
        )
    from roadmap.spec import with_upscale

    return with_upscale(spec, task.upscale)


# --------------------------------------------------------------------------- the baseline
# Every output that shows a PSNR shows the degraded input's beside it (noisy, blurred,
# bicubic-upsampled, JPEG): a PSNR means little without what the network started from.


def gain_text(value: float | None, baseline: float | None, digits: int = 2) -> str:
    """``degraded input 20.17 dB, gain +8.24 dB`` (gain ``n/a`` without a PSNR); empty when
    the baseline is unknown."""
    if baseline is None:
        return ""
    gain = "n/a" if value is None else f"{value - baseline:+.{digits}f} dB"
    return f"degraded input {baseline:.{digits}f} dB, gain {gain}"


def psnr_with_baseline(value: float | None, baseline: float | None, digits: int = 2) -> str:
    """``28.41 dB (degraded input 20.17 dB, gain +8.24 dB)``; ``n/a`` for a missing PSNR, the
    PSNR alone when the baseline is unknown (:func:`gain_text`)."""
    shown = "n/a" if value is None else f"{value:.{digits}f} dB"
    return f"{shown} ({gain_text(value, baseline, digits)})" if baseline is not None else shown


def task_line(task: Task, input_psnr: float | str | None) -> str:
    """``task denoise (Gaussian noise sigma 25); degraded input PSNR 20.17 dB on the validation
    images (the baseline)``: the header of pareto, plot and the search summary. ``input_psnr``
    text says why there is no one figure; None: not recorded."""
    if isinstance(input_psnr, str):
        baseline = input_psnr
    else:
        baseline = (
            "not recorded" if input_psnr is None else f"{input_psnr:.2f} dB on the validation images (the baseline)"
        )
    return f"task {task.describe()}; degraded input PSNR {baseline}"
