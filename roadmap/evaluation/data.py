"""Restoration data: the embedded photographs, user folders, crops and degradations.

Three sources, all ending in a `RestorationData`:

* ``None`` -- the photographs shipped inside scikit-image's wheel (no download), split by
  image into training (``EMBEDDED_TRAIN``), validation (``EMBEDDED_VAL``) and test
  (``EMBEDDED_TEST``) so that no scene is in two of them. The test images are never trained
  on and never used to choose anything: ``roadmap eval`` and ``export`` only report them.
* a folder of clean images -- split by image in name order (every fifth file from the third
  validates, every fifth from the fifth tests), or explicit ``train/``, ``val/`` (and
  optionally ``test/``) sub-folders.
* a folder of pairs ``input/`` + ``target/`` with matching file names (BasicSR's SIDD / GoPro /
  DIV2K layout); split the same way, or ``train/{input,target}`` and ``val/{input,target}``.
  Real inputs are used as they are: no synthetic degradation. For super-resolution an input
  is ``scale`` times smaller than its target (DIV2K's LR / HR).

Synthetic inputs are the task's degradation of the clean crops
(`roadmap.evaluation.degradations`), drawn from the sampler's generator for training and from
fixed seeds for validation and test, so every trial is scored on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from roadmap.errors import RoadmapError
from roadmap.evaluation.degradations import degrade
from roadmap.evaluation.tasks import DEFAULT_TASK, Task
from roadmap.io import one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
# Validation / test crops and their degradations come from these fixed seeds, never from the
# trial's random seed: every trial is scored on exactly the same inputs.
VAL_SEED = 20240917
TEST_SEED = 20261203
VAL_EVERY = 5  # every VAL_EVERY-th image (name order) of a user folder validates, another tests

# Every photograph scikit-image ships inside its wheel (README, "Data"), split by image. Left out:
# the right view of the stereo motorcycle (the left view's scene), `clock` (a motion-blurred
# photo with no sharp original), `microaneurysms` (102x102, smaller than a validation crop) and
# the synthetic images (horse, logo, colorwheel, checkerboards, phantom, binary blobs).
EMBEDDED_TRAIN = (
    "astronaut",
    "coffee",
    "rocket",
    "camera",
    "brick",
    "grass",
    "coins",
    "hubble_deep_field",
    "retina",
    "cell",
    "page",
)
EMBEDDED_VAL = ("chelsea", "motorcycle", "gravel")
EMBEDDED_TEST = ("immunohistochemistry", "moon", "text")


@dataclass
class RestorationData:
    """Training images and fixed validation and test sets for one `Task`.

    ``train_clean``: list of ``[3, H, W]`` float32 tensors in [0, 1]. ``train_input``: matching
    real inputs (pairs; ``scale`` times smaller for ``sr``) or ``None`` (synthetic degradation).
    ``val_clean`` ``[N, 3, h, w]`` / ``val_input`` ``[N, 3, h / s, w / s]`` (``s`` the task's
    up-scaling, 1 but for ``sr``): fixed for a given ``val_crop`` / ``val_count``; ``test_clean``
    / ``test_input`` likewise from the test images (``None`` when the source has none).
    ``synthetic``: whether inputs are the task's degradation (False for real pairs).
    ``source``: where the images came from.
    """

    train_clean: list[torch.Tensor]
    train_input: list[torch.Tensor] | None
    val_clean: torch.Tensor
    val_input: torch.Tensor
    task: Task
    source: str
    test_clean: torch.Tensor | None = None
    test_input: torch.Tensor | None = None
    train_names: list[str] = field(default_factory=list)
    val_names: list[str] = field(default_factory=list)
    test_names: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        """Whether the inputs are the task's synthetic degradation (not real pairs)."""
        return self.train_input is None

    @property
    def description(self) -> str:
        """What the inputs are, for fingerprints and logs: the task, or real pairs."""
        return self.task.describe() if self.synthetic else f"{self.task.name} (real pairs)"

    @property
    def min_train_hw(self) -> tuple[int, int]:
        """Smallest training image height and width (crops must fit)."""
        return (min(t.shape[1] for t in self.train_clean), min(t.shape[2] for t in self.train_clean))


# ---------------------------------------------------------------- image loading


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 / uint16 / bool / float HxW[xC] array -> ``[3, H, W]`` float32 in [0, 1].

    Grey images are repeated to three channels; an alpha channel is dropped.
    """
    a = np.asarray(array)
    if a.dtype == np.bool_:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    else:
        a = a.astype(np.float32)
        if a.max() > 1.0:  # float images saved on the 0-255 scale
            a = a / 255.0
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"unsupported image shape {array.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).clamp_(0.0, 1.0)


MAX_IMAGE_PIXELS = 64 * 2**20  # 64 megapixels: 768 MB as float32 RGB; a larger one is a mistake


def read_image(path: Path) -> torch.Tensor:
    """Read one image file as ``[3, H, W]`` float32 in [0, 1]; RoadmapError naming it
    when it cannot be decoded, is larger than MAX_IMAGE_PIXELS or holds NaN / infinite pixels."""
    import skimage.io  # imported here: only user folders need it

    _check_image_size(path)
    try:
        image = to_tensor(skimage.io.imread(str(path)))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the same problem for the user
        raise RoadmapError(one_line(f"cannot read image {path}: {type(exc).__name__}: {exc}".splitlines()[0])) from None
    if not bool(torch.isfinite(image).all()):
        raise RoadmapError(one_line(f"image {path}: has NaN or infinite pixel values"))
    return image


def _check_image_size(path: Path) -> None:
    """Refuse an image larger than MAX_IMAGE_PIXELS from its header, before it is decoded
    (a few hundred bytes of PNG can declare gigapixels). Formats PIL cannot open are left to
    the decoder."""
    import warnings

    try:
        from PIL import Image

        with warnings.catch_warnings():  # PIL's DecompressionBombWarning: the check below says it
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 - not PIL's format, or broken: the decoder will say
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise RoadmapError(
            one_line(
                f"image {path}: {width}x{height} pixels is larger than the limit of "
                f"{MAX_IMAGE_PIXELS // 2**20} megapixels"
            )
        )


def data_folder(folder: str | Path) -> Path:
    """``--data`` (or one of its sub-folders) as an existing folder: the one wording of a
    missing one, whichever command reads it (``--data X: no such folder``)."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise RoadmapError(f"--data {folder}: no such folder")
    if not folder.is_dir():
        raise RoadmapError(f"--data {folder}: not a folder")
    return folder


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; errors when missing or empty."""
    folder = data_folder(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RoadmapError(f"no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def embedded_images() -> tuple[dict[str, torch.Tensor], ...]:
    """The scikit-image photographs as ``(train, val, test)`` dicts name -> ``[3, H, W]``
    (grey ones repeated to three channels)."""
    import skimage.data

    def load(name: str) -> torch.Tensor:
        if name == "motorcycle":
            # Left view only: the right view is the same scene (stereo pair).
            return to_tensor(skimage.data.stereo_motorcycle()[0])
        return to_tensor(getattr(skimage.data, name)())

    return tuple({n: load(n) for n in names} for names in (EMBEDDED_TRAIN, EMBEDDED_VAL, EMBEDDED_TEST))


def split_by_image(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Deterministic split of sorted names into ``(train, val, test)``: every VAL_EVERY-th
    (starting at the third) validates, at least one; every VAL_EVERY-th starting at the fifth
    tests (none below five images); needs two images."""
    if len(names) < 2:
        raise RoadmapError(f"need at least 2 images to split into training and validation, found {len(names)}")
    start = min(2, len(names) - 1)
    val, test = names[start::VAL_EVERY], names[4::VAL_EVERY]
    held_out = set(val) | set(test)
    return [n for n in names if n not in held_out], val, test


# ---------------------------------------------------------------- crops and degradations


def _check_fits(images: dict[str, torch.Tensor], crop: int, what: str) -> None:
    small = [f"{n} ({t.shape[1]}x{t.shape[2]})" for n, t in images.items() if min(t.shape[1:]) < crop]
    if small:
        raise RoadmapError(f"{what} images smaller than the {crop}x{crop} crop: {', '.join(small)}")


def task_crop(crop: int, task: Task) -> int:
    """The clean (output) crop for ``task``: ``crop`` rounded down to a multiple of the task's
    up-scaling, so the low-resolution input is whole (128 -> 126 at x3)."""
    return crop - crop % task.upscale


def fixed_crops(
    images: dict[str, torch.Tensor], count: int, crop: int, generator: torch.Generator
) -> tuple[list[tuple[str, int, int]], torch.Tensor]:
    """``count`` crops spread round-robin over ``images`` at positions drawn from
    ``generator``; returns the positions ``(name, top, left)`` and ``[count, 3, crop, crop]``."""
    names = list(images)
    positions, crops = [], []
    for k in range(count):
        name = names[k % len(names)]
        img = images[name]
        top = int(torch.randint(img.shape[1] - crop + 1, (1,), generator=generator))
        left = int(torch.randint(img.shape[2] - crop + 1, (1,), generator=generator))
        positions.append((name, top, left))
        crops.append(img[:, top : top + crop, left : left + crop])
    return positions, torch.stack(crops)


def input_crop(image: torch.Tensor, top: int, left: int, crop: int, scale: int) -> torch.Tensor:
    """The crop of a real input matching the clean crop at ``(top, left)`` of side ``crop``: the
    same window, ``scale`` times smaller for super-resolution (``crop``, ``top`` and ``left``
    multiples of ``scale``)."""
    y, x, c = top // scale, left // scale, crop // scale
    return image[:, y : y + c, x : x + c]


def make_fixed_set(
    clean: dict[str, torch.Tensor],
    inputs: dict[str, torch.Tensor] | None,
    count: int,
    crop: int,
    task: Task,
    seed: int,
    what: str = "validation",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed ``(inputs, clean)`` crops (``[count, 3, crop / s, crop / s]``, ``[count, 3, crop,
    crop]``): crop positions and synthetic degradations come from ``seed`` only. Real ``inputs``
    are cropped at the same places; for ``sr`` positions are multiples of the scale."""
    s = task.upscale
    crop = task_crop(crop, task)
    _check_fits(clean, crop, what)
    gen = torch.Generator().manual_seed(seed)
    if s > 1:  # whole low-resolution pixels: draw positions on the LR grid
        lr = {n: t[:, : t.shape[1] // s, : t.shape[2] // s] for n, t in clean.items()}
        positions, _ = fixed_crops(lr, count, crop // s, gen)
        positions = [(n, y * s, x * s) for n, y, x in positions]
    else:
        positions, _ = fixed_crops(clean, count, crop, gen)
    clean_crops = torch.stack([clean[n][:, y : y + crop, x : x + crop] for n, y, x in positions])
    if inputs is None:
        return degrade(clean_crops, task, gen), clean_crops
    return torch.stack([input_crop(inputs[n], y, x, crop, s) for n, y, x in positions]), clean_crops


class TrainSampler:
    """Random training batches: crops + horizontal / vertical flips + the task's degradation.

    All randomness comes from one ``torch.Generator`` seeded with ``seed``, so the
    crop order is a function of the seed alone. ``next_batch()`` returns
    ``(inputs, clean)``: ``[batch, 3, crop / s, crop / s]`` and ``[batch, 3, crop, crop]``
    (``s`` the task's up-scaling; ``crop`` rounded down to a multiple of it). ``last_positions``
    holds the ``(image index, top, left, hflip, vflip)`` of the last (global) batch.

    ``shard=(rank, world)``: worker ``rank`` of a data-parallel training gets rows
    ``[rank * batch / world, (rank + 1) * batch / world)`` of the global batch, ``[batch / world,
    ...]``. Every worker draws the whole global batch from the same generator and keeps its
    slice, so the crops of a step, and the generator state a checkpoint keeps, do not depend on
    the number of workers.
    """

    def __init__(
        self, data: RestorationData, batch: int, crop: int, seed: int, shard: tuple[int, int] = (0, 1)
    ) -> None:
        crop = task_crop(crop, data.task)
        _check_fits(
            dict(zip(data.train_names or map(str, range(len(data.train_clean))), data.train_clean, strict=False)),
            crop,
            "training",
        )
        rank, world = shard
        if batch % world or not 0 <= rank < world:
            raise RoadmapError(f"batch {batch}: cannot be shared equally by {world} workers (rank {rank})")
        self.data, self.batch, self.crop = data, batch, crop
        self.share = slice(rank * batch // world, (rank + 1) * batch // world)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.last_positions: list[tuple[int, int, int, bool, bool]] = []

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        g, c, d, s = self.generator, self.crop, self.data, self.data.task.upscale
        clean, inputs, positions = [], [], []
        for _ in range(self.batch):
            i = int(torch.randint(len(d.train_clean), (1,), generator=g))
            img = d.train_clean[i]
            top = int(torch.randint((img.shape[1] - c) // s + 1, (1,), generator=g)) * s
            left = int(torch.randint((img.shape[2] - c) // s + 1, (1,), generator=g)) * s
            hflip, vflip = (torch.rand(2, generator=g) < 0.5).tolist()
            positions.append((i, top, left, hflip, vflip))
            pair = [img[:, top : top + c, left : left + c]]
            if d.train_input is not None:
                pair.append(input_crop(d.train_input[i], top, left, c, s))
            dims = [dim for dim, flip in ((2, hflip), (1, vflip)) if flip]
            if dims:
                pair = [t.flip(dims) for t in pair]
            clean.append(pair[0])
            if d.train_input is not None:
                inputs.append(pair[1])
        clean_t = torch.stack(clean).contiguous()
        inputs_t = degrade(clean_t, d.task, g) if d.train_input is None else torch.stack(inputs).contiguous()
        self.last_positions = positions
        return inputs_t[self.share], clean_t[self.share]


# ---------------------------------------------------------------- loading


def _load_folder(folder: Path) -> dict[str, torch.Tensor]:
    return {p.name: read_image(p) for p in list_images(folder)}


def _load_pairs(folder: Path, scale: int = 1) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(input, target)`` dicts from ``folder/input`` and ``folder/target``; each input must be
    its target's size divided by ``scale`` (super-resolution: LR / HR)."""
    inputs = {p.name: p for p in list_images(folder / "input")}
    targets = {p.name: p for p in list_images(folder / "target")}
    only_in, only_tg = sorted(set(inputs) - set(targets)), sorted(set(targets) - set(inputs))
    if only_in or only_tg:
        parts = []
        if only_in:
            parts.append(f"only in input/: {', '.join(only_in)}")
        if only_tg:
            parts.append(f"only in target/: {', '.join(only_tg)}")
        raise RoadmapError(f"unmatched pair names in {folder}: {'; '.join(parts)}")
    degraded = {n: read_image(p) for n, p in inputs.items()}
    clean = {n: read_image(p) for n, p in targets.items()}
    for n in degraded:
        lr, hr = tuple(degraded[n].shape[1:]), tuple(clean[n].shape[1:])
        if (lr[0] * scale, lr[1] * scale) != hr:
            expected = f"{scale} times smaller than" if scale > 1 else "the size of"
            raise RoadmapError(
                f"pair {n} has sizes that do not match: input {lr[0]}x{lr[1]}, target "
                f"{hr[0]}x{hr[1]} (the input must be {expected} its target)"
            )
    return degraded, clean


def _is_pairs(folder: Path) -> bool:
    return (folder / "input").is_dir() or (folder / "target").is_dir()


Split = dict[str, torch.Tensor]


def _load_explicit(root: Path, scale: int) -> tuple[list[Split], list[Split | None], bool]:
    """``train/``, ``val/`` (and an optional ``test/``) sub-folders: ``(clean, inputs, pairs)``
    per part, inputs ``None`` for clean folders."""
    parts = ["train", "val"] + (["test"] if (root / "test").is_dir() else [])
    for part in ("train", "val"):
        if not (root / part).is_dir():
            raise RoadmapError(f"data folder not found: {root / part} (train/ and val/ go together)")
    pairs = _is_pairs(root / "train")
    clean: list[Split] = []
    inputs: list[Split | None] = []
    for part in parts:
        if pairs:
            degraded, target = _load_pairs(root / part, scale)
            inputs.append(degraded)
            clean.append(target)
        else:
            clean.append(_load_folder(root / part))
            inputs.append(None)
    if len(parts) == 2:
        clean.append({})
        inputs.append(None if not pairs else {})
    return clean, inputs, pairs


def _load_split(root: Path, scale: int) -> tuple[list[Split], list[Split | None], bool]:
    """One folder of images or pairs, split by image (`split_by_image`)."""
    pairs = _is_pairs(root)
    if pairs:
        inputs_all, clean_all = _load_pairs(root, scale)
    else:
        clean_all, inputs_all = _load_folder(root), None
    names = split_by_image(sorted(clean_all))
    clean = [{n: clean_all[n] for n in part} for part in names]
    inputs = [None if inputs_all is None else {n: inputs_all[n] for n in part} for part in names]
    return clean, inputs, pairs


def _load_source(data: str | Path | None, task: Task) -> tuple[list[Split], list[Split | None], str]:
    """``([train, val, test] clean, the same real inputs or None, source)`` of a data source."""
    if data is None:
        return list(embedded_images()), [None, None, None], "embedded:scikit-image"
    root = data_folder(data)
    explicit = (root / "train").is_dir() or (root / "val").is_dir()
    clean, inputs, pairs = (_load_explicit if explicit else _load_split)(root, task.upscale)
    return clean, inputs, f"{'pairs' if pairs else 'folder'}:{root}"


def load_data(
    data: str | Path | RestorationData | None = None,
    *,
    task: Task = DEFAULT_TASK,
    val_crop: int = 128,
    val_count: int = 8,
    train_crop: int | None = None,
) -> RestorationData:
    """Load a data source (see the module docstring) into a `RestorationData` for ``task``.

    ``val_crop`` / ``val_count`` size the fixed validation and test sets; ``train_crop``, when
    given, is checked against every training image. Raises `RoadmapError` with one line for a
    missing folder, no images, an unreadable file, unmatched pair names, pair sizes that do not
    match the task's scale or images smaller than a crop. A `RestorationData` passes through.
    """
    if isinstance(data, RestorationData):
        return data
    clean, inputs, source = _load_source(data, task)
    train, val, test = clean
    if train_crop is not None:
        _check_fits(train, task_crop(train_crop, task), "training")
    val_input, val_clean = make_fixed_set(val, inputs[1], val_count, val_crop, task, VAL_SEED)
    test_input = test_clean = None
    if test:
        test_input, test_clean = make_fixed_set(test, inputs[2], val_count, val_crop, task, TEST_SEED, "test")
    return RestorationData(
        train_clean=list(train.values()),
        train_input=None if inputs[0] is None else [inputs[0][n] for n in train],
        val_clean=val_clean,
        val_input=val_input,
        task=task,
        source=source,
        test_clean=test_clean,
        test_input=test_input,
        train_names=list(train),
        val_names=list(val),
        test_names=list(test),
    )
