"""How well do cheap proxies rank architectures like long training does?

    python benchmarks/proxy_fidelity.py [--jobs 2] [--only-table] [--draw] [--task deblur | --task sr --scale 2]

Candidates (``benchmarks/proxy_candidates.yaml``, written by ``--draw``): NAFNet-w16, its MOFA
and UNet-- roadmaps, 17 random draws from ``search_spaces/nafnet.yaml`` and two drastic edits.
Reference: the ``long`` fidelity (2500 iterations) with random seeds 0 and 1, their mean per
candidate. Each proxy is scored with Kendall tau and Spearman rho against the reference mean
(90 % bootstrap intervals over candidates), the pair accuracy on pairs whose reference
difference exceeds twice the reference's own seed-to-seed spread, whether the reference's best
candidate is in the proxy's top 3, the seed's rank, and the CPU seconds per candidate.

``--task`` calibrates another restoration task (`roadmap.evaluation.tasks`) on 12 of the
candidates (``TASK_SUBSET``: the references, seven draws, the drastic edits), built for that task
(an up-sampling head for ``sr``), with the reference, the rungs (two random seeds: the top rung's
own noise) and the inherited screen; the
seed's top-rung run also gives the task's quality floor (test PSNR against the degraded input).

Every training runs in a worker process with one thread and is cached in
``benchmarks/results/proxy_runs.json`` as soon as it ends, so a killed run resumes. The table
goes to stdout and ``benchmarks/results/proxy_fidelity[-<task>].json``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, task_of, write_json
from benchmarks.proxy import halving, stats
from benchmarks.proxy.candidates import TASK_SUBSET, load_candidates, use_task, write_candidates
from benchmarks.proxy.methods import REFERENCE, for_task
from benchmarks.proxy.runs import RunCache, run_all
from roadmap.evaluation.fidelity import default_preset
from roadmap.evaluation.tasks import DEFAULT_TASK

# The training settings of every proxy below: the `default` preset's batch, crop, learning rate
# and validation set (written out, so the cache stays valid if the presets change).
BASE = {"name": "proxy", "batch": 8, "crop": 48, "lr": 2e-3, "val_crop": 128, "val_count": 8}
RUNGS = {"name": "rungs 150/450/1350", "kind": "rungs", "base": BASE, "rungs": [150, 450, 1350]}
OLD_DEFAULT = {"name": "default 180", "kind": "train", "fidelity": {**BASE, "name": "default-180", "iterations": 180}}
INHERIT = {
    "name": "inherit 1350 + 150/450",
    "kind": "rungs",
    "base": BASE,
    "rungs": [150, 450],
    "init": "seed",
    "seed_iterations": 1350,
}
# The `inherited` fidelity's top rung: 450 iterations in one cosine cycle from the trained seed.
INHERIT_ONE = {
    "name": "inherit 1350 + 450 one cycle",
    "kind": "rungs",
    "base": BASE,
    "rungs": [450],
    "init": "seed",
    "seed_iterations": 1350,
}
# The proxy row that stands for each preset's top rung, where a search declares its front.
PRESET_PROXY = {
    "default": "rung 2: 1350 it",
    "inherited": "inherit (seed 1350 it) + 450 it, one cycle",
    "replicated": "rung 2, mean of 2 seeds",
}
SCREEN = halving.SCREEN
SCHEMES = [
    halving.Scheme((SCREEN, 2), 4, True),
    halving.Scheme((SCREEN, 2), 3, True),
    halving.Scheme((SCREEN, 2), 4, False),
    halving.Scheme((0, 1, 2), 3, True),
    halving.Scheme((0, 1, 2), 3, False),
    halving.Scheme((0, 2), 2, True),
]
DEFAULT_SCHEME = SCHEMES[0]  # the `default` fidelity: screen 150 inherited, 1/4 promoted to 1350 from scratch


def top_rung_run(preset: str) -> tuple[dict, int]:
    """(the method, the rung index) of the cached runs that are one run of ``preset``'s top rung
    (this run's task's methods, once `main` has set them)."""
    return {"default": (RUNGS, 2), "inherited": (INHERIT_ONE, 0), "replicated": (RUNGS, 2)}[preset]


def _get(cache: RunCache, method: dict, steps: list, seed: int) -> dict | None:
    record = cache.get(method, steps, seed)
    return record if record and record.get("status") == "ok" else None


def _rung(record: dict | None, k: int, key: str = "psnr") -> float:
    rungs = (record or {}).get("rungs") or []
    return rungs[k][key] if len(rungs) > k else math.nan


def _rung_cost(record: dict | None, k: int) -> float:
    rungs = (record or {}).get("rungs") or []
    return sum(r["cpu_seconds"] for r in rungs[: k + 1]) if len(rungs) > k else math.nan


def proxies(cache: RunCache, cands: dict[str, list]) -> dict[str, tuple[np.ndarray, float]]:
    """proxy name -> (score per candidate, mean CPU seconds per candidate)."""
    labels = list(cands)
    rec = {
        name: [_get(cache, m, cands[c], s) for c in labels]
        for name, m, s in (
            ("r0", RUNGS, 0),
            ("r1", RUNGS, 1),
            ("old", OLD_DEFAULT, 0),
            ("inh", INHERIT, 0),
            ("one", INHERIT_ONE, 0),
            ("one1", INHERIT_ONE, 1),
        )
    }
    out: dict[str, tuple[np.ndarray, float]] = {}
    out["old default: 180 it"] = (
        np.array([(r or {}).get("psnr", math.nan) for r in rec["old"]]),
        np.nanmean([(r or {}).get("cpu_seconds", math.nan) for r in rec["old"]]),
    )
    by_rung = np.array([[_rung(r, k) for k in range(3)] for r in rec["r0"]])
    cost = np.array([[_rung_cost(r, k) for k in range(3)] for r in rec["r0"]])
    for k, its in enumerate((150, 450, 1350)):
        out[f"rung {k}: {its} it"] = (by_rung[:, k], float(np.nanmean(cost[:, k])))
    both = np.array([[_rung(r, 2) for r in rec["r0"]], [_rung(r, 2) for r in rec["r1"]]])
    out["rung 2, mean of 2 seeds"] = (both.mean(axis=0), 2 * float(np.nanmean(cost[:, 2])))
    out["train loss, rung 1 (mean)"] = (
        np.array([-_rung(r, 1, "mean_loss") for r in rec["r0"]]),
        float(np.nanmean(cost[:, 1])),
    )
    for k, its in enumerate((150, 450)):
        out[f"inherit (seed 1350 it) + {its} it"] = (
            np.array([_rung(r, k) for r in rec["inh"]]),
            float(np.nanmean([_rung_cost(r, k) for r in rec["inh"]])),
        )
    one = (np.array([_rung(r, 0) for r in rec["one"]]), float(np.nanmean([_rung_cost(r, 0) for r in rec["one"]])))
    out[PRESET_PROXY["inherited"]] = one
    both = np.array([one[0], [_rung(r, 0) for r in rec["one1"]]])
    out["inherit + 450 it one cycle, mean of 2 seeds"] = (both.mean(axis=0), 2 * one[1])
    return out


def main(argv: list[str] | None = None) -> int:
    from roadmap.cli.common import add_task_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="trainings in parallel (1 thread each)")
    p.add_argument("--only-table", action="store_true", help="print from the cache, train nothing")
    p.add_argument("--draw", action="store_true", help="re-draw the candidate file, then stop")
    add_task_arguments(p)
    args = p.parse_args(argv)
    if args.draw:
        print(f"wrote {write_candidates()}")
        return 0
    task = task_of(args)
    use_task(task)
    global REFERENCE, RUNGS, OLD_DEFAULT, INHERIT, INHERIT_ONE  # the methods of this run are the task's
    REFERENCE, RUNGS, OLD_DEFAULT, INHERIT, INHERIT_ONE = (
        for_task(m, task) for m in (REFERENCE, RUNGS, OLD_DEFAULT, INHERIT, INHERIT_ONE)
    )
    preset = default_preset(task.name)
    cands, cache = load_candidates(), RunCache()
    if task != DEFAULT_TASK:
        cands = {c: cands[c] for c in TASK_SUBSET}
    print(f"task: {task.describe()}, {len(cands)} candidates")
    if not args.only_table:
        # Rungs with a second random seed last: the top rung's own noise (the task's noise prior)
        # and the verdict benchmark (benchmarks/verdicts.py) need them, the rankings do not.
        plan = [
            (REFERENCE, (0, 1)),
            (RUNGS, (0,)),
            (INHERIT, (0,)),
            (INHERIT_ONE, (0,)),
            (RUNGS, (1,)),
            (INHERIT_ONE, (1,)),
        ]
        if task == DEFAULT_TASK:  # the full comparison of proxies, README "How far the PSNR axis can be trusted"
            plan.insert(3, (OLD_DEFAULT, (0,)))
        run_all([(c, m, cands[c], s) for m, seeds in plan for s in seeds for c in cands], cache, args.jobs)
    labels = list(cands)
    ref_runs = np.array(
        [[(_get(cache, REFERENCE, cands[c], s) or {}).get("psnr", math.nan) for c in labels] for s in (0, 1)]
    )
    ok = ~np.isnan(ref_runs).any(axis=0)
    reference = ref_runs.mean(axis=0)
    spread = stats.seed_spread(ref_runs[0, ok], ref_runs[1, ok])
    min_gap = 2 * spread["mean_abs_diff_db"]
    rows, report = [], {}
    for name, (score, cpu) in proxies(cache, cands).items():
        use = ok & ~np.isnan(score)
        if use.sum() < 5:
            continue
        s = stats.summarise(
            score[use], reference[use], min_gap, int(np.flatnonzero(np.array(labels)[use] == "seed")[0])
        )
        report[name] = {**s, "cpu_seconds_per_candidate": cpu, "candidates": int(use.sum())}
        mark = f" ({preset})" if name == PRESET_PROXY[preset] else ""
        rows.append(
            [
                name + mark,
                f"{s['kendall_tau']:.2f} [{s['kendall_tau_90ci'][0]:.2f}, {s['kendall_tau_90ci'][1]:.2f}]",
                f"{s['spearman_rho']:.2f} [{s['spearman_rho_90ci'][0]:.2f}, {s['spearman_rho_90ci'][1]:.2f}]",
                f"{s['pair_accuracy']:.2f} ({s['pairs']})",
                "yes" if s["best_in_top3"] else "no",
                f"{s['seed_rank']} (ref {s['seed_rank_reference']})",
                f"{cpu:.0f}",
                int(use.sum()),
            ]
        )
    print(
        f"reference: long (2500 it), random seeds 0 and 1, {int(ok.sum())} candidates, PSNR "
        f"{np.nanmin(reference):.2f}-{np.nanmax(reference):.2f} dB "
        f"(span {np.nanmax(reference) - np.nanmin(reference):.2f})"
    )
    print(
        f"reference seed-to-seed: mean |diff| {spread['mean_abs_diff_db']:.3f} dB, single-run sigma "
        f"{spread['sigma_db']:.3f} dB, tau(seed 0, seed 1) {spread['kendall_tau']:.2f}; pairs count when "
        f"the reference difference exceeds {min_gap:.3f} dB\n"
    )
    print(
        table(
            rows,
            [
                "proxy",
                "Kendall tau [90% CI]",
                "Spearman rho [90% CI]",
                "pair acc. (pairs)",
                "best in top 3",
                "seed rank",
                "CPU s/cand.",
                "n",
            ],
        )
    )
    top_noise = _top_rung_noise(cache, cands, preset)
    if top_noise:
        print(
            f"\ntop rung of `{preset}` seed-to-seed, the noise a search's tie bands measure: mean |diff| "
            f"{top_noise['mean_abs_diff_db']:.3f} dB, single-run sigma {top_noise['sigma_db']:.3f} dB, "
            f"tau(seed 0, seed 1) {top_noise['kendall_tau']:.2f}"
        )
    schemes = halving_table(cache, cands, reference, min_gap)
    floor = quality_floor(cache, cands, preset)
    path = write_json(
        f"proxy_fidelity{task_suffix(task)}.json",
        {
            "task": task.to_dict(),
            "quality_floor": floor,
            "reference": {
                "method": REFERENCE,
                "seed_spread": spread,
                "min_gap_db": min_gap,
                "psnr": dict(zip(labels, reference.tolist(), strict=False)),
                "runs": ref_runs.tolist(),
            },
            "proxies": report,
            "default_preset": preset,
            "default": PRESET_PROXY[preset],
            "top_rung_noise": top_noise,
            "schemes": schemes,
            "default_scheme": DEFAULT_SCHEME.name,
            "candidates": cands,
        },
    )
    print(f"\nwrote {path}")
    return 0


def task_suffix(task) -> str:
    """The suffix of a task's result files: none for the default task, ``-sr-x2``, ``-deblur``."""
    return "" if task == DEFAULT_TASK else f"-{task.name}" + (f"-x{task.scale}" if task.name == "sr" else "")


def quality_floor(cache: RunCache, cands: dict[str, list], preset: str) -> dict | None:
    """The seed at ``preset``'s top rung (random seed 0): validation and test PSNR against the
    degraded input's."""
    method, k = top_rung_run(preset)
    record = _get(cache, method, cands["seed"], 0)
    rung = ((record or {}).get("rungs") or [])[k : k + 1]
    if not rung or "test_psnr" not in rung[0]:
        return None
    floor = {key: rung[0][key] for key in ("psnr", "input_psnr", "test_psnr", "test_input_psnr")}
    floor["test_gain_db"] = floor["test_psnr"] - floor["test_input_psnr"]
    print(
        f"\nquality floor (the seed, top rung of `{preset}`): validation {floor['psnr']:.2f} dB (input "
        f"{floor['input_psnr']:.2f}), test {floor['test_psnr']:.2f} dB (input {floor['test_input_psnr']:.2f}): "
        f"{floor['test_gain_db']:+.2f} dB on the test split"
    )
    return floor


def _top_rung_noise(cache: RunCache, cands: dict[str, list], preset: str) -> dict | None:
    """Seed-to-seed agreement of ``preset``'s top rung (random seeds 0 and 1), when both ran."""
    method, k = top_rung_run(preset)
    runs = [[_rung(_get(cache, method, steps, s), k) for steps in cands.values()] for s in (0, 1)]
    a, b = np.array(runs)
    ok = ~(np.isnan(a) | np.isnan(b))
    return stats.seed_spread(a[ok], b[ok]) if ok.sum() >= 5 else None


def halving_table(cache: RunCache, cands: dict[str, list], reference: np.ndarray, min_gap: float) -> dict:
    """Print and return the successive-halving schemes replayed on the rung runs (seed 0)."""
    from benchmarks.proxy.candidates import build
    from roadmap.analysis import analyze

    labels = list(cands)
    runs = [_get(cache, RUNGS, cands[c], 0) for c in labels]
    screens = [_get(cache, INHERIT, cands[c], 0) for c in labels]
    if any(r is None for r in runs + screens):
        print("\n(successive halving: waiting for every rung and screen run)")
        return {}
    by_rung = np.array(
        [
            [r["rungs"][k]["psnr"] for k in range(3)] + [i["rungs"][0]["psnr"]]
            for r, i in zip(runs, screens, strict=False)
        ]
    )
    cpu = np.array(
        [
            [r["rungs"][k]["cpu_seconds"] for k in range(3)] + [i["rungs"][0]["cpu_seconds"]]
            for r, i in zip(runs, screens, strict=False)
        ]
    )
    static = [analyze(build(cands[c])) for c in labels]
    cost_axes = np.array([[a.macs, a.peak_activation_bytes] for a in static], dtype=float)
    rows, out = [], {}
    for scheme in SCHEMES:
        r = halving.evaluate(scheme, labels, by_rung, cpu, cost_axes, reference)
        s = stats.summarise(r.pop("composite_score"), reference, min_gap, labels.index("seed"))
        out[scheme.name] = {
            **r,
            "composite_kendall_tau": s["kendall_tau"],
            "composite_pair_accuracy": s["pair_accuracy"],
        }
        mark = " (default)" if scheme == DEFAULT_SCHEME else ""
        rows.append(
            [
                scheme.name + mark,
                f"{r['at_top']}/{len(labels)}",
                f"{r['cpu_seconds_per_candidate']:.0f}",
                f"{r['top5_at_top']}/5",
                r["front_at_top"],
                r["declared_on_true_front"],
                f"{s['kendall_tau']:.2f}",
                f"{s['pair_accuracy']:.2f}",
            ]
        )
    print(
        "\nsuccessive halving replayed on those runs (reference points always promoted; front = PSNR, MACs, "
        "predicted memory; CPU excludes the seed's one base run for the inherited screens):"
    )
    print(
        table(
            rows,
            [
                "scheme",
                "at top",
                "CPU s/cand.",
                "ref top 5 at top",
                "ref front at top",
                "declared front truly on it",
                "tau (rung, PSNR)",
                "pair acc.",
            ],
        )
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
