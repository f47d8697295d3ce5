"""What rank 0 of a full training does besides the steps, through the loop's ``on_step`` hook.

:class:`Monitor` keeps the exponential moving average of the weights (:class:`WeightAverage`,
the weights that are validated and exported), scores them on the fixed validation crops every
``validate_every`` iterations and keeps the best as ``<out stem>.best<suffix>``, writes the
checkpoint ``<out>.ckpt`` every ``checkpoint_every`` iterations, a progress line (loss, learning
rate, throughput, validation PSNR, ETA) and a row of ``<out stem>.log.csv`` every ``log_every``
(TensorBoard scalars too with ``--tensorboard``), and at the end the weights file ``<out>`` with
the validation and test scores. Other ranks run :class:`StopAt`: they write nothing.

Every file goes through `roadmap.files` (whole or not at all). The log's rows, the average and
the best score travel in the checkpoint, so a resumed run continues all three where the
checkpoint left them, whatever its worker count.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from roadmap.evaluation.training import StepState

__all__ = ["TrainPaths", "WeightAverage", "Monitor", "StopAt", "LOG_COLUMNS", "LogFn"]

LogFn = Callable[[str], None]
LOG_COLUMNS = ("iteration", "seconds", "loss", "lr", "images_per_s", "val_psnr", "val_ssim", "raw_val_psnr")


@dataclass(frozen=True)
class TrainPaths:
    """The files of a training: the weights ``out``, its ``checkpoint`` (``<out>.ckpt``), the
    ``best`` validated weights (``<stem>.best<suffix>``) and the CSV ``log`` (``<stem>.log.csv``)."""

    out: Path
    checkpoint: Path
    best: Path
    log: Path

    @classmethod
    def of(cls, out: str | Path) -> TrainPaths:
        # absolute: Ray Train's workers run in Ray's own folder, where a relative path lands
        out = Path(out).resolve()
        return cls(
            out,
            out.with_name(out.name + ".ckpt"),
            out.with_name(f"{out.stem}.best{out.suffix}"),
            out.with_name(f"{out.stem}.log.csv"),
        )

    def check(self) -> None:
        """Refuse (`WriteError`, one line) before any work where one of them cannot be written."""
        from roadmap import files

        for path in (self.out, self.checkpoint, self.best, self.log):
            files.check_writable(path, "--out")


class WeightAverage:
    """Exponential moving average of a network's weights (Polyak averaging; BasicSR's
    ``ema_decay``). After step ``t``, every floating-point tensor of the state dict becomes
    ``d_t * average + (1 - d_t) * weights`` with ``d_t = min(decay, (1 + t) / (10 + t))``: the
    warm-up keeps a short training's average from being mostly its random start. ``model`` is
    the averaged network (a copy, in eval mode), ready to validate or save."""

    def __init__(self, model: torch.nn.Module, decay: float, state: dict | None = None):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        if state is not None:
            self.model.load_state_dict(state)
        self._pairs: list | None = None

    def update(self, model: torch.nn.Module, step: int) -> None:
        """Fold ``model``'s weights after step ``step`` (1-based) into the average."""
        import torch

        if self._pairs is None:  # state_dict() tensors share the parameters' storage
            self._pairs = list(zip(self.model.state_dict().values(), model.state_dict().values(), strict=False))
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for avg, w in self._pairs:
                if avg.is_floating_point():
                    avg.lerp_(w.to(avg.dtype), 1.0 - d)
                else:
                    avg.copy_(w)


class StopAt:
    """The ``on_step`` hook of ranks other than 0: only the decision to stop, which every rank
    takes alike (``stop_after`` iterations); no file."""

    def __init__(self, stop_after: int | None):
        self.stop_after = stop_after

    def __call__(self, state: StepState) -> bool:
        return self.stop_after is not None and state.step >= self.stop_after


def cpu_state(model: torch.nn.Module) -> dict:
    """``model``'s state dict as CPU tensors (a snapshot)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def clock(seconds: float) -> str:
    """``1h02m``, ``3m05s``, ``12s``."""
    seconds = max(0, round(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def csv_text(rows: list[dict]) -> str:
    """The log's CSV: a header of `LOG_COLUMNS`, one line per row (empty where not measured)."""
    lines = [",".join(LOG_COLUMNS)]
    for row in rows:
        lines.append(
            ",".join(
                "" if row.get(c) is None else f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c])
                for c in LOG_COLUMNS
            )
        )
    return "\n".join(lines) + "\n"


class Monitor:
    """The rank-0 ``on_step`` hook of `roadmap.review.train.run_replica` (module docstring).

    ``job``: the `TrainJob` (settings, data, paths, the checkpoint it resumes); ``model``: the
    network being trained (weights already loaded); ``precision``: what the steps run in;
    ``world``: the number of workers; ``log``: where progress lines go (``None``: nowhere).
    """

    def __init__(self, job: Any, model: torch.nn.Module, precision: str, world: int, log: LogFn | None):
        self.job, self.settings, self.precision, self.world = job, job.settings, precision, world
        self.log = log or (lambda line: None)
        start = job.start or {}
        self.average = WeightAverage(model, self.settings.ema, start.get("ema")) if self.settings.ema else None
        self.best: dict | None = start.get("best")
        self.rows: list[dict] = list(start.get("log_rows") or [])
        self.start_step, self.start_seconds = int(start.get("step", 0)), float(start.get("seconds", 0.0))
        self.mark = (self.start_step, self.start_seconds)  # (step, training seconds) of the last row
        self.losses: list[float] = []
        self.overhead = 0.0  # seconds this hook spent (validation, files): not training throughput
        self.last_val: tuple[int, dict] | None = None
        self.tensorboard = _TensorBoard(self.settings.tensorboard) if self.settings.tensorboard else None

    def exported(self, model: torch.nn.Module) -> torch.nn.Module:
        """The weights that are validated and exported: the average, or ``model`` without one."""
        return self.average.model if self.average is not None else model

    def __call__(self, state: StepState) -> bool:
        t0 = time.perf_counter()
        s = self.settings
        if self.average is not None:
            self.average.update(state.model, state.step)
        self.losses.append(state.loss)
        last = state.step == state.total
        stop = s.stop_after is not None and state.step >= s.stop_after
        scores = self._validate(state) if state.step % s.validate_every == 0 or last else None
        if scores is not None or state.step % s.log_every == 0 or last:
            self._row(state, scores)
        if stop or state.step % s.checkpoint_every == 0 or last:
            self._checkpoint(state)
        self.overhead += time.perf_counter() - t0
        return stop

    def _validate(self, state: StepState) -> dict:
        """Score the exported weights (and the raw ones beside an average) on the validation
        crops; keep them as the best when they beat it."""
        from roadmap import files

        val = validation_scores(self.exported(state.model), self.job)
        raw = val if self.average is None else validation_scores(state.model, self.job)
        state.model.train()  # scoring put it in eval mode; the loop goes on
        self.last_val = (state.step, {**val, "raw_psnr": raw["psnr"]})
        if self.best is None or val["psnr"] > self.best["psnr"]:
            self.best = {"step": state.step, "psnr": val["psnr"]}
            files.save_torch(
                self.weights_record(state.model, state.step, val, state.seconds), self.job.paths.best, "best weights"
            )
        return {"val_psnr": val["psnr"], "val_ssim": val["ssim"], "raw_val_psnr": raw["psnr"]}

    def _row(self, state: StepState, scores: dict | None) -> None:
        """One CSV row and one progress line: the loss since the last row, throughput, ETA."""
        step0, seconds0 = self.mark
        trained = state.seconds - self.overhead
        rate = self.settings.fidelity.batch * (state.step - step0) / max(trained - seconds0, 1e-9)
        loss = sum(self.losses) / len(self.losses)
        row = {
            "iteration": state.step,
            "seconds": round(state.seconds, 3),
            "loss": loss,
            "lr": state.lr,
            "images_per_s": rate,
            **(scores or {}),
        }
        self.rows.append(row)
        self.mark, self.losses = (state.step, trained), []
        if self.tensorboard is not None:
            self.tensorboard.add(row)
        done = state.step - self.start_step
        eta = (state.seconds - self.start_seconds) / max(done, 1) * (state.total - state.step)
        best = "" if self.best is None else f" (best {self.best['psnr']:.2f} dB at {self.best['step']})"
        val = "" if scores is None else f"  val {scores['val_psnr']:.2f} dB{best}"
        self.log(
            f"iteration {state.step}/{state.total}  loss {loss:.4f}  lr {state.lr:.3g}  {rate:.1f} img/s"
            f"{val}  {clock(state.seconds)} elapsed, ETA {clock(eta)}"
        )

    def _checkpoint(self, state: StepState) -> None:
        """``<out>.ckpt``: raw and averaged weights, the loop's `TrainCheckpoint`, the best
        score and the log rows; the CSV beside it."""
        from roadmap import files

        job = self.job
        ema = None if self.average is None else cpu_state(self.average.model)
        files.save_torch(
            {
                "fingerprint": job.fingerprint,
                "model": cpu_state(state.model),
                "ema": ema,
                "spec_yaml": job.spec_yaml,
                "best": self.best,
                "log_rows": self.rows,
                **state.checkpoint().to_dict(),
            },
            job.paths.checkpoint,
            "checkpoint",
        )
        files.write_text(job.paths.log, csv_text(self.rows), "log")

    def weights_record(self, model: torch.nn.Module, step: int, val: dict, seconds: float) -> dict:
        """The weights file: ``state_dict`` (the exported weights: the average when there is one),
        ``raw_state_dict`` (the trained weights themselves, beside an average), what produced them
        and their scores ``val``."""
        job, s = self.job, self.settings
        record = {
            "state_dict": cpu_state(self.exported(model)),
            "spec_yaml": job.spec_yaml,
            "iterations": step,
            "fidelity": s.fidelity.to_dict(),
            "data": job.data.source,
            "task": job.data.task.to_dict(),
            "seed": s.seed,
            "val": val,
            "seconds": seconds,
            "ema": s.ema or None,
            "workers": self.world,
            "precision": self.precision,
            "init": s.init,
        }
        if self.average is not None:
            record["raw_state_dict"] = cpu_state(model)
        return record

    def finish(self, model: torch.nn.Module, seconds: float) -> None:
        """After the last step: the test scores of the final and of the best weights, then the
        weights file ``out`` (scores under ``val``, the best under ``best``) and the log."""
        from roadmap import files

        total = self.settings.fidelity.iterations
        t0 = time.perf_counter()
        final = self.exported(model)
        if self.last_val is not None and self.last_val[0] == total:
            val = dict(self.last_val[1])
        else:  # resumed from a checkpoint of the last step: nothing was trained in this run
            val = {**validation_scores(final, self.job), "raw_psnr": validation_scores(model, self.job)["psnr"]}
        val.update(test_scores(final, self.job))
        best = dict(self.best or {})
        if best:  # the final weights are the best ones when the last validation was the best
            same = best["step"] == total
            tests = (
                {k: val[k] for k in ("test_psnr", "test_input_psnr")}
                if same
                else test_scores(_load_best(model, self.job.paths.best), self.job)
            )
            best.update(tests, path=str(self.job.paths.best))
        record = self.weights_record(model, total, val, seconds + time.perf_counter() - t0)
        files.save_torch({**record, "best": best}, self.job.paths.out, "--out")
        files.write_text(self.job.paths.log, csv_text(self.rows), "log")
        if self.tensorboard is not None:
            self.tensorboard.close()


def _load_best(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """A copy of ``model`` holding the best validated weights."""
    import torch

    best = copy.deepcopy(model)
    best.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return best.eval()


def _scored(model: torch.nn.Module, job: Any, inputs: torch.Tensor, clean: torch.Tensor) -> dict:
    """`evaluate_quality` of ``model`` on its device, at the training's thread count (CPU
    reductions depend on it: the scores must not depend on the caller's setting)."""
    from roadmap.evaluation.quality import evaluate_quality
    from roadmap.evaluation.threads import torch_threads

    device = next(model.parameters()).device
    with torch_threads(job.settings.fidelity.threads if device.type == "cpu" else None):
        return evaluate_quality(model.eval(), inputs.to(device), clean.to(device), task=job.data.task)


def validation_scores(model: torch.nn.Module, job: Any) -> dict:
    """``psnr``, ``ssim``, ``input_psnr`` (and ``psnr_rgb`` for sr) on the fixed validation crops."""
    return _scored(model, job, job.data.val_input, job.data.val_clean)


def test_scores(model: torch.nn.Module, job: Any) -> dict:
    """``test_psnr`` and ``test_input_psnr`` on the test crops (both ``None`` without test images):
    reported at the end, never used to choose anything."""
    if job.data.test_input is None:
        return {"test_psnr": None, "test_input_psnr": None}
    scores = _scored(model, job, job.data.test_input, job.data.test_clean)
    return {"test_psnr": scores["psnr"], "test_input_psnr": scores["input_psnr"]}


class _TensorBoard:
    """Scalars of each log row to TensorBoard event files in ``folder``."""

    def __init__(self, folder: str):
        from roadmap.review.train_settings import _tensorboard_writer_class

        self.writer = _tensorboard_writer_class()(str(folder))

    def add(self, row: dict) -> None:
        for key, value in row.items():
            if key != "iteration" and isinstance(value, float):
                self.writer.add_scalar(f"train/{key}", value, row["iteration"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
