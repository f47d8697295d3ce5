"""Quality floor per task: does the seed, trained at the `default` fidelity, restore each task?

    python benchmarks/task_quality.py [--jobs 2] [--seed nafnet] [--only-table]

For each task (denoise at sigma 25, deblur with its default blur, sr x2, jpeg at quality 20) the
seed is built for the task (`for_task`: an up-sampling head for sr) and trained exactly as a
search's top rung trains (the `default` fidelity: 150 + 300 + 900 iterations, random seed 0) on
the embedded training photographs. The table compares the PSNR of its output on the **test**
images with the degraded input's (noisy, blurred, bicubic, JPEG), against the floor the task issue
set: +5 dB (denoise), +1.5 dB (deblur), +1.0 dB (sr x2 over bicubic), +0.5 dB (jpeg q20).

Runs are cached in ``benchmarks/results/task_quality_runs.json`` as each ends (a killed run
resumes); the table goes to stdout and ``benchmarks/results/task_quality.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json
from benchmarks.proxy.runs import RESULTS, RunCache, run_all

# (task options, the floor in dB the seed must gain over the degraded test input)
# (the deblur key names its blur: the cache key is these options, and the default blur changed)
TASKS = [
    ({"name": "denoise", "sigma": 25}, 5.0),
    ({"name": "deblur", "blur": "gaussian"}, 1.5),
    ({"name": "sr", "scale": 2}, 1.0),
    ({"name": "jpeg", "quality": 20}, 0.5),
]
FIDELITY = "default"


def method(seed: str, options: dict) -> dict:
    """The cache key of one run: the seed, the task and the fidelity."""
    return {
        "name": f"task-quality {options['name']}",
        "kind": "task_quality",
        "seed": seed,
        "task": options,
        "fidelity": FIDELITY,
    }


def run_quality(m: dict, steps: list, random_seed: int) -> dict:
    """Train the seed for the task at the fidelity; the validation and test scores."""
    import roadmap
    from roadmap.evaluation import evaluate_spec
    from roadmap.evaluation.tasks import for_task, task_from_options

    options = dict(m["task"])
    task = task_from_options(options.pop("name"), **options)
    spec = for_task(roadmap.get_seed(m["seed"]), task)
    out = evaluate_spec(spec, m["fidelity"], None, random_seed=random_seed, measure=False, task=task)
    keys = ("psnr", "input_psnr", "test_psnr", "test_input_psnr", "psnr_rgb", "status", "reason", "train_seconds")
    return {k: out.get(k) for k in keys} | {"task_description": task.describe()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="trainings in parallel (1 thread each)")
    p.add_argument("--seed", default="nafnet", help="the seed network (default nafnet, its default variant)")
    p.add_argument("--only-table", action="store_true", help="print from the cache, train nothing")
    args = p.parse_args(argv)
    cache = RunCache(RESULTS / "task_quality_runs.json")
    plan = [(options["name"], method(args.seed, options), [], 0) for options, _ in TASKS]
    if not args.only_table:
        run_all(plan, cache, args.jobs)
    rows, report = [], []
    for (options, floor), (_, m, steps, seed) in zip(TASKS, plan, strict=False):
        r = cache.get(m, steps, seed)
        if not r or r.get("status") != "ok":
            rows.append([options["name"], "not run" if not r else r.get("reason", r.get("status")), "", "", "", "", ""])
            continue
        gain = r["test_psnr"] - r["test_input_psnr"]
        report.append({**r, "task": options, "floor_db": floor, "test_gain_db": gain, "meets_floor": gain >= floor})
        rows.append(
            [
                r["task_description"],
                f"{r['psnr']:.2f} ({r['input_psnr']:.2f})",
                f"{r['test_psnr']:.2f}",
                f"{r['test_input_psnr']:.2f}",
                f"{gain:+.2f}",
                f"+{floor:g}",
                "yes" if gain >= floor else "NO",
            ]
        )
    print(
        f"seed {args.seed}, fidelity {FIDELITY} (the search's top rung), random seed 0; PSNR in dB "
        f"(sr: Y channel, borders shaved)"
    )
    print(table(rows, ["task", "val PSNR (input)", "test PSNR", "test input", "test gain", "floor", "met"]))
    print(f"\nwrote {write_json('task_quality.json', {'seed': args.seed, 'fidelity': FIDELITY, 'tasks': report})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
