"""Each degradation of `roadmap.evaluation.degradations`: shapes, value range, determinism for a
seed, and what it does to an image."""

from __future__ import annotations

import pytest
import torch

from roadmap.errors import RoadmapError
from roadmap.evaluation.degradations import (
    add_noise,
    bicubic_down,
    bicubic_up,
    blur_kernels,
    convolve,
    degrade,
    gaussian_kernel,
    jpeg,
    motion_kernel,
)
from roadmap.evaluation.quality import psnr, score
from roadmap.evaluation.tasks import Task, parse_range, task_from_options


def _images(n=4, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 8, size // 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


TASKS = [
    Task(),
    task_from_options("denoise", sigma="15:50"),
    task_from_options("deblur"),
    task_from_options("deblur", blur="motion"),
    task_from_options("deblur", blur="gaussian"),
    task_from_options("sr", scale=2),
    task_from_options("sr", scale=4),
    task_from_options("jpeg", quality="10:40"),
]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.describe())
def test_shape_and_determinism(task):
    clean = _images()
    a, b, c = degrade(clean, task, _gen(1)), degrade(clean, task, _gen(1)), degrade(clean, task, _gen(2))
    s = task.upscale
    assert a.shape == (4, 3, 48 // s, 48 // s) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert torch.equal(a, c) == (task.name == "sr")  # only super-resolution draws nothing


@pytest.mark.parametrize("task", [t for t in TASKS if t.name in ("sr", "jpeg")], ids=lambda t: t.describe())
def test_sr_and_jpeg_inputs_are_images(task):
    out = degrade(_images(), task, _gen())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_noise_has_the_asked_std_unclipped():
    clean = torch.full((2, 3, 64, 64), 0.5)
    noisy = add_noise(clean, 25.0, _gen())
    assert abs(float((noisy - clean).std()) - 25 / 255) < 0.002
    ranged = add_noise(torch.zeros(64, 1, 32, 32), (15.0, 50.0), _gen())
    stds = ranged.flatten(1).std(dim=1) * 255
    assert 13 < float(stds.min()) < 20 and 45 < float(stds.max()) < 52  # drawn per image


def test_one_sigma_draws_only_the_noise():
    """A fixed level consumes the generator exactly like the old Gaussian noise did."""
    clean = _images()
    g = _gen(3)
    expected = clean + torch.randn(clean.shape, generator=g) * (25 / 255)
    assert torch.equal(add_noise(clean, 25.0, _gen(3)), expected)


def test_kernels_sum_to_one_and_keep_the_mean():
    assert abs(float(gaussian_kernel(2.0).sum()) - 1) < 1e-6 and gaussian_kernel(2.0).shape == (13, 13)
    k = motion_kernel(15.0, _gen())
    assert abs(float(k.sum()) - 1) < 1e-6 and k.shape[0] % 2 == 1 and 11 <= k.shape[0] <= 19
    flat = torch.full((1, 3, 40, 40), 0.3)
    assert torch.allclose(convolve(flat, [k]), flat, atol=1e-6)  # a blur keeps a flat image


def test_motion_kernel_is_a_line_not_a_blob():
    k = motion_kernel(15.0, _gen(4))
    assert int((k > 1e-3).sum()) < k.numel() / 3  # mass on a trajectory, most of the grid empty


def test_convolve_shifts_with_an_off_centre_kernel():
    """A kernel with its mass one pixel right of centre moves the image right (a convolution)."""
    k = torch.zeros(3, 3)
    k[1, 2] = 1.0
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    assert float(convolve(x, [k])[0, 0, 4, 5]) == 1.0


def test_blur_lowers_psnr_and_mixed_uses_both_kinds():
    clean = _images(8, 48)
    task = task_from_options("deblur", blur_noise="0")
    blurred = degrade(clean, task, _gen())
    assert 18 < psnr(blurred, clean) < 45
    sizes = {k.shape[0] for k in blur_kernels(task, 40, _gen())}
    assert len(sizes) > 3


def test_bicubic_down_is_antialiased_and_up_is_the_baseline():
    clean = _images(2, 48)
    lr = bicubic_down(clean, 2)
    assert lr.shape == (2, 3, 24, 24)
    up = bicubic_up(lr, 2)
    assert up.shape == clean.shape and psnr(up, clean) > 30  # smooth images: bicubic is good
    with pytest.raises(ValueError, match="not divisible by the scale 3"):
        bicubic_down(_images(1, 32), 3)


def test_jpeg_quality_orders_psnr():
    clean = (_images(2, 32) * 255).round() / 255  # an 8-bit image, as JPEG sees it
    low, high = jpeg(clean, 10, _gen()), jpeg(clean, 90, _gen())
    assert psnr(high, clean) > psnr(low, clean) + 3


def test_sr_score_is_y_channel_with_shaved_borders():
    clean = _images(2, 48)
    out = clean.clone()
    out[..., :2, :] = 0  # damage only the rows the x2 protocol shaves
    sr = score(out, clean, task_from_options("sr", scale=2))
    assert sr["psnr"] == 100.0 and sr["psnr_rgb"] == 100.0  # identical once shaved
    assert score(out, clean)["psnr"] < 40  # the denoising protocol sees the damage


@pytest.mark.parametrize(
    "text, bounds, expected",
    [("25", (0, 255), (25.0, 25.0)), ("15:50", (0, 255), (15.0, 50.0)), (30, (0, 255), (30.0, 30.0))],
)
def test_parse_range(text, bounds, expected):
    assert parse_range(text, "--sigma", *bounds) == expected


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("blur", {}, r"--task: unknown task 'blur' \(choose from denoise, deblur, sr, jpeg\)"),
        ("denoise", {"sigma": "50:15"}, r"--sigma: the range 50:15 is empty"),
        ("denoise", {"sigma": "0"}, r"--sigma: must be > 0"),
        ("denoise", {"sigma": "300"}, r"--sigma: 300 is out of bounds \(must lie in \[0, 255\]\)"),
        ("denoise", {"sigma": "a:b"}, r"--sigma: must be a number or a range A:B, got 'a:b'"),
        ("jpeg", {"quality": "0:40"}, r"--quality: 0:40 is out of bounds"),
        ("jpeg", {"quality": "20.5"}, r"--quality: must be whole numbers"),
        ("sr", {"scale": 5}, r"--scale: must be one of 2, 3, 4, got 5"),
        ("deblur", {"blur": "box"}, r"--blur: must be one of gaussian, motion, mixed, got 'box'"),
        ("denoise", {"scale": 2}, r"--scale: does not apply to --task denoise \(it takes --sigma\)"),
    ],
)
def test_bad_task_options_name_the_option(name, options, message):
    with pytest.raises(RoadmapError, match=message):
        task_from_options(name, **options)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.describe())
def test_task_round_trips_and_stores_only_its_fields(task):
    data = task.to_dict()
    assert Task.from_dict(data) == task
    assert set(data) - {"name"} <= {"sigma", "blur", "blur_sigma", "motion_length", "blur_noise", "scale", "quality"}
    assert ("scale" in data) == (task.name == "sr")


def test_a_spec_brings_its_task_and_for_task_fits_the_spec():
    from roadmap.evaluation.tasks import for_task, task_of_spec
    from roadmap.seeds import get_seed
    from roadmap.spec import with_upscale

    seed = get_seed("nafnet", "w16")
    sr = with_upscale(seed, 2)
    assert task_of_spec(sr, None, scale=None) == Task(name="sr", scale=2)
    assert task_of_spec(seed, None, scale=None) == Task()
    exported = seed.copy()
    exported.provenance = {**exported.provenance, "task": {"name": "jpeg", "quality": [10, 40]}}
    assert task_of_spec(exported, None) == task_from_options("jpeg", quality="10:40")
    assert task_of_spec(exported, "deblur") == task_from_options("deblur")  # options win
    assert for_task(seed, Task(name="sr", scale=3)).upscale == 3 and for_task(sr, Task(name="sr")) is sr
    with pytest.raises(
        RoadmapError,
        match=r"up-samples x2 \(head.upscale\): it is a super-resolution network, "
        r"not one for denoise .*; use --task sr --scale 2",
    ):
        for_task(sr, Task())
