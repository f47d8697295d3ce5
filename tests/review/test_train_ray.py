"""``roadmap train --workers 2`` on a local Ray Train runtime (CPU workers, gloo): the same steps
as one worker, rank-0 writes, and a resume with another worker count. One Ray run (smoke length:
4 iterations of 2 x 2 crops of 32 x 32), the rest in this process."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from roadmap.review.train import checkpoint_path, full_fidelity, resolve_train_settings, train_spec
from tests.review.review_studies import make_spec

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture
def ray_tmpdir(monkeypatch):
    """Ray's session files in a folder of their own (short: Ray's socket paths are limited)."""
    folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _settings(**options):
    fid = full_fidelity(iterations=4, batch=4, crop=32, val_crop=32, val_count=2, threads=1)
    return resolve_train_settings(fidelity=fid, checkpoint_every=2, validate_every=2, log_every=1, ema=0.5, **options)


def _close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:  # the same steps up to the order of floating-point sums (shards, all-reduce)
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


def test_two_workers_train_as_one_and_a_kill_resumes_with_one(tmp_path, ray_tmpdir, monkeypatch):
    spec = make_spec([])
    # the Ray run's --out is relative: Ray Train's workers run in Ray's own folder, where it once landed
    monkeypatch.chdir(tmp_path)
    one, two = tmp_path / "one" / "w.pt", Path("two") / "w.pt"
    # one worker, in this process: its checkpoint at iteration 2, then the whole run
    train_spec(spec, one, _settings(stop_after=2))
    at_2 = torch.load(checkpoint_path(one), weights_only=False)
    train_spec(spec, one, _settings())

    # two workers on Ray, stopped after the checkpoint of iteration 2 (what a kill leaves)
    lines: list[str] = []
    part = train_spec(spec, two, _settings(workers=2, stop_after=2), log=lines.append)
    assert part.iterations == 2 and not two.exists()
    assert "on 2 worker(s)" in lines[0] and "global batch 4 (2 workers x 2)" in lines[0] and "lr 0.002" in lines[0]
    assert sorted(p.name for p in two.parent.iterdir()) == ["w.best.pt", "w.log.csv", "w.pt.ckpt"]
    ckpt = torch.load(checkpoint_path(two), weights_only=False)
    _close(ckpt["model"], at_2["model"])
    _close(ckpt["ema"], at_2["ema"])
    assert torch.equal(ckpt["generator"], at_2["generator"])  # the same crops, whichever the worker count
    assert [r["iteration"] for r in ckpt["log_rows"]] == [r["iteration"] for r in at_2["log_rows"]] == [1, 2]
    assert [r["loss"] for r in ckpt["log_rows"]] == pytest.approx([r["loss"] for r in at_2["log_rows"]], abs=1e-4)

    # the same command with one worker resumes the two workers' checkpoint and ends where one worker did
    resumed = train_spec(spec, two, _settings())
    assert resumed.resumed_from == 2 and resumed.iterations == 4
    a, b = torch.load(one, weights_only=False), torch.load(two, weights_only=False)
    _close(a["state_dict"], b["state_dict"])
    _close(a["raw_state_dict"], b["raw_state_dict"])
    assert b["val"]["psnr"] == pytest.approx(a["val"]["psnr"], abs=1e-3) and b["workers"] == 1
