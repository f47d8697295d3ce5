"""Does a carried start (``roadmap train --init``) reach the from-scratch PSNR in fewer iterations?

    python benchmarks/carried_start.py [--roadmap mofa | --spec knee.yaml] [--iterations 500]
                                       [--seed-iterations 500] [--validate-every 50] [--only-table]

1. The seed (NAFNet-w16 by default) is trained from scratch with ``roadmap train``'s code
   (``--seed-iterations``): the weights a user has before the search.
2. The target -- the seed after a roadmap (``roadmap apply nafnet --roadmap mofa``) or a spec
   exported by a search (``--spec``, e.g. the knee) -- is trained ``--iterations`` twice with
   the same settings and random seed: from scratch, and from the seed's weights carried through
   its steps (``--init``, the carry-over the search's screen uses). Both validate their exported
   weights (the EMA) every ``--validate-every`` iterations on the same validation crops.
3. The table: the PSNR each reaches after N iterations, and the first validated iteration at
   which the carried start reaches the from-scratch PSNR of N iterations (the ratio to N).

Settings: batch 8 of 48 x 48 crops, lr 2e-3 (the proxy's, so that it runs on a CPU in about a
quarter of an hour), denoising at sigma 25 on the embedded photographs, validation on 4 crops of
96 x 96, one thread. Each training is cached in ``benchmarks/results/carried_start_runs.json`` as
it ends, and resumes from its own checkpoint if killed; weights go to
``benchmarks/results/carried_start/``. The table goes to stdout and
``benchmarks/results/carried_start.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, table, write_json

CACHE = RESULTS / "carried_start_runs.json"
WEIGHTS = RESULTS / "carried_start"
TRAINING = {"batch": 8, "crop": 48, "lr": 2e-3, "val_crop": 96, "val_count": 4, "threads": 1}


def _key(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


class Cache:
    """Finished trainings on disk (``key -> record``), rewritten whole after each one."""

    def __init__(self, path: Path = CACHE):
        self.path = path
        self.runs: dict = json.loads(path.read_text()) if path.exists() else {}

    def get(self, what: dict) -> dict | None:
        return self.runs.get(_key(what))

    def put(self, what: dict, record: dict) -> None:
        self.runs[_key(what)] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.runs, indent=1))
        os.replace(tmp, self.path)


def _specs(args) -> tuple:
    """``(seed spec, target spec)``: the seed and the seed after ``--roadmap`` or ``--spec``."""
    import roadmap
    from roadmap.roadmaps import get_roadmap
    from roadmap.transforms import apply_steps

    seed = roadmap.get_seed(args.seed, args.variant)
    if args.spec:
        return seed, roadmap.load_spec(Path(args.spec).read_text())
    return seed, apply_steps(seed, get_roadmap(args.roadmap, seed))


def _curve(out: Path) -> list[tuple[int, float]]:
    """``(iteration, validation PSNR of the exported weights)`` from a training's CSV log."""
    with out.with_name(f"{out.stem}.log.csv").open() as f:
        return [(int(r["iteration"]), float(r["val_psnr"])) for r in csv.DictReader(f) if r["val_psnr"]]


def _start_psnr(spec, state: dict | None, seed: int) -> float:
    """Validation PSNR of the network before training: random weights, or ``state``."""
    import torch

    import roadmap
    from roadmap.evaluation.data import load_data
    from roadmap.evaluation.quality import evaluate_quality
    from roadmap.evaluation.threads import torch_threads

    torch.manual_seed(seed)
    model = roadmap.build_model(spec)
    if state is not None:
        model.load_state_dict(state)
    data = load_data(None, val_crop=TRAINING["val_crop"], val_count=TRAINING["val_count"])
    with torch_threads(1):
        return evaluate_quality(model, data.val_input, data.val_clean)["psnr"]


def _train(cache: Cache, name: str, spec, iterations: int, validate_every: int, init: dict | None = None) -> dict:
    """One cached ``roadmap train`` run (``init``: the seed's record, whose weights it starts
    from): its validation curve, final scores, start PSNR, carried share and weights file."""
    from roadmap.review.init_weights import carried_start
    from roadmap.review.train import full_fidelity, resolve_train_settings, train_spec

    what = {
        "name": name,
        "spec": spec.to_yaml(),
        "iterations": iterations,
        "validate_every": validate_every,
        "training": TRAINING,
        "init": None if init is None else init["key"],
    }
    key = _key(what)
    out = WEIGHTS / f"{name}-{key}.pt"  # per settings: a killed run resumes from its own checkpoint
    if (done := cache.get(what)) is not None and out.exists():
        return done
    weights = None if init is None else init["weights"]
    settings = resolve_train_settings(
        fidelity=full_fidelity(iterations=iterations, **TRAINING),
        validate_every=validate_every,
        log_every=validate_every,
        checkpoint_every=100,
        init=weights,
    )
    print(f"training {name}: {iterations} iterations", file=sys.stderr, flush=True)
    outcome = train_spec(spec, out, settings, log=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    carried = carried_start(spec, weights) if weights is not None else None
    record = {
        "key": key,
        "weights": str(out),
        "curve": _curve(out),
        "val": outcome.val,
        "seconds": outcome.seconds,
        "start_psnr": _start_psnr(spec, None if carried is None else carried.state, 0),
        "carried_share": None if carried is None else carried.share,
    }
    cache.put(what, record)
    return record


def run(args) -> dict:
    """Train the seed, then the target from scratch and carried; the report as a dict."""
    cache = Cache()
    seed, target = _specs(args)
    seed_record = _train(cache, "seed", seed, args.seed_iterations, args.validate_every)
    scratch = _train(cache, "scratch", target, args.iterations, args.validate_every)
    carried = _train(cache, "carried", target, args.iterations, args.validate_every, init=seed_record)
    goal = scratch["curve"][-1][1]
    reached = next((it for it, psnr in carried["curve"] if psnr >= goal), None)
    return {
        "seed": seed.name,
        "target": _label(target),
        "iterations": args.iterations,
        "seed_iterations": args.seed_iterations,
        "training": TRAINING,
        "seed_val_psnr": seed_record["val"]["psnr"],
        "scratch": scratch,
        "carried": carried,
        "goal_psnr": goal,
        "carried_reaches_goal_at": reached,
        "ratio": None if reached is None else reached / args.iterations,
    }


def _label(spec) -> str:
    from roadmap.review.init_weights import spec_label

    return spec_label(spec)


def print_report(report: dict) -> None:
    """The summary table and the two curves side by side."""
    n, s, c = report["iterations"], report["scratch"], report["carried"]
    reached = report["carried_reaches_goal_at"]
    rows = [
        [
            "from scratch",
            f"{s['start_psnr']:.2f}",
            f"{s['val']['psnr']:.2f}",
            f"{s['val']['test_psnr']:.2f}",
            str(n),
            "1.00",
        ],
        [
            f"carried from the seed ({c['carried_share']:.0%} of the parameters)",
            f"{c['start_psnr']:.2f}",
            f"{c['val']['psnr']:.2f}",
            f"{c['val']['test_psnr']:.2f}",
            "not reached" if reached is None else str(reached),
            "-" if reached is None else f"{report['ratio']:.2f}",
        ],
    ]
    print(
        f"{report['target']} ({report['seed']} trained {report['seed_iterations']} iterations: validation "
        f"{report['seed_val_psnr']:.2f} dB); {n} iterations, batch 8 of 48x48, denoise sigma 25, EMA weights"
    )
    print(
        table(
            rows,
            [
                "start",
                "val PSNR at 0",
                f"val PSNR at {n}",
                f"test PSNR at {n}",
                f"iterations to {report['goal_psnr']:.2f} dB",
                "ratio",
            ],
        )
    )
    carried = dict(c["curve"])
    print()
    print(
        table(
            [[str(it), f"{p:.2f}", f"{carried.get(it, float('nan')):.2f}"] for it, p in s["curve"]],
            ["iteration", "scratch val PSNR", "carried val PSNR"],
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", default="nafnet")
    p.add_argument("--variant", default="w16")
    p.add_argument("--roadmap", default="mofa", help="the roadmap applied to the seed (default mofa)")
    p.add_argument("--spec", default=None, help="a spec YAML of the seed's roadmap instead (e.g. an exported knee)")
    p.add_argument("--iterations", type=int, default=500, help="N: iterations of the target's trainings")
    p.add_argument("--seed-iterations", type=int, default=500, help="iterations of the seed's training")
    p.add_argument("--validate-every", type=int, default=50)
    p.add_argument("--only-table", action="store_true", help="print from the cache, train nothing")
    args = p.parse_args(argv)
    if args.only_table:
        report = json.loads((RESULTS / "carried_start.json").read_text())
    else:
        report = run(args)
        print(f"wrote {write_json('carried_start.json', report)}", file=sys.stderr)
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
