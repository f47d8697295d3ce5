"""Synthetic studies for the review tests, written with Optuna directly (DESIGN.md section 5).

Imported by the tests as ``review_studies`` (pytest puts this folder on ``sys.path``)."""
from __future__ import annotations

import json
from pathlib import Path


MB = 2**20


def _manual_steps(spec, steps):
    """Fallback for the transforms (used only while roadmap.transforms is missing)."""
    from roadmap.spec import ConvSpec

    spec = spec.copy()
    for step in steps:
        params = step.get("params", {})
        if step["transform"] == "pconv":
            for stage in spec.encoder + spec.middle + spec.decoder:
                stage.conv = ConvSpec(kind="pconv", kernel=3, portion=params["portion"])
        elif step["transform"] == "drop_skips":
            for level in params["levels"]:
                spec.skips[level].type = "none"
        else:  # pragma: no cover
            raise AssertionError(step)
        spec.provenance = dict(spec.provenance)
        spec.provenance["steps"] = list(spec.provenance.get("steps", [])) + [step]
    return spec


def make_spec(steps):
    import roadmap

    seed = roadmap.get_seed("nafnet", "w16")
    if not steps:
        return seed
    try:
        from roadmap.transforms import apply_steps
    except ImportError:
        return _manual_steps(seed, steps)
    return apply_steps(seed, steps)


PCONV = {"transform": "pconv", "params": {"portion": 0.25}}
PCONV_HALF = {"transform": "pconv", "params": {"portion": 0.5}}
PCONV_EIGHTH = {"transform": "pconv", "params": {"portion": 0.125}}
DROP0 = {"transform": "drop_skips", "params": {"levels": [0]}}

# number: (psnr, latency_ms, memory_MB, reference, steps) or ("FAIL", reason)
TRIALS = {
    0: (30.0, 100.0, 200.0, "seed", []),
    1: (29.6, 55.0, 150.0, "mofa", [PCONV]),
    2: (29.2, 70.0, 90.0, "unet--", [DROP0]),
    3: (29.8, 80.0, 180.0, None, [PCONV_HALF]),
    4: (28.0, 90.0, 210.0, None, [PCONV_EIGHTH]),  # dominated
    5: ("FAIL", "diverged: loss became nan at iteration 12"),
    6: (29.0, 50.0, 100.0, None, [PCONV, DROP0]),
    7: ("FAIL", "invalid spec: encoder[0].conv.portion"),
}


def write_study(directory: Path, trials: dict = TRIALS, *, with_files: bool = True) -> Path:
    """Create a study directory like ``roadmap search`` does, with ``trials``."""
    import optuna
    import torch

    import roadmap

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "settings.json").write_text(json.dumps(
        {"seed": "nafnet", "variant": "w16", "fidelity": "smoke", "device": "cpu", "random_seed": 0}))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="roadmap", storage=f"sqlite:///{directory / 'study.db'}",
                                directions=["maximize", "minimize", "minimize"])
    params_cache: dict[str, int] = {}
    for number, row in sorted(trials.items()):
        if row[0] == "FAIL":
            study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL, user_attrs={"failure_reason": row[1]}))
            continue
        psnr, lat, mem_mb, reference, steps = row
        spec = make_spec(steps)
        text = spec.to_yaml()
        if text not in params_cache:
            params_cache[text] = sum(p.numel() for p in roadmap.build_model(spec).parameters())
        metrics = {
            "psnr": psnr, "ssim": 0.8 + psnr / 1000, "noisy_psnr": 20.2, "latency_ms": lat, "latency_cv": 0.02,
            "peak_memory_measured_bytes": int(mem_mb * MB), "peak_memory_predicted_bytes": int(mem_mb * MB * 0.9),
            "params": params_cache[text], "macs": params_cache[text] * 3000, "train_seconds": 1.5,
            "status": "ok", "fidelity": "smoke", "device": "cpu",
        }
        study.add_trial(optuna.trial.create_trial(
            values=[psnr, lat, int(mem_mb * MB)],
            user_attrs={"metrics": metrics, "spec_yaml": text, "transforms": steps, "reference": reference},
        ))
        if with_files:
            tdir = directory / "trials" / str(number)
            tdir.mkdir(parents=True, exist_ok=True)
            (tdir / "spec.yaml").write_text(text)
            (tdir / "metrics.json").write_text(json.dumps(metrics))
    assert [t.number for t in study.trials] == sorted(trials)
    torch.manual_seed(0)
    return directory


