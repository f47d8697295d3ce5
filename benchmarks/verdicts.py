"""How often does long training contradict the tool's PSNR verdicts?

    python benchmarks/verdicts.py [--task deblur | --task sr --scale 2] [--without-prior]

It trains nothing: it reads the calibration runs of ``benchmarks/proxy_fidelity.py`` (cached in
``benchmarks/results/proxy_runs.json``): per candidate, the top rung of the task's default
fidelity (`roadmap.evaluation.fidelity.default_preset`: ``default``, 150 + 300 + 900 iterations
from scratch; ``inherited``, 450 iterations from the trained seed) with random seeds 0 and 1,
and the ``long`` reference (2500 iterations) with random seeds 0 and 1.

Every pair of candidates is judged with the tool's own rule (`roadmap.search.results.compare_psnr`:
a difference of mean PSNRs beyond ``t sigma sqrt(1/n_a + 1/n_b)`` is better / worse, inside it a
tie) and the noise a study would have (`roadmap.search.results.noise_floor`): the fidelity's
calibrated prior (`roadmap.evaluation.fidelity.NOISE_PRIORS`) pooled with the study's replicated
candidates -- the seed, which a search always trains twice, and the candidates compared when
they ran twice. Two scenarios:

- ``replicated``: both candidates with their two runs (a study's knee and runner-up);
- ``one run``: both with random seed 0 only (most of a study's front), the seed with both.

The long reference judges each pair with the same rule and its own noise (its two seeds' spread
pooled over every candidate, no prior). Counted:

(a) contradicted: "better" / "worse" verdicts that the reference reverses beyond its own noise
    (target: at most 5 % of those verdicts);
(b) power: of the pairs whose reference means differ by more than 0.3 dB, the share called
    different (target: at least half).

The prior of ``default`` / ``denoise`` was measured on these candidates' top-rung pairs (on the
older 3-image data), so for denoising it is not independent of the runs judged here;
``--without-prior`` judges with the study's pairs alone. Prints a table and writes
``benchmarks/results/verdicts[-<task>].json``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, task_of, write_json
from benchmarks.proxy.candidates import TASK_SUBSET, load_candidates
from benchmarks.proxy.methods import REFERENCE, for_task, on_device
from benchmarks.proxy.runs import CACHE_FILE, RunCache
from benchmarks.proxy_fidelity import _get, _rung, task_suffix, top_rung_run
from roadmap.evaluation.fidelity import default_preset
from roadmap.evaluation.tasks import DEFAULT_TASK
from roadmap.search.results import Candidate, Evaluation, compare_psnr, noise_floor

CONTRADICTED_TARGET = 0.05  # at most this share of better / worse verdicts reversed by the reference
POWER_TARGET = 0.5  # at least this share of the clearly different pairs called different
POWER_GAP_DB = 0.3  # "clearly different": reference means further apart than this
SCENARIOS = ("replicated", "one run")
DIFFERENT = ("better", "worse")


def cached_runs(cache: RunCache, cands: dict[str, list], task, device: str = "cpu") -> tuple[dict, dict]:
    """(top-rung PSNRs, reference PSNRs) per candidate label: the finished runs of random seeds
    0 and 1, in that order, of the task's methods on ``device``."""
    method, top_rung = top_rung_run(default_preset(task.name))
    rungs, reference = (on_device(for_task(m, task), device) for m in (method, REFERENCE))
    top, ref = {}, {}
    for label, steps in cands.items():
        runs = [_rung(_get(cache, rungs, steps, s), top_rung) for s in (0, 1)]
        top[label] = [r for r in runs if math.isfinite(r)]
        long_runs = [(_get(cache, reference, steps, s) or {}).get("psnr") for s in (0, 1)]
        ref[label] = [float(r) for r in long_runs if r is not None and math.isfinite(r)]
    return top, ref


def _candidate(number: int, label: str, runs: list[float]) -> Candidate:
    """A study's view of a calibration candidate: its runs at rung 0, one per random seed."""
    evaluations = [Evaluation(0, seed, "ok", psnr) for seed, psnr in enumerate(runs)]
    return Candidate(number, "COMPLETE", "seed" if label == "seed" else None, evaluations=evaluations)


def judge_pairs(top: dict[str, list[float]], ref: dict[str, list[float]], prior, scenario: str) -> dict:
    """Every pair of the candidates with a top-rung run and both reference runs, judged as a
    study would (see the module docstring) and checked against the reference: the counts and
    shares of (a) and (b)."""
    labels = [label for label in top if top[label] and len(ref.get(label, ())) == 2]
    one_run = scenario == "one run"
    study = {
        label: _candidate(i, label, top[label][:1] if one_run and label != "seed" else top[label])
        for i, label in enumerate(labels)
    }
    reference = {label: _candidate(i, label, ref[label]) for i, label in enumerate(labels)}
    ref_noise = noise_floor(list(reference.values()), 0)
    counts = dict.fromkeys(
        (
            "pairs",
            "better",
            "worse",
            "tie",
            "unknown",
            "contradicted",
            "wide",
            "wide_called_different",
            "wide_called_right",
        ),
        0,
    )
    dofs, sigmas = set(), []
    for a, b in itertools.combinations(labels, 2):
        # the study's replicated candidates: the seed and the two compared, where they ran twice
        noise = noise_floor([study[label] for label in dict.fromkeys((a, b, "seed")) if label in study], 0, prior)
        called = compare_psnr(study[a], study[b], 0, noise)
        truth = compare_psnr(reference[a], reference[b], 0, ref_noise)
        counts["pairs"] += 1
        counts[called.verdict] += 1
        counts["contradicted"] += (
            called.verdict in DIFFERENT and truth.verdict in DIFFERENT and called.verdict != truth.verdict
        )
        if abs(truth.delta) > POWER_GAP_DB:
            counts["wide"] += 1
            counts["wide_called_different"] += called.verdict in DIFFERENT
            counts["wide_called_right"] += called.verdict == ("better" if truth.delta > 0 else "worse")
        dofs.add(noise.dof)
        sigmas += [noise.sigma] if noise.sigma is not None else []
    return _shares(counts, dofs, sigmas, ref_noise, len(labels))


def _shares(counts: dict, dofs: set, sigmas: list, ref_noise, candidates: int) -> dict:
    """The counts with the two shares the targets are about (None without a denominator)."""
    called = counts["better"] + counts["worse"]
    contradicted = counts["contradicted"] / called if called else None
    power = counts["wide_called_different"] / counts["wide"] if counts["wide"] else None
    return {
        **counts,
        "candidates": candidates,
        "called_different": called,
        "contradicted_share": contradicted,
        "power": power,
        "meets_targets": contradicted is not None
        and power is not None
        and contradicted <= CONTRADICTED_TARGET
        and power >= POWER_TARGET,
        "study_noise_dof": sorted(dofs),
        "study_sigma_db": [min(sigmas), max(sigmas)] if sigmas else None,
        "reference_noise": ref_noise.to_dict(),
    }


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f} %)" if whole else f"{part}/0 (-)"


def table_rows(results: dict[str, dict]) -> list[list]:
    """One row of :func:`table` per scenario."""
    rows = []
    for scenario, r in results.items():
        sigma = (
            "-"
            if r["study_sigma_db"] is None
            else f"{r['study_sigma_db'][0]:.3f}-{r['study_sigma_db'][1]:.3f} "
            f"({'/'.join(map(str, r['study_noise_dof']))})"
        )
        rows.append(
            [
                scenario,
                r["pairs"],
                f"{r['better'] + r['worse']} / {r['tie']} / {r['unknown']}",
                _share(r["contradicted"], r["called_different"]),
                _share(r["wide_called_different"], r["wide"]),
                _share(r["wide_called_right"], r["wide"]),
                sigma,
                "yes" if r["meets_targets"] else "no",
            ]
        )
    return rows


HEADER = [
    "scenario",
    "pairs",
    "different / tie / ?",
    "contradicted (<= 5 %)",
    f"> {POWER_GAP_DB} dB called different (>= 50 %)",
    "... in the right direction",
    "sigma dB (dof)",
    "targets met",
]


def _task_flags(task) -> str:
    return f"--task {task.name}" + (f" --scale {task.scale}" if task.name == "sr" else "")


def main(argv: list[str] | None = None) -> int:
    from roadmap.cli.common import add_task_arguments
    from roadmap.evaluation.fidelity import PRESETS, noise_prior

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=CACHE_FILE, help="the proxy benchmark's run cache")
    p.add_argument("--without-prior", action="store_true", help="judge with the study's pairs alone")
    p.add_argument("--device", default="cpu", help="the runs of this device (benchmarks/device_ranking.py)")
    add_task_arguments(p)
    args = p.parse_args(argv)
    task = task_of(args)
    cands = load_candidates()
    if task != DEFAULT_TASK:
        cands = {c: cands[c] for c in TASK_SUBSET}
    top, ref = cached_runs(RunCache(args.cache), cands, task, args.device)
    if sum(1 for label in cands if top[label] and len(ref[label]) == 2) < 2:
        run = (
            f"benchmarks/proxy_fidelity.py {_task_flags(task)}"
            if args.device == "cpu"
            else f"benchmarks/device_ranking.py --device {args.device} --seeds 0 1 --reference"
        )
        print(f"no calibration runs cached: run {run} first ({args.cache})", file=sys.stderr)
        return 1
    prior = None if args.without_prior else noise_prior(PRESETS[default_preset(task.name)], task.name)
    results = {scenario: judge_pairs(top, ref, prior, scenario) for scenario in SCENARIOS}
    ref_noise = results["replicated"]["reference_noise"]
    print(
        f"task: {task.describe()}; {results['replicated']['candidates']} candidates; prior: "
        f"{prior.label() if prior else 'none'}; the reference's own noise: sigma {ref_noise['sigma_db']:.3f} dB "
        f"over {ref_noise['dof']} dof (its two random seeds)"
    )
    print(table(table_rows(results), HEADER))
    if all(r["unknown"] == r["pairs"] for r in results.values()):
        print(
            "no verdict at all: no degree of freedom (no prior for this task, and the seed's top rung ran with one "
            "random seed)"
        )
    path = write_json(
        f"verdicts{task_suffix(task)}{'' if args.device == 'cpu' else '-' + args.device}"
        f"{'-without-prior' if args.without_prior else ''}.json",
        {
            "task": task.to_dict(),
            "device": args.device,
            "prior": None if prior is None else asdict(prior),
            "targets": {
                "contradicted_at_most": CONTRADICTED_TARGET,
                "power_at_least": POWER_TARGET,
                "gap_db": POWER_GAP_DB,
            },
            "scenarios": results,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
