"""Denoising data: the embedded photographs, user folders, crops and noise.

Three sources, all ending in a `DenoiseData`:

* ``None`` -- photographs shipped inside scikit-image (no download): training on
  ``astronaut``, ``coffee``, ``rocket``; validation on ``chelsea`` and the left view
  of ``stereo_motorcycle``. The split is by image, so no scene is in both.
* a folder of clean images -- split by image (every fifth file, in name order, goes
  to validation), or explicit ``train/`` and ``val/`` sub-folders.
* a folder of pairs ``input/`` + ``target/`` with matching file names (BasicSR's
  SIDD / GoPro layout); split the same way, or ``train/{input,target}`` and
  ``val/{input,target}``. Real noisy inputs are used as they are: no synthetic noise.

Synthetic noise is additive Gaussian of standard deviation ``sigma / 255`` (images
are in [0, 1]) and is not clipped, as in the DnCNN / NAFNet denoising setups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from roadmap.errors import RoadmapError
from roadmap.io import one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
DEFAULT_SIGMA = 25.0
# Validation crops and validation noise come from this fixed seed, never from the
# trial's random seed: every trial is scored on exactly the same noisy images.
VAL_SEED = 20240917
VAL_EVERY = 5  # every VAL_EVERY-th image (name order) of a user folder validates

EMBEDDED_TRAIN = ("astronaut", "coffee", "rocket")
EMBEDDED_VAL = ("chelsea", "motorcycle")


@dataclass
class DenoiseData:
    """Training images and a fixed validation set.

    ``train_clean``: list of ``[3, H, W]`` float32 tensors in [0, 1].
    ``train_noisy``: matching real noisy inputs (pairs) or ``None`` (synthetic noise).
    ``val_clean`` / ``val_noisy``: ``[N, 3, h, w]`` float32, fixed for a given
    ``val_crop`` / ``val_count``. ``sigma``: synthetic noise on the 0-255 scale,
    ``None`` for real pairs. ``source``: where the images came from.
    """

    train_clean: list[torch.Tensor]
    train_noisy: list[torch.Tensor] | None
    val_clean: torch.Tensor
    val_noisy: torch.Tensor
    sigma: float | None
    source: str
    train_names: list[str] = field(default_factory=list)
    val_names: list[str] = field(default_factory=list)

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
    except Exception as exc:  # any decoder failure is the same problem for the user
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
        raise RoadmapError(one_line(f"image {path}: {width}x{height} pixels is larger than the limit of "
                                    f"{MAX_IMAGE_PIXELS // 2**20} megapixels"))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; errors when missing or empty."""
    if not folder.exists():
        raise RoadmapError(f"data folder not found: {folder}")
    if not folder.is_dir():
        raise RoadmapError(f"data path is not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RoadmapError(
            f"no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def embedded_images() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The scikit-image photographs as ``(train, val)`` dicts name -> ``[3, H, W]``."""
    import skimage.data

    def load(name: str) -> torch.Tensor:
        if name == "motorcycle":
            # Left view only: the right view is the same scene (stereo pair).
            return to_tensor(skimage.data.stereo_motorcycle()[0])
        return to_tensor(getattr(skimage.data, name)())

    return ({n: load(n) for n in EMBEDDED_TRAIN}, {n: load(n) for n in EMBEDDED_VAL})


def split_by_image(names: list[str]) -> tuple[list[str], list[str]]:
    """Deterministic split of sorted names: every VAL_EVERY-th (starting at the
    third) validates, at least one; needs two images."""
    if len(names) < 2:
        raise RoadmapError(
            f"need at least 2 images to split into training and validation, found {len(names)}"
        )
    start = min(2, len(names) - 1)
    val = names[start::VAL_EVERY]
    train = [n for n in names if n not in set(val)]
    return train, val


# ---------------------------------------------------------------- crops and noise


def add_noise(clean: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``clean + N(0, (sigma/255)^2)``, unclipped; the noise comes from ``generator``."""
    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
    return clean + noise * (sigma / 255.0)


def _check_fits(images: dict[str, torch.Tensor], crop: int, what: str) -> None:
    small = [f"{n} ({t.shape[1]}x{t.shape[2]})" for n, t in images.items() if min(t.shape[1:]) < crop]
    if small:
        raise RoadmapError(
            f"{what} images smaller than the {crop}x{crop} crop: {', '.join(small)}"
        )


def fixed_crops(
    images: dict[str, torch.Tensor], count: int, crop: int, generator: torch.Generator
) -> tuple[list[tuple[str, int, int]], torch.Tensor]:
    """``count`` crops spread round-robin over ``images`` at positions drawn from
    ``generator``; returns the positions ``(name, top, left)`` and ``[count, 3, crop, crop]``."""
    _check_fits(images, crop, "validation")
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


def make_validation(
    clean: dict[str, torch.Tensor],
    noisy: dict[str, torch.Tensor] | None,
    count: int,
    crop: int,
    sigma: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed ``(val_noisy, val_clean)`` crops, each ``[count, 3, crop, crop]``:
    crops and synthetic noise come from ``VAL_SEED`` only."""
    gen = torch.Generator().manual_seed(VAL_SEED)
    positions, val_clean = fixed_crops(clean, count, crop, gen)
    if noisy is None:
        return add_noise(val_clean, float(sigma), gen), val_clean
    val_noisy = torch.stack([noisy[n][:, t : t + crop, l : l + crop] for n, t, l in positions])
    return val_noisy, val_clean


class TrainSampler:
    """Random training batches: crops + horizontal / vertical flips (+ synthetic noise).

    All randomness comes from one ``torch.Generator`` seeded with ``seed``, so the
    crop order is a function of the seed alone. ``next_batch()`` returns
    ``(noisy, clean)``, each ``[batch, 3, crop, crop]``; ``last_positions`` holds the
    ``(image index, top, left, hflip, vflip)`` of the last batch.
    """

    def __init__(self, data: DenoiseData, batch: int, crop: int, seed: int) -> None:
        _check_fits(dict(zip(data.train_names or map(str, range(len(data.train_clean))),
                             data.train_clean)), crop, "training")
        self.data, self.batch, self.crop = data, batch, crop
        self.generator = torch.Generator().manual_seed(int(seed))
        self.last_positions: list[tuple[int, int, int, bool, bool]] = []

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        g, c, d = self.generator, self.crop, self.data
        clean, noisy, positions = [], [], []
        for _ in range(self.batch):
            i = int(torch.randint(len(d.train_clean), (1,), generator=g))
            img = d.train_clean[i]
            top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=g))
            left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=g))
            hflip, vflip = (torch.rand(2, generator=g) < 0.5).tolist()
            positions.append((i, top, left, hflip, vflip))
            pair = [img] if d.train_noisy is None else [img, d.train_noisy[i]]
            pair = [t[:, top : top + c, left : left + c] for t in pair]
            dims = [dim for dim, flip in ((2, hflip), (1, vflip)) if flip]
            if dims:
                pair = [t.flip(dims) for t in pair]
            clean.append(pair[0])
            if d.train_noisy is not None:
                noisy.append(pair[1])
        clean_t = torch.stack(clean).contiguous()
        if d.train_noisy is None:
            noisy_t = add_noise(clean_t, float(d.sigma), g)
        else:
            noisy_t = torch.stack(noisy).contiguous()
        self.last_positions = positions
        return noisy_t, clean_t


# ---------------------------------------------------------------- loading


def _load_folder(folder: Path) -> dict[str, torch.Tensor]:
    return {p.name: read_image(p) for p in list_images(folder)}


def _load_pairs(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(input, target)`` dicts from ``folder/input`` and ``folder/target``."""
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
    noisy = {n: read_image(p) for n, p in inputs.items()}
    clean = {n: read_image(p) for n, p in targets.items()}
    for n in noisy:
        if noisy[n].shape != clean[n].shape:
            raise RoadmapError(
                f"pair {n} has different sizes: input {tuple(noisy[n].shape[1:])}, "
                f"target {tuple(clean[n].shape[1:])}"
            )
    return noisy, clean


def _is_pairs(folder: Path) -> bool:
    return (folder / "input").is_dir() or (folder / "target").is_dir()


def load_data(
    data: "str | Path | DenoiseData | None" = None,
    *,
    sigma: float = DEFAULT_SIGMA,
    val_crop: int = 128,
    val_count: int = 8,
    train_crop: int | None = None,
) -> DenoiseData:
    """Load a data source (see the module docstring) into a `DenoiseData`.

    ``val_crop`` / ``val_count`` size the fixed validation set; ``train_crop``, when
    given, is checked against every training image. Raises `RoadmapError` with one
    line for a missing folder, no images, an unreadable file, unmatched pair names
    or images smaller than a crop. A `DenoiseData` passes through unchanged.
    """
    if isinstance(data, DenoiseData):
        return data
    if not sigma > 0:
        raise RoadmapError(f"sigma: must be > 0, got {sigma!r}")
    noisy_train = noisy_val = None
    if data is None:
        train, val = embedded_images()
        source = "embedded:scikit-image"
    else:
        root = Path(data).expanduser()
        if not root.exists():
            raise RoadmapError(f"data folder not found: {root}")
        if not root.is_dir():
            raise RoadmapError(f"data path is not a folder: {root}")
        explicit = (root / "train").is_dir() or (root / "val").is_dir()
        if explicit:
            for part in ("train", "val"):
                if not (root / part).is_dir():
                    raise RoadmapError(f"data folder not found: {root / part} (train/ and val/ go together)")
            pairs = _is_pairs(root / "train")
            if pairs:
                noisy_train, train = _load_pairs(root / "train")
                noisy_val, val = _load_pairs(root / "val")
            else:
                train, val = _load_folder(root / "train"), _load_folder(root / "val")
        else:
            pairs = _is_pairs(root)
            if pairs:
                noisy_all, clean_all = _load_pairs(root)
            else:
                clean_all, noisy_all = _load_folder(root), None
            train_names, val_names = split_by_image(sorted(clean_all))
            train = {n: clean_all[n] for n in train_names}
            val = {n: clean_all[n] for n in val_names}
            if noisy_all is not None:
                noisy_train = {n: noisy_all[n] for n in train_names}
                noisy_val = {n: noisy_all[n] for n in val_names}
        source = f"{'pairs' if pairs else 'folder'}:{root}"
    if train_crop is not None:
        _check_fits(train, train_crop, "training")
    val_noisy, val_clean = make_validation(val, noisy_val, val_count, val_crop, sigma if noisy_val is None else None)
    return DenoiseData(
        train_clean=list(train.values()),
        train_noisy=None if noisy_train is None else [noisy_train[n] for n in train],
        val_clean=val_clean,
        val_noisy=val_noisy,
        sigma=None if noisy_val is not None else float(sigma),
        source=source,
        train_names=list(train),
        val_names=list(val),
    )
