"""The one training loop (`roadmap.evaluation.training.train`): resume, the on_step hook,
the loss curve; and the weights files of `evaluate_spec` (``init_weights`` / ``save_weights``)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

import roadmap
from roadmap.errors import RoadmapError
from roadmap.evaluation import RESULT_KEYS, evaluate_spec
from roadmap.evaluation.data import TrainSampler
from roadmap.evaluation.evaluate import load_init_weights
from roadmap.evaluation.quality import evaluate_quality
from roadmap.evaluation.threads import torch_threads
from roadmap.evaluation.training import StepState, TrainCheckpoint, train


@pytest.fixture(scope="module")
def w16():
    return roadmap.get_seed("nafnet", "w16")


def _net(seed: int = 0) -> torch.nn.Module:
    """A two-conv denoiser: enough to exercise the loop in milliseconds."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1)
    )


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=False):
        assert ka == kb and torch.equal(va, vb), ka


# ---------------------------------------------------------------- the loop


def test_resume_from_a_mid_run_checkpoint_gives_bit_identical_weights(embedded, smoke):
    fid = replace(smoke, name="t", iterations=7)
    taken: dict = {}

    def snapshot(state: StepState) -> None:  # a checkpoint taken while training goes on
        if state.step == 3:
            taken.update(ckpt=state.checkpoint(), weights=_weights(state.model))

    straight = _net()
    done = train(straight, embedded, fid, seed=5, on_step=snapshot)
    assert done.status == "ok" and done.iterations == 7
    assert isinstance(taken["ckpt"], TrainCheckpoint) and taken["ckpt"].step == 3

    for _ in range(2):  # the checkpoint is a snapshot: resuming does not change it either
        resumed = _net(seed=99)
        resumed.load_state_dict(taken["weights"])
        again = train(resumed, embedded, fid, seed=5, start=taken["ckpt"])
        assert again.status == "ok" and again.iterations == 7
        assert len(again.loss_curve) == 1  # iterations 4..7 of this call
        _assert_same_weights(straight, resumed)
    assert again.seconds >= taken["ckpt"].seconds


def test_an_interrupted_run_resumes_through_a_saved_checkpoint(embedded, smoke, tmp_path):
    fid = replace(smoke, name="t", iterations=6)
    straight = _net()
    train(straight, embedded, fid, seed=2)

    def stop_at_4(state: StepState) -> bool:
        if state.step == 4:
            torch.save({"model": _weights(state.model), **state.checkpoint().to_dict()}, tmp_path / "c.pt")
        return state.step == 4

    part = _net()
    assert train(part, embedded, fid, seed=2, on_step=stop_at_4).status == "stopped"
    saved = torch.load(tmp_path / "c.pt", weights_only=False)
    resumed = _net(seed=1)
    resumed.load_state_dict(saved["model"])
    train(resumed, embedded, fid, seed=2, start=TrainCheckpoint.from_dict(saved))
    _assert_same_weights(straight, resumed)


def test_on_step_returning_true_stops_at_that_step(embedded, smoke):
    fid = replace(smoke, name="t", iterations=5)
    seen: list[tuple[int, int]] = []

    def stop_at_2(state: StepState) -> bool:
        seen.append((state.step, state.total))
        assert math.isfinite(state.loss) and state.seconds >= 0
        return state.step == 2

    result = train(_net(), embedded, fid, seed=0, on_step=stop_at_2)
    assert result.status == "stopped" and result.iterations == 2 and result.reason is None
    assert seen == [(1, 5), (2, 5)]
    assert len(result.loss_curve) == 1 and math.isfinite(result.final_loss)
    # asking to stop at the last step is just the end of the run
    assert train(_net(), embedded, fid, seed=0, on_step=lambda s: s.step == 5).status == "ok"


def test_loss_curve_is_the_mean_of_each_block_of_ten(embedded, smoke):
    fid = replace(smoke, name="t", iterations=23)
    losses: list[float] = []
    result = train(_net(), embedded, fid, seed=0, on_step=lambda s: losses.append(s.loss))
    assert len(result.loss_curve) == math.ceil(23 / 10) == 3
    assert result.loss_curve[0] == pytest.approx(sum(losses[:10]) / 10)
    assert result.loss_curve[2] == pytest.approx(sum(losses[20:]) / 3)
    assert result.final_loss == pytest.approx(sum(losses[-10:]) / 10)


def test_the_shards_of_a_global_batch_are_its_rows_whatever_the_worker_count(embedded):
    """Data parallelism: worker r of w trains on rows [r b / w, (r + 1) b / w) of the global
    batch, and every worker's generator moves as one worker's does (a checkpoint holds it)."""
    whole = TrainSampler(embedded, 4, 32, seed=3)
    halves = [TrainSampler(embedded, 4, 32, seed=3, shard=(rank, 2)) for rank in range(2)]
    for _ in range(2):
        inputs, clean = whole.next_batch()
        parts = [half.next_batch() for half in halves]
        assert parts[0][0].shape[0] == 2
        assert torch.equal(torch.cat([p[0] for p in parts]), inputs) and torch.equal(
            torch.cat([p[1] for p in parts]), clean
        )
    assert all(torch.equal(half.generator.get_state(), whole.generator.get_state()) for half in halves)
    with pytest.raises(RoadmapError, match="batch 3: cannot be shared equally by 2 workers"):
        TrainSampler(embedded, 3, 32, seed=3, shard=(0, 2))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_resumes_to_the_same_weights(embedded, smoke, precision):
    """Autocast (and fp16's loss scaler, whose state the checkpoint keeps) run on the CPU too,
    which is where the tests can exercise them; on a GPU it is the same code."""
    fid = replace(smoke, name="t", iterations=4)
    taken: dict = {}

    def snapshot(state: StepState) -> None:
        if state.step == 2:
            taken.update(ckpt=state.checkpoint(), weights=_weights(state.model))

    mixed, plain = _net(), _net()
    result = train(mixed, embedded, fid, seed=0, precision=precision, on_step=snapshot)
    train(plain, embedded, fid, seed=0)
    assert result.status == "ok" and math.isfinite(result.final_loss)
    assert any(
        not torch.equal(a, b) for a, b in zip(mixed.state_dict().values(), plain.state_dict().values(), strict=False)
    )
    assert (taken["ckpt"].scaler is not None) == (precision == "fp16")
    resumed = _net(seed=1)
    resumed.load_state_dict(taken["weights"])
    train(resumed, embedded, fid, seed=0, precision=precision, start=taken["ckpt"])
    _assert_same_weights(mixed, resumed)


def test_a_diverging_train_spec_names_the_checkpoint(w16, tmp_path):
    from roadmap.review.train import full_fidelity, resolve_train_settings, train_spec

    fid = full_fidelity(iterations=5, batch=2, crop=32, val_crop=32, val_count=2, threads=1, lr=1e6, min_lr=1e6)
    with pytest.raises(RoadmapError, match=r"training diverged: loss became .* at iteration .*last checkpoint"):
        train_spec(w16, tmp_path / "d.pt", resolve_train_settings(fidelity=fid, checkpoint_every=1))
    assert not (tmp_path / "d.pt").exists()


# ---------------------------------------------------------------- weights files


def test_loss_curve_is_in_the_result(w16, embedded, smoke):
    r = evaluate_spec(w16, smoke, embedded, measure=False)
    assert "loss_curve" in RESULT_KEYS and tuple(r) == RESULT_KEYS
    assert len(r["loss_curve"]) == math.ceil(smoke.iterations / 10)
    failed = evaluate_spec(roadmap.get_seed("pmrid", "raw"), smoke, embedded, measure=False)
    assert failed["status"] == "failed" and failed["loss_curve"] is None


def test_saved_weights_load_back_to_the_saved_psnr(w16, embedded, smoke, tmp_path):
    path = tmp_path / "rung0" / "w.pt"
    first = evaluate_spec(w16, smoke, embedded, measure=False, save_weights=path)
    assert first["status"] == "ok"
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"state_dict", "spec_yaml", "iterations", "psnr"}
    assert saved["psnr"] == first["psnr"] and saved["iterations"] == smoke.iterations
    assert roadmap.load_spec(saved["spec_yaml"]) == w16
    assert [p.name for p in path.parent.iterdir()] == ["w.pt"]  # no temporary file left

    model = roadmap.build_model(w16)
    assert load_init_weights(model, path) == smoke.iterations
    with torch_threads(smoke.threads):
        scores = evaluate_quality(model.eval(), embedded.val_input, embedded.val_clean)
    assert scores["psnr"] == first["psnr"]


def test_init_weights_continues_from_the_saved_weights(w16, embedded, smoke, tmp_path):
    evaluate_spec(w16, smoke, embedded, measure=False, save_weights=tmp_path / "a.pt")
    saved_psnr = torch.load(tmp_path / "a.pt", weights_only=True)["psnr"]
    # one step too small to move a float32 weight: the score is the loaded weights'
    still = replace(smoke, name="still", iterations=1, lr=1e-12, min_lr=1e-12)
    again = evaluate_spec(
        w16, still, embedded, measure=False, init_weights=tmp_path / "a.pt", save_weights=tmp_path / "b.pt"
    )
    fresh = evaluate_spec(w16, still, embedded, measure=False)
    assert again["status"] == "ok" and again["psnr"] == pytest.approx(saved_psnr, abs=1e-4)
    assert abs(fresh["psnr"] - saved_psnr) > 0.1  # an untrained model scores differently
    assert torch.load(tmp_path / "b.pt", weights_only=True)["iterations"] == smoke.iterations + 1


def test_a_weights_file_that_does_not_fit_fails_with_a_reason_naming_it(w16, embedded, smoke, tmp_path):
    other = tmp_path / "w32.pt"
    torch.save({"state_dict": roadmap.build_model(roadmap.get_seed("nafnet", "w32")).state_dict()}, other)
    r = evaluate_spec(w16, smoke, embedded, measure=False, init_weights=other)
    assert r["status"] == "failed" and r["psnr"] is None
    assert str(other) in r["reason"] and "do not fit" in r["reason"] and "\n" not in r["reason"]
    assert r["params"] > 0  # the static figures are still reported

    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    for bad in (text, tmp_path / "missing.pt"):
        r = evaluate_spec(w16, smoke, embedded, measure=False, init_weights=bad)
        assert r["status"] == "failed" and str(bad) in r["reason"] and "\n" not in r["reason"]
