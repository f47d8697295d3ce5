from pathlib import Path

import numpy as np
import pytest
import skimage.io
import torch

from roadmap.errors import RoadmapError
from roadmap.evaluation.data import EMBEDDED_TEST, EMBEDDED_TRAIN, EMBEDDED_VAL, TrainSampler, load_data
from roadmap.evaluation.tasks import task_from_options


def _write(folder: Path, names, size=(40, 48), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        skimage.io.imsave(folder / n, rng.integers(0, 256, (*size, 3), dtype=np.uint8), check_contrast=False)


def test_embedded_split_is_by_image(embedded, smoke):
    splits = [set(EMBEDDED_TRAIN), set(EMBEDDED_VAL), set(EMBEDDED_TEST)]
    assert all(a.isdisjoint(b) for i, a in enumerate(splits) for b in splits[i + 1 :])
    assert embedded.train_names == list(EMBEDDED_TRAIN) and embedded.val_names == list(EMBEDDED_VAL)
    assert embedded.test_names == list(EMBEDDED_TEST) and len(EMBEDDED_TRAIN) >= 10
    assert embedded.val_input.shape == (smoke.val_count, 3, smoke.val_crop, smoke.val_crop)
    assert embedded.test_input.shape == embedded.val_input.shape
    assert not torch.equal(embedded.test_clean, embedded.val_clean)
    # sigma 25/255 noise, not clipped
    std = (embedded.val_input - embedded.val_clean).std().item()
    assert abs(std - 25 / 255) < 0.01


def test_validation_set_is_fixed(embedded, smoke):
    again = load_data(None, val_crop=smoke.val_crop, val_count=smoke.val_count)
    assert torch.equal(again.val_input, embedded.val_input) and torch.equal(again.test_input, embedded.test_input)


def test_sampler_same_seed_same_batches_other_seed_other_crops(embedded):
    a, b, c = (TrainSampler(embedded, 4, 32, s) for s in (0, 0, 1))
    na, ca = a.next_batch()
    nb, cb = b.next_batch()
    c.next_batch()
    assert torch.equal(na, nb) and torch.equal(ca, cb)
    assert a.last_positions == b.last_positions != c.last_positions
    assert na.shape == (4, 3, 32, 32)


def test_clean_folder_is_split_by_image(tmp_path):
    _write(tmp_path, [f"{i}.png" for i in range(6)])
    d = load_data(tmp_path, val_crop=32, val_count=2, train_crop=32)
    assert set(d.train_names).isdisjoint(d.val_names) and set(d.train_names).isdisjoint(d.test_names)
    assert len(d.train_names) + len(d.val_names) + len(d.test_names) == 6 and len(d.test_names) == 1
    assert d.task.sigma == (25, 25) and d.synthetic and d.train_input is None


def test_pairs_use_the_real_inputs(tmp_path):
    _write(tmp_path / "input", ["a.png", "b.png", "c.png"], seed=1)
    _write(tmp_path / "target", ["a.png", "b.png", "c.png"], seed=2)
    d = load_data(tmp_path, val_crop=32, val_count=2)
    assert not d.synthetic and d.train_input is not None
    noisy, clean = TrainSampler(d, 2, 16, 0).next_batch()
    assert not torch.equal(noisy, clean)


def test_missing_folder(tmp_path):
    with pytest.raises(RoadmapError, match="no such folder"):
        load_data(tmp_path / "nope")


def test_no_images(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RoadmapError, match="no images in"):
        load_data(tmp_path)


def test_unreadable_file_is_named(tmp_path):
    _write(tmp_path, ["a.png", "b.png"])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(RoadmapError, match=r"broken.png"):
        load_data(tmp_path)


def test_unmatched_pairs_are_listed(tmp_path):
    _write(tmp_path / "input", ["a.png", "b.png", "x.png"])
    _write(tmp_path / "target", ["a.png", "b.png", "y.png"])
    with pytest.raises(RoadmapError, match=r"only in input/: x.png; only in target/: y.png"):
        load_data(tmp_path)


def test_images_smaller_than_the_crop(tmp_path):
    _write(tmp_path, ["a.png", "b.png", "c.png"], size=(20, 30))
    with pytest.raises(RoadmapError, match=r"smaller than the 32x32 crop: .*\(20x30\)"):
        load_data(tmp_path, val_crop=16, val_count=2, train_crop=32)


def test_sr_pairs_must_be_scale_times_smaller(tmp_path):
    sr = task_from_options("sr", scale=2)
    _write(tmp_path / "input", ["a.png", "b.png", "c.png"], size=(20, 24), seed=1)
    _write(tmp_path / "target", ["a.png", "b.png", "c.png"], size=(40, 48), seed=2)
    d = load_data(tmp_path, task=sr, val_crop=16, val_count=2, train_crop=16)
    lr, hr = TrainSampler(d, 2, 16, 0).next_batch()
    assert lr.shape == (2, 3, 8, 8) and hr.shape == (2, 3, 16, 16)
    assert d.val_input.shape == (2, 3, 8, 8) and d.val_clean.shape == (2, 3, 16, 16)
    with pytest.raises(
        RoadmapError,
        match=r"pair a.png has sizes that do not match: input 20x24, target 40x48 "
        r"\(the input must be 3 times smaller",
    ):
        load_data(tmp_path, task=task_from_options("sr", scale=3), val_crop=12, val_count=2)


def test_sr_crops_round_down_to_the_scale(embedded, smoke):
    d = load_data(None, task=task_from_options("sr", scale=3), val_crop=32, val_count=2)
    assert d.val_clean.shape == (2, 3, 30, 30) and d.val_input.shape == (2, 3, 10, 10)
    lr, hr = TrainSampler(d, 3, 32, 0).next_batch()
    assert lr.shape == (3, 3, 10, 10) and hr.shape == (3, 3, 30, 30)


@pytest.mark.parametrize(
    "name, options", [("deblur", {}), ("jpeg", {"quality": "10:40"}), ("denoise", {"sigma": "15:50"})]
)
def test_every_task_degrades_the_validation_set_the_same_way_each_time(name, options):
    task = task_from_options(name, **options)
    a, b = (load_data(None, task=task, val_crop=32, val_count=3) for _ in range(2))
    assert torch.equal(a.val_input, b.val_input) and not torch.equal(a.val_input, a.val_clean)
    x, _ = TrainSampler(a, 2, 32, 5).next_batch()
    y, _ = TrainSampler(b, 2, 32, 5).next_batch()
    assert torch.equal(x, y) and x.shape == (2, 3, 32, 32)
