"""Export a chosen trial as a spec YAML that carries its provenance (``roadmap export``).

The exported spec is the spec the trial evaluated (``spec_yaml``), unchanged except for its
``provenance`` mapping, which keeps ``seed`` and ``steps`` and gains:

- ``study``: the study directory (as given on the command line, resolved to an absolute path);
- ``trial``: the trial number; ``reference``: ``seed`` / ``mofa`` / ``unet--`` when it is one;
- ``metrics``: the measured metrics (``latency_ms``, ``peak_memory_measured_bytes``, ...: the
  ``evaluate_spec`` dict without ``fidelity``, ``device`` and ``status``) with the figures the
  review judged it by: ``psnr`` and ``ssim`` at the study's top rung (means over the runs),
  ``psnr_runs`` (one PSNR per random seed), ``psnr_band_db`` (half-width of the 95 % band of
  the mean), ``versus_seed`` (differences, tie bands and verdicts against the seed), ``rung``
  and ``iterations`` (the top rung and its cumulative training iterations), and beside the
  PSNR, means over the same runs: ``input_psnr`` (the degraded input's: the baseline),
  ``test_psnr`` / ``test_input_psnr`` (the held-out test images, never used to choose; null
  when the data has no test split) and, for ``sr``, ``psnr_rgb``;
- ``task``: the study's task (`Task.to_dict`: what the network restores and how it was scored);
- ``device`` and ``fidelity``: where and at which fidelity they were measured;
- ``noise``: the noise floor the bands and verdicts used (`roadmap.search.results.Noise.to_dict`:
  ``sigma_db``, ``source``, ``kind``, ``dof``, ``t_quantile``, the prior and the study's pairs).

``load_spec`` accepts any keys in ``provenance`` (only ``steps`` is checked), so the file
loads and builds exactly the network the trial evaluated.

A spec with re-parameterised convs (``reparam``: FMEN RRRBs, the training form) also gets its
deployed form, ``fold_spec(spec)`` (plain convs, ``provenance.folded: true``), written next to
it as ``<name>.folded.yaml`` (:func:`folded_path`): the spec the trial's latency and memory
were measured on and the network ``--onnx`` exports. The main file stays the training form, the
one ``roadmap train`` and ``--weights`` belong to (``fold_model`` turns its weights into the
folded network's).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from roadmap.review.specs import spec_of
from roadmap.review.study import StudyReview, TrialRecord
from roadmap.search.results import SCORE_KEYS

__all__ = ["exported_spec", "export_metrics", "export_trial", "folded_path"]

_NOT_METRICS = ("fidelity", "device", "status", "reason")
# The trial's stored metrics hold its first run (rung 0, first random seed); these keys describe
# that one run only, so they would misdescribe a PSNR averaged over runs at a later rung.
_ONE_RUN = ("train_seconds", "job_iterations", "job_seconds", "evaluations")
# An older study's name of ``input_psnr``, which the top rung's figure replaces.
_RENAMED = ("noisy_psnr",)


def _plain(x: Any) -> Any:
    """YAML-safe copy (numpy scalars -> Python numbers, tuples -> lists)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "item") and callable(x.item):
        try:
            return x.item()
        except (TypeError, ValueError):
            pass
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return str(x)


def export_metrics(review: StudyReview, trial: TrialRecord) -> dict[str, Any]:
    """The provenance ``metrics`` of ``trial``: its measurements with the PSNR / SSIM of the
    top rung (mean over ``psnr_runs``, ``psnr_band_db``), the baseline and test PSNRs of the same
    runs (``input_psnr``, ``test_psnr``, ``test_input_psnr``; ``psnr_rgb`` for sr),
    ``versus_seed``, the top ``rung`` and its ``iterations``; without the per-job bookkeeping
    of the first rung's run."""
    from roadmap.review.summary import top_rung_iterations

    metrics = {k: v for k, v in trial.metrics.items() if k not in _NOT_METRICS + _ONE_RUN + _RENAMED}
    metrics.setdefault("latency_ms", trial.latency_ms)
    metrics.setdefault("peak_memory_measured_bytes", round(trial.peak_memory_measured_bytes))
    metrics.update(
        psnr=trial.psnr,
        psnr_runs=list(trial.psnr_runs),
        psnr_band_db=trial.psnr_band,
        versus_seed=trial.versus_seed,
        rung=review.top_rung,
        iterations=top_rung_iterations(review),
        **{key: getattr(trial, key) for key in SCORE_KEYS},  # the top rung's, not the first run's
    )
    if metrics["psnr_rgb"] is None:  # only sr scores RGB beside Y
        del metrics["psnr_rgb"]
    if trial.ssim is not None:
        metrics["ssim"] = trial.ssim
    return _plain(metrics)


def exported_spec(review: StudyReview, trial: TrialRecord):
    """The trial's spec with the export provenance (see the module docstring)."""
    spec = spec_of(trial)
    prov = copy.deepcopy(spec.provenance or {})
    if "seed" not in prov and review.settings.get("seed"):
        seed = review.settings["seed"]
        variant = review.settings.get("variant")
        prov["seed"] = f"{seed}/{variant}" if variant and "/" not in str(seed) else seed
    if not prov.get("steps") and trial.transforms:
        prov["steps"] = copy.deepcopy(trial.transforms)
    prov.setdefault("steps", [])
    prov.update(
        {
            "study": str(review.directory.resolve()),
            "trial": trial.number,
            "reference": trial.reference,
            "metrics": export_metrics(review, trial),
            "task": review.task.to_dict(),
            "device": _plain(trial.metrics.get("device", review.settings.get("device"))),
            "fidelity": _plain(trial.metrics.get("fidelity", review.settings.get("fidelity"))),
            "noise": _plain(review.noise.to_dict()),
        }
    )
    if prov["reference"] is None:
        del prov["reference"]
    spec.provenance = prov
    return spec


def folded_path(out: str | Path) -> Path:
    """Where :func:`export_trial` writes the deployed (folded) spec: ``winner.yaml`` ->
    ``winner.folded.yaml``."""
    path = Path(out)
    return path.with_name(f"{path.stem}.folded{path.suffix or '.yaml'}")


def export_trial(review: StudyReview, trial: TrialRecord, out: str | Path):
    """Write :func:`exported_spec` to ``out`` and return the spec; a spec with re-parameterised
    convs also writes its folded form to :func:`folded_path` (``out``). Each file appears whole
    or not at all."""
    from roadmap.build import fold_spec, spec_has_reparam
    from roadmap.spec import load_spec, save_spec

    spec = exported_spec(review, trial)
    path = check_out_path(out)
    save_spec(spec, path, "--out")
    load_spec(path)  # what the user will do next: fail here, not later
    if spec_has_reparam(spec):
        load_spec(save_spec(fold_spec(spec), folded_path(path), "--out"))
    return spec


def check_out_path(out: str | Path) -> Path:
    """``--out`` as a path, refused before anything is written when no file can be written
    there (a folder, a read-only or forbidden folder: `roadmap.files.check_writable`)."""
    from roadmap import files

    return files.check_writable(out, "--out")
