"""How hard a trial trains: the `Fidelity` dataclass and its named presets.

A fidelity fixes everything about the proxy training and the validation set that
changes the numbers a trial reports, so two trials are comparable exactly when
they ran at the same fidelity (and random seed).
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypedDict

from roadmap.errors import RoadmapError
from roadmap.io import check_known_fields

LOSSES = ("psnr", "l1")


def _real(value) -> float | None:
    """A finite float from a number or a numeric string; None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Fidelity:
    """Proxy-training settings.

    Training: ``iterations`` AdamW steps (``betas``, ``weight_decay``) on batches of
    ``batch`` random ``crop`` x ``crop`` patches; the learning rate follows a cosine
    decay from ``lr`` to ``min_lr``; ``loss`` is ``psnr`` (NAFNet's PSNR loss, the
    mean over the batch of ``10*log10(per-image MSE)``) or ``l1``. ``grad_clip`` is
    a max-norm on the gradients (``None``: no clipping). ``threads`` is the torch
    CPU thread count used while training (``None``: leave torch's setting).

    Validation: ``val_count`` fixed crops of ``val_crop`` x ``val_crop`` taken from
    the validation images.

    Rungs (multi-fidelity search): ``rungs`` are the cumulative iterations at the end of each
    rung, e.g. ``(150, 450, 1350)``; the last is ``iterations``. Rung ``k`` continues from
    the weights rung ``k - 1`` left, with a fresh optimiser and its own cosine cycle of
    ``rungs[k] - rungs[k - 1]`` iterations (:meth:`rung_fidelity`), so a candidate promoted
    to the top rung has trained exactly ``iterations`` steps, and a plain evaluation runs the
    same segments. A search promotes ``1 / eta`` of a rung's candidates to the next rung.
    An empty ``rungs`` is one rung of ``iterations``.

    Screening (``screen_iterations`` > 0): a search first trains the seed through every rung,
    then starts each candidate from the seed's trained weights carried through its steps
    (`roadmap.transforms.carry_weights`) and fine-tunes it ``screen_iterations`` steps: that is
    the search's rung 0. The best ``1 / eta`` then train from scratch through ``rungs`` (the
    search's rung 1, where the front is declared). ``benchmarks/proxy_fidelity.py`` measured
    both: the inherited screen ranks like long training at a ninth of the from-scratch cost.
    With ``front_on_screens`` the screens are the top rung: the front is declared on them, and
    no candidate but the seed (whose base run every screen starts from) trains from scratch.

    Replication: ``top_seeds`` is 1 or 2, the random seeds every candidate at the search's top
    rung trains with. With 2 the front is declared on the mean of two runs, whose noise is
    ``1 / sqrt(2)`` of one run's, at twice the top rung's cost: where one run ranks too noisily
    (deblurring). With 1 only the seed and the knee's confirmations train a second time.
    """

    name: str = "custom"
    iterations: int = 180
    batch: int = 8
    crop: int = 48
    lr: float = 2e-3
    min_lr: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.9)
    weight_decay: float = 0.0
    loss: str = "psnr"
    grad_clip: float | None = None
    val_crop: int = 128
    val_count: int = 8
    threads: int | None = 1
    rungs: tuple[int, ...] = ()
    eta: int = 3
    screen_iterations: int = 0
    front_on_screens: bool = False
    top_seeds: int = 1

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> RoadmapError:
            return RoadmapError(f"fidelity.{name}: {rule}, got {getattr(self, name)!r}")

        self._coerce_numbers(bad)
        for name in ("iterations", "batch", "crop", "val_crop", "val_count"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a positive integer")
        if not self.lr > 0:
            raise bad("lr", "must be > 0")
        if not 0 <= self.min_lr <= self.lr:
            raise bad("min_lr", "must be in [0, lr]")
        if self.loss not in LOSSES:
            raise bad("loss", f"must be one of {', '.join(LOSSES)}")
        if self.weight_decay < 0:
            raise bad("weight_decay", "must be >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise bad("grad_clip", "must be > 0 or null")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise bad("threads", "must be a positive integer or null")
        self._check_rungs(bad)
        object.__setattr__(self, "rungs", tuple(self.rungs))

    def _coerce_numbers(self, bad) -> None:
        """Real numbers as floats: YAML reads ``1.0e6`` (no sign in the exponent) as a string,
        so a numeric string is accepted; anything else names the field."""
        for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if value is None and name == "grad_clip":
                continue
            number = _real(value)
            if number is None:
                raise bad(name, "must be a finite number")
            object.__setattr__(self, name, number)
        given = self.betas if isinstance(self.betas, (list, tuple)) else None
        betas = None if given is None or len(given) != 2 else [_real(b) for b in given]
        if betas is None or any(b is None or not 0 <= b < 1 for b in betas):
            raise bad("betas", "must be two numbers in [0, 1)")
        # Tuples survive JSON round trips as lists; keep `==` meaningful.
        object.__setattr__(self, "betas", tuple(betas))

    def _check_rungs(self, bad) -> None:
        rungs = list(self.rungs)
        if any(not isinstance(r, int) or isinstance(r, bool) or r < 1 for r in rungs) or any(
            b <= a for a, b in itertools.pairwise(rungs)
        ):
            raise bad("rungs", "must be increasing positive integers (cumulative iterations)")
        if rungs and rungs[-1] != self.iterations:
            raise bad("rungs", f"must end at iterations ({self.iterations})")
        if not isinstance(self.eta, int) or isinstance(self.eta, bool) or self.eta < 2:
            raise bad("eta", "must be an integer >= 2")
        screen = self.screen_iterations
        if not isinstance(screen, int) or isinstance(screen, bool) or screen < 0:
            raise bad("screen_iterations", "must be an integer >= 0 (0: no inherited screening rung)")
        if not isinstance(self.front_on_screens, bool):
            raise bad("front_on_screens", "must be true or false")
        if self.front_on_screens and not screen:
            raise bad("front_on_screens", "needs screen_iterations > 0 (there are no screens to declare the front on)")
        if self.top_seeds not in (1, 2) or isinstance(self.top_seeds, bool):
            raise bad("top_seeds", "must be 1 or 2 (random seeds each top-rung candidate trains with)")

    @property
    def rung_iterations(self) -> tuple[int, ...]:
        """Cumulative iterations at the end of each rung (one rung when ``rungs`` is empty)."""
        return self.rungs or (self.iterations,)

    @property
    def screens(self) -> bool:
        """Whether a search's rung 0 is an inherited screen (``screen_iterations`` > 0) rather
        than the first rung of the from-scratch chain: the one place that decides it."""
        return self.screen_iterations > 0

    @property
    def search_top_rung(self) -> int:
        """The rung a search declares its front at: the screens' rung 0 with ``front_on_screens``,
        1 after any other screening rung, else the last rung of the chain."""
        if self.screens:
            return 0 if self.front_on_screens else 1
        return len(self.rung_iterations) - 1

    @property
    def base_rung(self) -> int:
        """Screening: the search rung the seed's base run (the whole chain from scratch, whose
        weights start every screen) is recorded at: 1, the top rung unless ``front_on_screens``."""
        return 1

    def screen_fidelity(self) -> Fidelity:
        """The fine-tuning of a screening rung: ``screen_iterations`` steps, one cosine cycle."""
        return replace(
            self, iterations=self.screen_iterations, rungs=(), screen_iterations=0, front_on_screens=False, top_seeds=1
        )

    def rung_fidelity(self, rung: int) -> Fidelity:
        """The training of rung ``rung`` alone: its own iterations, no rungs."""
        ends = self.rung_iterations
        start = ends[rung - 1] if rung > 0 else 0
        return replace(
            self, iterations=ends[rung] - start, rungs=(), screen_iterations=0, front_on_screens=False, top_seeds=1
        )

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field, but a field added later (:data:`ADDED_LATER`) at
        the value older studies trained with: their stored fidelity stays equal to it."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        data["rungs"] = list(self.rungs)
        return {k: v for k, v in data.items() if ADDED_LATER.get(k, _NONE) != v}

    @classmethod
    def from_dict(cls, data: dict) -> Fidelity:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they are typos)."""
        check_known_fields(cls, data, "fidelity")
        data = dict(data)
        if data.get("rungs") and "iterations" not in data:
            data["iterations"] = list(data["rungs"])[-1]
        return cls(**data)


_NONE = object()
# Fields a stored fidelity may lack, with the value studies from before them trained with.
ADDED_LATER = {"top_seeds": 1}


class _Base(TypedDict):
    """The fields the default-sized presets share."""

    batch: int
    crop: int
    lr: float
    val_crop: int
    val_count: int


# `default` screens and then trains from scratch (benchmarks/proxy_fidelity.py, README "How far
# the PSNR axis can be trusted"): the seed trains 150 + 300 + 900 iterations once; every
# candidate starts from those weights carried through its steps and fine-tunes 150 iterations
# (the screen ranks like long training: Kendall tau 0.80, where 150 iterations from scratch gave
# 0.49); the best quarter by non-dominated sorting, plus the reference points, train the same
# 1350 iterations from scratch (tau 0.87, pair accuracy 0.98), where the front is declared.
# `inherited` declares the front on longer screens (450 iterations from the same trained seed):
# no candidate trains from scratch; where weights carry well (super-resolution) it ranks better
# than `default`'s from-scratch rung at two thirds of its cost.
# `replicated` is `default` with every top-rung candidate trained with two random seeds: where
# one run is too noisy to rank (deblurring: one run's pair accuracy 0.88, the mean of two 1.00).
# `long` (2500 iterations, one rung) is that benchmark's reference; its fields are written out
# so that no change of `default` can alter it.
_BASE: _Base = {"batch": 8, "crop": 48, "lr": 2e-3, "val_crop": 128, "val_count": 8}
PRESETS: dict[str, Fidelity] = {
    "smoke": Fidelity(name="smoke", iterations=3, batch=2, crop=32, val_crop=32, val_count=2),
    "quick": Fidelity(name="quick", iterations=100, batch=8, crop=48, lr=2e-3, val_crop=96, val_count=6),
    "default": Fidelity(name="default", iterations=1350, rungs=(150, 450, 1350), eta=4, screen_iterations=150, **_BASE),
    "long": Fidelity(name="long", iterations=2500, batch=8, crop=48, lr=2e-3, val_crop=128, val_count=8),
    "inherited": Fidelity(
        name="inherited",
        iterations=1350,
        rungs=(150, 450, 1350),
        eta=4,
        screen_iterations=450,
        front_on_screens=True,
        **_BASE,
    ),
}
PRESETS["replicated"] = replace(PRESETS["default"], name="replicated", top_seeds=2)
# The preset whose one top-rung run another preset trains: they share its noise prior.
RUNS_LIKE = {"replicated": "default"}


@dataclass(frozen=True)
class NoisePrior:
    """What the calibration benchmark measured of the PSNR noise of one training: the
    seed-to-seed standard deviation ``sigma_db`` of a single run at a fidelity's top rung,
    with its degrees of freedom ``dof`` (one per candidate trained with two random seeds) and
    ``source``, where it was measured. A study pools its own replicated candidates with it
    (`roadmap.search.results.noise_floor`): the prior counts as ``dof`` pseudo-observations."""

    fidelity: str  # the preset's name
    task: str  # the task's name (`roadmap.evaluation.tasks.Task.name`)
    sigma_db: float
    dof: int
    source: str

    def label(self) -> str:
        """``the default fidelity's denoise prior (0.091 dB, 22 dof)``."""
        return f"the {self.fidelity} fidelity's {self.task} prior ({self.sigma_db:.3f} dB, {self.dof} dof)"


# The one table of noise priors, by (preset, task name). Only measured values belong here: a
# missing entry means "no prior" and a study then relies on its own pairs alone.
NOISE_PRIORS: dict[tuple[str, str], NoisePrior] = {
    ("default", "denoise"): NoisePrior(
        "default",
        "denoise",
        0.091,
        22,
        "benchmarks/proxy_fidelity.py: 22 candidates trained at the top rung (150 + 300 + 900 iterations "
        "from scratch) with random seeds 0 and 1, denoising at sigma 25 on the older 3-image training data",
    ),
    ("default", "sr"): NoisePrior(
        "default",
        "sr",
        0.059,
        12,
        "benchmarks/proxy_fidelity.py --task sr --scale 2: 12 candidates trained at the top rung (150 + 300 + 900 "
        "iterations from scratch) with random seeds 0 and 1, super-resolution x2",
    ),
    ("default", "deblur"): NoisePrior(
        "default",
        "deblur",
        0.156,
        12,
        "benchmarks/proxy_fidelity.py --task deblur: 12 candidates trained at the top rung (150 + 300 + 900 "
        "iterations from scratch) with random seeds 0 and 1, Gaussian deblurring (std 1-3 px, noise 0-2)",
    ),
    ("inherited", "sr"): NoisePrior(
        "inherited",
        "sr",
        0.039,
        12,
        "benchmarks/proxy_fidelity.py --task sr --scale 2: 12 candidates screened 450 iterations from the seed "
        "trained 1350, each random seed (0, 1) from its own seed training, super-resolution x2",
    ),
}


# The preset a search trains at when no ``--fidelity`` is given, by task name, chosen from the
# calibration of each task (benchmarks/proxy_fidelity.py --task ..., README "How far the proxy
# ranks each task"); a task not named here uses `default`. Super-resolution x2: `default`'s
# from-scratch top rung ranked at Kendall tau 0.58 (pair accuracy 0.97), `inherited`'s screens
# at 0.79 (0.97) for two thirds of the training. Deblurring: one run of `default`'s top rung
# ranked at 0.64 (pair accuracy 0.88, short of 0.9), `inherited` at 0.67 (0.85), the mean of
# two `default` runs at 0.76 (1.00): `replicated`, at twice the top rung's cost.
TASK_PRESETS: dict[str, str] = {"sr": "inherited", "deblur": "replicated"}


def default_preset(task: str) -> str:
    """The name of the preset a search of the task named ``task`` uses by default."""
    return TASK_PRESETS.get(task, "default")


def noise_prior(fidelity: Fidelity, task: str) -> NoisePrior | None:
    """The prior of ``fidelity`` for the task named ``task``, or None: a fidelity has one only
    when it is a preset field for field (the thread count aside, which a search may set) whose
    one run (:data:`RUNS_LIKE`) has a prior in :data:`NOISE_PRIORS`, since any other training
    changes the spread that was measured."""
    preset = PRESETS.get(fidelity.name)
    if preset is None or replace(fidelity, threads=preset.threads) != preset:
        return None
    return NOISE_PRIORS.get((RUNS_LIKE.get(fidelity.name, fidelity.name), task))


# Sizes a fidelity file may ask for. Far beyond any proxy training (the `long` preset: 2500
# iterations of batch 8 at crop 48), low enough that a typo is refused before a batch of
# 10**9 crops is allocated.
FILE_LIMITS = {
    "iterations": 10**7,
    "batch": 4096,
    "crop": 4096,
    "val_crop": 4096,
    "val_count": 4096,
    "threads": 1024,
    "eta": 100,
}


def load_fidelity(value: str | Fidelity | dict) -> Fidelity:
    """A preset name, a YAML/JSON file of fidelity fields (missing ones take the ``default``
    preset's values, except that a file setting ``iterations`` or ``rungs`` screens only if it
    sets ``screen_iterations``), a dict, or a `Fidelity`: what every ``--fidelity`` option accepts.
    A file's errors name it and, where they can, the line (:mod:`roadmap.io`)."""
    if isinstance(value, str) and value not in PRESETS and Path(value).exists():
        return _fidelity_file(value)
    if isinstance(value, str) and value not in PRESETS and _looks_like_a_path(value):
        raise RoadmapError(
            f"--fidelity {value}: no such file (a fidelity is a preset: {', '.join(PRESETS)}, "
            "or a YAML/JSON file of fidelity fields)"
        )
    return get_fidelity(value)


def _looks_like_a_path(value: str) -> bool:
    """Whether ``--fidelity`` text names a file rather than a preset: a folder or a suffix."""
    return "/" in value or os.sep in value or Path(value).suffix.lower() in (".yaml", ".yml", ".json")


def _fidelity_file(value: str) -> Fidelity:
    from roadmap import io

    doc = io.load_yaml(value, "--fidelity")  # JSON is YAML too
    data = doc.data
    if not isinstance(data, dict):
        raise RoadmapError(f"{doc.label}: must hold a mapping of fidelity fields")
    try:
        if any(not isinstance(key, str) for key in data):
            raise RoadmapError(f"fidelity: field names must be text, got {sorted(map(repr, data))[0]}")
        if not isinstance(data.get("name", ""), str):
            raise RoadmapError(f"fidelity.name: must be text, got {data['name']!r}")
        for key, limit in FILE_LIMITS.items():
            if isinstance(data.get(key), int) and data[key] > limit:
                raise RoadmapError(f"fidelity.{key}: must be at most {limit}, got {data[key]}")
        base = PRESETS["default"].to_dict()
        if "iterations" in data or "rungs" in data:
            # a new training length makes the default's screening length meaningless: a file
            # that sets one screens only when it says how long
            for key in ("rungs", "iterations", "screen_iterations"):
                base.pop(key)
        return Fidelity.from_dict({**base, "name": Path(value).stem, **data})
    except RoadmapError as exc:
        raise doc.error(str(exc)) from None
    except TypeError as exc:  # a field of the wrong shape Fidelity's checks do not expect
        raise doc.error(f"fidelity: {exc}") from None


def get_fidelity(fidelity: str | Fidelity | dict) -> Fidelity:
    """Resolve a preset name, a dict of fields, or a `Fidelity` to a `Fidelity`."""
    if isinstance(fidelity, Fidelity):
        return fidelity
    if isinstance(fidelity, dict):
        return Fidelity.from_dict(fidelity)
    if isinstance(fidelity, str) and fidelity in PRESETS:
        return PRESETS[fidelity]
    raise RoadmapError(f"fidelity: unknown preset {fidelity!r} (choose from {', '.join(PRESETS)})")
