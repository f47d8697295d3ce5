"""Sampler efficiency of ``roadmap search``: hypervolume after N trials for NSGA-II, TPE and
random search (several random seeds each), and the share of wall time spent outside
training and measurement (framework overhead).

Each run is a real ``roadmap search`` command in its own process (its own Ray runtime with
``--backend ray``), on its own study directory. All runs' hypervolumes use one anchor: the
median over the runs of the unmodified seed's metrics (see roadmap/search/hypervolume.py:
1.0 = the volume the seed alone dominates), so the numbers compare across samplers.

Examples::

    python benchmarks/search_efficiency.py                       # default fidelity, budget 50 (hours)
    python benchmarks/search_efficiency.py --fidelity smoke --budget 20
    python benchmarks/search_efficiency.py --fake --budget 50    # machinery only: fake evaluator

Writes ``benchmarks/results/search_efficiency-<fidelity>-<time>.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FAKE = "roadmap.search.testing:FakeEvaluator"


def run_one(args: argparse.Namespace, sampler: str, seed: int, root: Path) -> dict:
    study = root / f"{sampler}-{seed}"
    cmd = [sys.executable, "-m", "roadmap", "search", "--seed", args.seed, "--budget", str(args.budget),
           "--study", str(study), "--fidelity", args.fidelity, "--sampler", sampler,
           "--random-seed", str(seed), "--backend", args.backend, "--quiet", "--json"]
    if args.variant:
        cmd += ["--variant", args.variant]
    if args.concurrency:
        cmd += ["--concurrency", str(args.concurrency)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if args.fake:
        env["ROADMAP_SEARCH_EVALUATOR"] = FAKE
        env.setdefault("ROADMAP_FAKE_TRAIN_SECONDS", str(args.fake_train_seconds))
    else:
        env.pop("ROADMAP_SEARCH_EVALUATOR", None)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout)
    summary["command_seconds"] = time.perf_counter() - t0
    summary["sampler"], summary["random_seed"], summary["study_dir"] = sampler, seed, str(study)
    return summary


def trial_rows(study_dir: str) -> list[dict]:
    """Counted trials in number order: (state, metrics, reference)."""
    from optuna.trial import TrialState

    from roadmap.search.study import open_study

    rows = []
    for t in open_study(study_dir).get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.FAIL):
            rows.append({"number": t.number, "complete": t.state == TrialState.COMPLETE,
                         "values": t.values, "metrics": t.user_attrs.get("metrics") or {},
                         "reference": t.user_attrs.get("reference")})
    return sorted(rows, key=lambda r: r["number"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", default="nafnet")
    p.add_argument("--variant")
    p.add_argument("--budget", type=int, default=50)
    p.add_argument("--fidelity", default="default")
    p.add_argument("--samplers", default="nsga2,tpe,random")
    p.add_argument("--random-seeds", default="0,1,2")
    p.add_argument("--backend", choices=("ray", "local"), default="ray")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--fake", action="store_true", help="use the fake evaluator (tests the machinery only)")
    p.add_argument("--fake-train-seconds", type=float, default=0.0)
    p.add_argument("--keep", metavar="DIR", help="keep the studies in DIR (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args()

    import numpy as np

    from roadmap.search.hypervolume import Anchor, hypervolume, pareto_mask, relative_loss

    samplers = [s for s in args.samplers.split(",") if s]
    seeds = [int(s) for s in args.random_seeds.split(",") if s]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="roadmap-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    runs = []
    for sampler in samplers:
        for seed in seeds:
            print(f"running {sampler} seed {seed} ...", file=sys.stderr, flush=True)
            summary = run_one(args, sampler, seed, root)
            summary["rows"] = trial_rows(summary["study_dir"])
            runs.append(summary)
    # one anchor for every run: the median seed metrics
    seeds_m = [r["metrics"] for run in runs for r in run["rows"] if r["reference"] == "seed" and r["complete"]]
    anchor = Anchor(
        statistics.median(m["psnr"] for m in seeds_m),
        statistics.median(m["noisy_psnr"] for m in seeds_m if m.get("noisy_psnr") is not None),
        statistics.median(m["latency_ms"] for m in seeds_m),
        statistics.median(m["peak_memory_measured_bytes"] for m in seeds_m),
    )
    checkpoints = sorted({min(args.budget, c) for c in (10, 20, 30, 40, args.budget)})
    for run in runs:
        values = [r["values"] for r in run["rows"]]
        run["hv_at"] = {}
        for n in checkpoints:
            done = [v for v in values[:n] if v is not None]
            run["hv_at"][n] = hypervolume(relative_loss(done, anchor)) if done else 0.0
        done = [v for v in values if v is not None]
        run["hypervolume"] = run["hv_at"][checkpoints[-1]]
        run["front_size"] = int(pareto_mask(relative_loss(done, anchor)).sum()) if done else 0
        run.pop("rows")
    table = []
    for sampler in samplers:
        rs = [r for r in runs if r["sampler"] == sampler]
        hv = [r["hypervolume"] for r in rs]
        table.append({
            "sampler": sampler,
            "hypervolume_median": statistics.median(hv),
            "hypervolume_min": min(hv),
            "hypervolume_max": max(hv),
            "hv_at_median": {n: statistics.median(r["hv_at"][n] for r in rs) for n in checkpoints},
            "front_size_median": statistics.median(r["front_size"] for r in rs),
            "overhead_share_loop_median": statistics.median(r["timing"]["overhead_share"] for r in rs),
            "overhead_share_command_median": statistics.median(r["timing"]["overhead_share_total"] for r in rs),
            "wall_seconds_median": statistics.median(r["timing"]["total_seconds"] for r in rs),
        })
    result = {
        "seed": args.seed, "variant": args.variant, "budget": args.budget, "fidelity": args.fidelity,
        "backend": args.backend, "evaluator": "fake" if args.fake else "roadmap.evaluation",
        "random_seeds": seeds, "anchor": vars(anchor), "table": table,
        "runs": [{k: v for k, v in r.items() if k != "study_dir"} for r in runs],
        "machine": {"cpus": os.cpu_count()}, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "fake" if args.fake else args.fidelity
    path = args.out / f"search_efficiency-{tag}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, default=float))
    print(f"{args.seed}, budget {args.budget}, fidelity {args.fidelity}"
          f"{' (FAKE evaluator)' if args.fake else ''}, backend {args.backend}, seeds {seeds}")
    print(f"{'sampler':8} {'HV median':>10} {'HV range':>17} {'front':>6} {'overhead loop':>14} "
          f"{'overhead cmd':>13} {'wall s':>8}")
    for row in table:
        print(f"{row['sampler']:8} {row['hypervolume_median']:10.3f} "
              f"{row['hypervolume_min']:8.3f}-{row['hypervolume_max']:<8.3f} {row['front_size_median']:6.0f} "
              f"{row['overhead_share_loop_median']:14.1%} {row['overhead_share_command_median']:13.1%} "
              f"{row['wall_seconds_median']:8.0f}")
    print(f"HV medians at {checkpoints}: " + "; ".join(
        f"{row['sampler']} " + ", ".join(f"{row['hv_at_median'][n]:.2f}" for n in checkpoints) for row in table))
    print(f"wrote {path}")
    _ = np  # numpy is imported for the hypervolume module
    return 0


if __name__ == "__main__":
    sys.exit(main())
