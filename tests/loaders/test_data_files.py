"""Data folders: an image file that cannot be used is one RoadmapError line naming it."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from roadmap.errors import RoadmapError
from roadmap.evaluation.data import load_data, read_image


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds none (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _images(folder, names, size=(40, 40)):
    import skimage.io

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        skimage.io.imsave(str(folder / name), rng.integers(0, 255, (*size, 3), dtype=np.uint8), check_contrast=False)


@pytest.mark.parametrize(
    "content,fragment",
    [
        (bytes(range(256)) * 16, "cannot read image"),
        (b"", "cannot read image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot read image"),
        (_png_header(10000, 10000), "10000x10000 pixels is larger than the limit of 64 megapixels"),
        (_png_header(100000, 100000), "cannot read image"),
    ],
)
def test_an_unusable_image_is_one_line_naming_it(content, fragment, tmp_path):
    _images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(RoadmapError) as info:
        load_data(tmp_path, val_crop=16, val_count=2)
    message = str(info.value)
    assert "bad.png" in message and fragment in message and "\n" not in message, message


def test_nan_pixels_are_refused(tmp_path):
    import skimage.io

    image = np.full((32, 32, 3), 0.5, dtype=np.float32)
    image[3, 4, 1] = np.nan
    path = tmp_path / "nan.tif"
    skimage.io.imsave(str(path), image, check_contrast=False)
    with pytest.raises(RoadmapError, match=r"nan.tif: has NaN or infinite pixel values"):
        read_image(path)
