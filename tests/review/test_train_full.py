"""``roadmap train`` in one process: the weight average (validated and exported), the best
checkpoint, the CSV log, rank-0-only writes, ``--init`` carried weights, ``eval --weights``, and
the refusals of bad input (one line, exit 2, nothing overwritten). Ray runs are in
test_train_ray.py."""

from __future__ import annotations

import csv
import socket

import pytest
import torch

import roadmap
from roadmap.cli import main
from roadmap.errors import RoadmapError
from roadmap.evaluation.training import Replica
from roadmap.review.init_weights import carried_start
from roadmap.review.train import (
    full_fidelity,
    load_weights,
    prepare_job,
    resolve_train_settings,
    run_replica,
    train_spec,
)
from roadmap.review.train_monitor import WeightAverage
from roadmap.review.train_settings import available_cpus
from roadmap.transforms import carry_weights
from tests.review.review_studies import PCONV, make_spec

TINY = {"batch": 2, "crop": 32, "val_crop": 32, "val_count": 2, "threads": 1}


def _settings(iterations: int = 4, **options):
    return resolve_train_settings(fidelity=full_fidelity(iterations=iterations, **TINY), **options)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The seed trained 4 iterations with a fast average (0.5), validated every 2."""
    out = tmp_path_factory.mktemp("trained") / "seed.pt"
    lines: list[str] = []
    outcome = train_spec(make_spec([]), out, _settings(ema=0.5, validate_every=2, log_every=1), log=lines.append)
    return out, outcome, lines


def _differs(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- the weight average


def test_the_average_follows_its_formula():
    net = torch.nn.Linear(2, 2)
    avg = WeightAverage(net, decay=0.9)
    before = {k: v.clone() for k, v in avg.model.state_dict().items()}
    with torch.no_grad():
        net.weight.add_(1.0)
    avg.update(net, step=100)  # past the warm-up: d = 0.9
    expected = 0.9 * before["weight"] + 0.1 * net.weight.detach()
    torch.testing.assert_close(avg.model.weight, expected)
    avg.update(net, step=1)  # the warm-up: d = min(0.9, 2 / 11)
    torch.testing.assert_close(avg.model.weight, 2 / 11 * expected + 9 / 11 * net.weight.detach())


def test_the_exported_weights_are_the_average_and_are_validated(trained):
    out, outcome, _ = trained
    saved = torch.load(out, weights_only=True)
    assert _differs(saved["state_dict"], saved["raw_state_dict"])  # the average is not the raw weights
    loaded = load_weights(make_spec([]), out)  # what export --weights / eval --weights load
    assert not _differs(loaded.state_dict(), saved["state_dict"])
    assert saved["ema"] == 0.5 and outcome.val["psnr"] != outcome.val["raw_psnr"]
    assert outcome.val["psnr"] == saved["val"]["psnr"]


def test_eval_weights_scores_the_exported_weights(trained, capsys):
    out, outcome, _ = trained
    code = main(
        [
            "eval",
            "nafnet",
            "--variant",
            "w16",
            "--weights",
            str(out),
            "--fidelity",
            str(_val_fidelity(out)),
            "--no-measure",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    import json

    result = json.loads(captured.out)
    assert result["psnr"] == pytest.approx(outcome.val["psnr"], abs=1e-9)  # the same crops, the same weights
    assert result["test_psnr"] == pytest.approx(outcome.val["test_psnr"], abs=1e-9)
    assert result["fidelity"].startswith("none: the trained weights")


def _val_fidelity(out):
    """A fidelity file with the tiny validation set of the `trained` run."""
    path = out.with_name("val.yaml")
    path.write_text("val_crop: 32\nval_count: 2\nthreads: 1\n")
    return path


def test_eval_weights_of_another_spec_is_refused(trained, capsys):
    out, _, _ = trained
    code = main(["eval", "nafnet", "--variant", "w32", "--weights", str(out), "--no-measure"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"roadmap eval: error: {out}: weights do not fit this spec")


# ---------------------------------------------------------------- validation, best, log


def test_the_best_validated_weights_and_the_log(trained):
    out, outcome, lines = trained
    rows = list(csv.DictReader(out.with_name("seed.log.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    validated = {int(r["iteration"]): float(r["val_psnr"]) for r in rows if r["val_psnr"]}
    assert sorted(validated) == [2, 4]
    assert all(float(r["lr"]) > 0 and float(r["images_per_s"]) > 0 for r in rows)
    best_step = max(validated, key=validated.get)
    best = torch.load(out.with_name("seed.best.pt"), weights_only=True)
    assert best["iterations"] == best_step == outcome.best["step"]
    assert best["val"]["psnr"] == pytest.approx(validated[best_step], abs=1e-4)
    assert outcome.best["test_psnr"] is not None and outcome.val["test_psnr"] is not None
    assert "global batch 2" in lines[0] and "lr 0.002" in lines[0]  # the header states them
    assert any("ETA" in line and "img/s" in line for line in lines[1:])


def test_tensorboard_scalars_when_a_writer_is_installed(tmp_path):
    pytest.importorskip("tensorboardX")  # a dependency of ray[tune]; torch's writer needs tensorboard
    train_spec(make_spec([]), tmp_path / "w.pt", _settings(2, tensorboard=str(tmp_path / "tb"), log_every=1))
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 100


def test_only_rank_0_writes(tmp_path):
    """Rank 1 of 2 (a replica without DDP: the files are what is checked) trains its half of
    each batch and writes nothing; rank 0 writes the checkpoint, the log and the weights."""
    settings = _settings(2, checkpoint_every=1, validate_every=1)
    job = prepare_job(make_spec([]), tmp_path / "w.pt", settings)
    run_replica(job, Replica(rank=1, world=2), torch.device("cpu"), None)
    assert list(tmp_path.iterdir()) == []
    run_replica(job, Replica(rank=0, world=2), torch.device("cpu"), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.best.pt", "w.log.csv", "w.pt", "w.pt.ckpt"]


# ---------------------------------------------------------------- --init


def test_init_carries_the_seed_through_the_roadmap(trained, tmp_path):
    out, _, _ = trained
    spec = make_spec([PCONV])
    start = carried_start(spec, out)
    seed_state = torch.load(out, weights_only=True)["state_dict"]
    expected = carry_weights(make_spec([]), seed_state, [PCONV])
    assert not _differs(start.state, expected)  # the screen's carry-over, from the exported weights
    assert 0.5 < start.share < 1.0 and start.steps == ("pconv",)

    lines: list[str] = []
    train_spec(spec, tmp_path / "w.pt", _settings(1, init=str(out)), log=lines.append)
    assert lines[0] == (
        f"--init {out}: carried {start.share:.1%} of the parameters ({start.carried:,} of "
        f"{start.total:,}) through 1 step(s) (pconv); the rest starts fresh"
    )
    assert carried_start(make_spec([]), out).share == 1.0  # the seed itself: everything is carried


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing overwritten


def _refused(capsys, tmp_path, *args: str) -> str:
    out = tmp_path / "w.pt"
    if not out.exists():
        out.write_bytes(b"old weights")
    code = main(["train", "nafnet", "--iterations", "2", "--batch", "2", "--crop", "32", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert out.read_bytes() == b"old weights"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("w.")) == ["w.pt"]
    return err.removeprefix("roadmap train: error: ").rstrip("\n")


def test_more_workers_than_cpus_is_refused(tmp_path, capsys):
    n = available_cpus() + 1
    err = _refused(capsys, tmp_path, "--workers", str(n), "--batch", str(2 * n))
    assert err.startswith(f"--workers {n}: needs {n} CPUs ({n} workers x 1 thread(s)), this machine has {n - 1}")


def test_more_gpus_than_the_machine_has_is_refused(tmp_path, capsys):
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    err = _refused(capsys, tmp_path, "--gpus-per-worker", str(gpus + 1))
    assert err == f"--gpus-per-worker {gpus + 1}: 1 worker(s) need {gpus + 1} GPU(s), this machine has {gpus}"


def test_an_unreachable_address_is_refused(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    err = _refused(capsys, tmp_path, "--workers", "2", "--address", f"127.0.0.1:{port}")
    assert err.startswith(f"--address 127.0.0.1:{port}: no Ray cluster reachable there")


def test_a_batch_the_workers_cannot_share_is_refused(tmp_path, capsys):
    err = _refused(capsys, tmp_path, "--workers", "2", "--batch", "3")
    assert err == "--batch 3: not a multiple of --workers 2 (the global batch is shared equally: try --batch 2)"


def test_fp16_on_the_cpu_is_refused(tmp_path, capsys):
    assert (
        _refused(capsys, tmp_path, "--precision", "fp16")
        == "--precision fp16: needs CUDA (on the CPU use fp32, or bf16)"
    )


def test_a_checkpoint_of_another_spec_is_refused(tmp_path, capsys):
    out = tmp_path / "w.pt"
    train_spec(make_spec([PCONV]), out, _settings(2, stop_after=1, checkpoint_every=1))
    ckpt = out.with_name("w.pt.ckpt")
    before = ckpt.read_bytes()
    code = main(["train", "nafnet", "--iterations", "2", "--batch", "2", "--crop", "32", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert err == (
        f"roadmap train: error: checkpoint {ckpt} is for another spec (nafnet/w16 + pconv), not "
        "nafnet/w16; use --restart to start over, or another --out\n"
    )
    assert ckpt.read_bytes() == before and not out.exists()


def test_init_weights_that_cannot_be_carried_are_refused(tmp_path, capsys):
    w32 = roadmap.get_seed("nafnet", "w32")
    other_seed = tmp_path / "w32.pt"
    torch.save({"state_dict": roadmap.build_model(w32).state_dict(), "spec_yaml": w32.to_yaml()}, other_seed)
    err = _refused(capsys, tmp_path, "--init", str(other_seed))
    assert err == (
        f"--init {other_seed}: its spec (nafnet/w32) through the remaining 0 step(s) is another network "
        "than nafnet/w16 (another seed or variant?)"
    )
    torn = tmp_path / "torn.pt"  # the spec of the file says w16, its tensors are w32's
    torch.save({"state_dict": roadmap.build_model(w32).state_dict(), "spec_yaml": make_spec([]).to_yaml()}, torn)
    err = _refused(capsys, tmp_path, "--init", str(torn))
    assert err.startswith(f"--init {torn}: its weights cannot be carried to nafnet/w16 (")
    with pytest.raises(RoadmapError, match="no such file"):
        _settings(init=str(tmp_path / "missing.pt"))


def test_a_cluster_without_the_workers_resources_is_refused():
    from roadmap.review.ray_train import check_resources
    from roadmap.review.train_settings import TrainSettings

    cluster = TrainSettings(workers=4, address="10.0.0.1:6379")
    with pytest.raises(RoadmapError, match=r"^--workers 4: needs 4 CPUs, the Ray cluster at 10.0.0.1:6379 has 2$"):
        check_resources(cluster, {"CPU": 2.0})
    gpus = TrainSettings(workers=2, gpus_per_worker=1, device="cuda", address="10.0.0.1:6379")
    with pytest.raises(RoadmapError, match=r"^--gpus-per-worker 1: 2 worker\(s\) need 2 GPU\(s\), the Ray cluster"):
        check_resources(gpus, {"CPU": 8.0, "GPU": 1.0})
    check_resources(gpus, {"CPU": 8.0, "GPU": 2.0})  # enough: no error


def test_a_failed_worker_is_one_line_and_its_own_error_wins():
    """Ray Train raises a WorkerGroupError whose ``worker_failures`` maps ranks to what they
    raised; a worker's RoadmapError (a diverged loss, a full disk) is the user's message."""
    from roadmap.review.ray_train import _roadmap_error

    class WorkerGroupError(Exception):
        def __init__(self, failures):
            super().__init__("Training failed due to worker errors:\nTraceback ...")
            self.worker_failures = failures

    own = RoadmapError("training diverged: loss became nan at iteration 3 (last checkpoint: none); try a lower --lr")
    assert _roadmap_error(WorkerGroupError({1: ValueError("x"), 0: own})) is own
    other = _roadmap_error(WorkerGroupError({1: MemoryError("out of memory\nmore")}))
    assert str(other) == "worker 1 of the Ray training failed: MemoryError: out of memory"
