"""ONNX export (onnxruntime vs PyTorch) and resumable full training."""

from __future__ import annotations

import pytest
import torch

from roadmap.cli import main
from roadmap.errors import RoadmapError
from tests.review.review_studies import DROP0, PCONV, make_spec


def _randomise(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Non-trivial weights: NAFNet's residual scales (beta, gamma) start at zero, which would
    make every block an identity; give them trained-like values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


def test_onnx_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnxruntime as ort

    import roadmap
    from roadmap.review.onnx_export import export_onnx

    spec = make_spec([PCONV, DROP0])
    model = _randomise(roadmap.build_model(spec))
    result = export_onnx(model, tmp_path / "m.onnx", input_hw=(64, 48))
    assert result.max_abs_error is not None and result.max_abs_error <= 1e-4
    # independent check on another random input and batch size (dynamic batch axis)
    x = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(7))
    sess = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert float(np.abs(expected - x.numpy()).max()) > 1e-2  # the network does something
    assert float(np.abs(got - expected).max()) <= 1e-4


def test_export_cli_with_onnx(study_dir, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    code = main(
        [
            "export",
            str(study_dir),
            "--pick",
            "knee",
            "--out",
            str(tmp_path / "w.yaml"),
            "--onnx",
            str(tmp_path / "w.onnx"),
            "--input-size",
            "32",
            "32",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert (tmp_path / "w.onnx").stat().st_size > 10_000
    assert "max abs error" in out


def _tiny_fidelity(iterations: int):
    from roadmap.review.train import full_fidelity

    return full_fidelity(iterations=iterations, batch=2, crop=32, val_crop=32, val_count=2, threads=1)


def _settings(iterations: int, **options):
    from roadmap.review.train import resolve_train_settings

    return resolve_train_settings(fidelity=_tiny_fidelity(iterations), **options)


def test_train_resumes_to_the_same_weights(tmp_path):
    from roadmap.review.train import checkpoint_path, load_weights, train_spec

    spec = make_spec([PCONV])
    straight = train_spec(spec, tmp_path / "a.pt", _settings(4, seed=3, checkpoint_every=2))
    assert straight.iterations == 4 and straight.resumed_from == 0
    assert set(straight.val) >= {"psnr", "ssim"}

    part = train_spec(spec, tmp_path / "b.pt", _settings(4, seed=3, checkpoint_every=2, stop_after=2))
    assert part.iterations == 2 and not (tmp_path / "b.pt").exists()
    assert checkpoint_path(tmp_path / "b.pt").exists()
    resumed = train_spec(spec, tmp_path / "b.pt", _settings(4, seed=3, checkpoint_every=2))
    assert resumed.resumed_from == 2 and resumed.iterations == 4

    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    for key in ("state_dict", "raw_state_dict"):
        for k in a[key]:
            torch.testing.assert_close(a[key][k], b[key][k], rtol=0, atol=0)
    assert a["val"]["psnr"] == pytest.approx(b["val"]["psnr"])
    model = load_weights(spec, tmp_path / "b.pt")
    assert sum(p.numel() for p in model.parameters()) > 0

    # another spec or settings refuses the checkpoint
    with pytest.raises(RoadmapError, match="--restart"):
        train_spec(make_spec([]), tmp_path / "b.pt", _settings(4, seed=3, stop_after=1))
    with pytest.raises(RoadmapError, match="do not fit"):
        load_weights(make_spec([]), tmp_path / "b.pt")


def test_train_cli(tmp_path, capsys):
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(make_spec([]).to_yaml())
    code = main(
        [
            "train",
            str(spec_path),
            "--iterations",
            "2",
            "--batch",
            "1",
            "--crop",
            "32",
            "--validate-every",
            "2",
            "--out",
            str(tmp_path / "w.pt"),
            "--threads",
            "1",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "validation PSNR" in out and (tmp_path / "w.pt").exists()
    code = main(["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x.pt")])
    assert code == 2
    code = main(["train", str(spec_path), "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines()[-1] == f"roadmap train: error: --data {tmp_path / 'nodata'}: no such folder"
