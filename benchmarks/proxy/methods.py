"""Proxy methods: how a candidate is scored cheaply. Each method is a plain dict (its cache
key) with a ``name`` and a ``kind``; `run_method` trains one candidate with it.

Kinds
    ``train``  one `evaluate_spec` run at ``fidelity`` (a preset name or a fidelity dict).
    ``rungs``  successive trainings of the same model: rung k trains ``rungs[k] - rungs[k-1]``
               iterations from the weights rung k-1 left, with a fresh optimiser and its own
               cosine cycle (``continue``), and records the validation PSNR after each rung.
               ``init: seed`` starts from the seed network's weights carried through the
               candidate's steps (weight inheritance) after ``seed_iterations`` of training.

A method with a ``device`` (`on_device`) trains there; without one, on the CPU (the cache keys
of the CPU runs stay what they were).
"""

from __future__ import annotations

from benchmarks.proxy.candidates import build, seed_spec

REFERENCE = {"name": "long", "kind": "train", "fidelity": "long"}
SCORES = ("psnr", "input_psnr", "test_psnr", "test_input_psnr")


def for_task(method: dict, task) -> dict:
    """``method`` for ``task`` (its cache key then names the task)."""
    return {**method, "task": task.to_dict()}


def on_device(method: dict, device: str) -> dict:
    """``method`` trained on ``device`` (its cache key then names the device; ``cpu`` keeps it)."""
    return method if device == "cpu" else {**method, "device": device}


def _device(method: dict) -> str:
    return str(method.get("device", "cpu"))


def _task(method: dict):
    from roadmap.evaluation.tasks import DEFAULT_TASK, Task

    return Task.from_dict(method["task"]) if "task" in method else DEFAULT_TASK


def _data(method: dict, fid):
    from roadmap.evaluation.data import load_data

    return load_data(None, task=_task(method), val_crop=fid.val_crop, val_count=fid.val_count, train_crop=fid.crop)


def run_method(method: dict, steps: list[dict], seed: int) -> dict:
    from benchmarks.proxy.candidates import use_task

    use_task(_task(method))
    kind = method["kind"]
    if kind == "train":
        return _train(method, steps, seed)
    if kind == "rungs":
        return _rungs(method, steps, seed)
    if kind == "task_quality":  # benchmarks/task_quality.py: the seed at the default fidelity
        from benchmarks.task_quality import run_quality

        return run_quality(method, steps, seed)
    raise ValueError(f"unknown proxy method kind {kind!r}")


def _train(method: dict, steps: list[dict], seed: int) -> dict:
    from roadmap.evaluation import evaluate_spec

    out = evaluate_spec(
        build(steps), method["fidelity"], None, _device(method), random_seed=seed, measure=False, task=_task(method)
    )
    return {k: out[k] for k in (*SCORES, "ssim", "status", "train_seconds", "params", "macs")} | (
        {"reason": out["reason"]} if out.get("reason") else {}
    )


def _fidelity(method: dict, iterations: int):
    """The method's training settings (explicit, so a change of the presets leaves the cache
    valid) for ``iterations`` steps."""
    from roadmap.evaluation.fidelity import Fidelity

    return Fidelity.from_dict({**method["base"], "iterations": iterations})


def _initial_model(method: dict, steps: list[dict], seed: int):
    import torch

    from roadmap.build import build_model

    torch.manual_seed(seed)
    model = build_model(build(steps))
    if method.get("init") == "seed":
        from roadmap.transforms import carry_weights

        state = _seed_state(method, seed)
        model.load_state_dict(carry_weights(seed_spec(), state, steps))
    return model


_SEED_STATES: dict = {}


def _seed_state(method: dict, seed: int) -> dict:
    """The seed network trained for ``seed_iterations`` on the method's device (kept per worker
    process, per device: a GPU method must not start from weights the CPU trained)."""
    import torch

    from roadmap.build import build_model
    from roadmap.evaluation.training import train

    key = (method["seed_iterations"], seed, repr(method.get("overrides")), repr(method.get("task")), _device(method))
    if key not in _SEED_STATES:
        fid = _fidelity(method, method["seed_iterations"])
        data = _data(method, fid)
        torch.manual_seed(seed)
        model = build_model(seed_spec())
        train(model, data, fid, seed, _device(method))
        _SEED_STATES[key] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return _SEED_STATES[key]


def _rungs(method: dict, steps: list[dict], seed: int) -> dict:
    import time

    from roadmap.evaluation.quality import evaluate_quality
    from roadmap.evaluation.training import train

    data = _data(method, _fidelity(method, method["rungs"][0]))
    model = _initial_model(method, steps, seed)
    out: dict = {"rungs": [], "status": "ok"}
    done, device = 0, _device(method)
    for k, total in enumerate(method["rungs"]):
        losses: list[float] = []
        t0, wall0 = time.process_time(), time.perf_counter()
        result = train(
            model,
            data,
            _fidelity(method, total - done),
            seed + 1000 * k,
            device,
            progress=lambda i, n, loss, s: losses.append(loss),  # noqa: B023 - train() calls it before returning
            progress_every=1,
        )
        done = total
        if result.status != "ok":
            out.update(status=result.status, reason=result.reason)
            break
        import torch

        with torch.no_grad():
            scores = evaluate_quality(model, data.val_input.to(device), data.val_clean.to(device), task=data.task)
            test = evaluate_quality(model, data.test_input.to(device), data.test_clean.to(device), task=data.task)
        out["rungs"].append(
            {
                "iterations": total,
                "psnr": scores["psnr"],
                "input_psnr": scores["input_psnr"],
                "test_psnr": test["psnr"],
                "test_input_psnr": test["input_psnr"],
                "cpu_seconds": time.process_time() - t0,
                "wall_seconds": time.perf_counter() - wall0,
                "mean_loss": sum(losses) / len(losses),
                "last_loss": sum(losses[-20:]) / len(losses[-20:]),
            }
        )
    out.update({k: out["rungs"][-1][k] for k in SCORES} if out["rungs"] else {"psnr": None})
    return out
