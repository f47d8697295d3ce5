"""Which sampler should ``roadmap search`` use? Hypervolume after N candidates for NSGA-II,
TPE, Optuna's GPSampler and random search, on a cheap stand-in objective, over many seeds.

    python benchmarks/search_efficiency.py [--seeds 10] [--budget 50] [--samplers nsga2,tpe,gp,random]

Real trainings are far too expensive for dozens of searches, so each candidate is scored by
(see ``benchmarks/proxy/standin.py``):

* PSNR: a ridge regression from a few structural features, refitted at every run on the
  reference PSNR of the calibration candidates of ``benchmarks/proxy_fidelity.py`` (long
  training, mean of the random seeds cached so far); its leave-one-out Kendall tau and
  Spearman rho against the reference are printed first;
* latency: stood in by the MACs (deterministic; no timing);
* memory: the predicted peak activation memory of ``roadmap.analysis.analyze``.

Each search mimics ``roadmap search`` without training: an in-memory Optuna study (maximise
PSNR, minimise MACs and memory) on ``search_spaces/nafnet.yaml`` with the NAFNet-w16 seed,
the three reference points (seed, MOFA, UNet--) enqueued first, candidates drawn by
``roadmap.search.sampling.suggest``, duplicates of an earlier architecture told PRUNED and
not counted, until ``--budget`` candidates are counted. Every run's hypervolume uses ONE
reference point: PSNR 3 dB below the seed's stand-in, MACs and memory twice the seed's; the
objectives are the PSNR loss in dB and MACs / memory relative to the seed's, and the volume
is divided by the seed's own (1.0 = the seed alone). Each sampler is compared with random
search by a one-sided Mann-Whitney U test on the final hypervolume (alpha 0.10, as Optuna's
sampler benchmarks do).

``--tell-duplicates`` (a what-if, not what the search does) tells a duplicate the values of
the candidate it repeats: a sampler that never sees a PRUNED point scored (GPSampler) may
propose it again and again.

Prints the stand-in's fit, a table per sampler and the winner; writes
``benchmarks/results/search_efficiency.json``. Static analyses are cached per architecture
in ``benchmarks/results/analysis_cache.json``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json
from benchmarks.proxy import standin as si

ALPHA = 0.10
PSNR_MARGIN_DB = 3.0  # reference point: this far below the seed's stand-in PSNR ...
COST_FACTOR = 2.0  # ... and this many times the seed's MACs and memory
POPULATION = 10  # `roadmap search`'s --population-size default (NSGA-II; TPE / GP start-up trials)
MAX_REJECTIONS_IN_A_ROW = 100  # as roadmap.search.candidates: the space is exhausted
SAMPLERS = ("nsga2", "tpe", "gp", "random")


# --------------------------------------------------------------------------- one search


def make_sampler(name: str, seed: int):
    """The samplers of ``roadmap search --sampler`` (its own factory), plus ``gp`` here if
    the factory does not know it yet."""
    import optuna

    from roadmap.errors import RoadmapError
    from roadmap.search.samplers import make_sampler as roadmap_sampler

    try:
        return roadmap_sampler(name, seed, POPULATION)
    except RoadmapError:
        if name != "gp":
            raise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=POPULATION)


def reference_steps(seed_spec) -> dict[str, list[dict]]:
    """Steps of the reference points, as ``roadmap.search.engine`` takes them."""
    from roadmap.roadmaps import get_roadmap

    refs: dict[str, list[dict]] = {"seed": []}
    for name in ("mofa", "unet--"):
        refs[name] = [
            {"transform": s["transform"], "params": dict(s.get("params") or {})} for s in get_roadmap(name, seed_spec)
        ]
    return refs


def enqueue_references(study, space, refs: dict[str, list[dict]]) -> None:
    """Queue seed, MOFA and UNet-- first (``CandidateFactory.enqueue_references``)."""
    from roadmap.search.sampling import params_for_steps

    for name, steps in refs.items():
        params = params_for_steps(space, steps)
        if params is None:  # not a point of the space: every optional step off
            params = {s.name: False for s in space.steps if s.optional}
        study.enqueue_trial(params, user_attrs={"reference": name}, skip_if_exists=False)


class Search:
    """One in-memory search: the candidate loop of ``roadmap search`` with the stand-in as
    evaluator. ``values`` holds the counted candidates in order (``None`` for a failure)."""

    def __init__(self, sampler: str, seed: int, ctx: dict, tell_duplicates: bool = False):
        import optuna

        self.ctx, self.tell_duplicates = ctx, tell_duplicates
        self.study = optuna.create_study(
            directions=["maximize", "minimize", "minimize"], sampler=make_sampler(sampler, seed)
        )
        enqueue_references(self.study, ctx["space"], ctx["refs"])
        self.seen: dict[str, tuple] = {}  # architecture -> its values
        self.values: list[tuple | None] = []
        self.pruned = self.failed = 0
        self.eval_seconds = 0.0

    def _fail(self, trial) -> None:
        from optuna.trial import TrialState

        self.study.tell(trial, state=TrialState.FAIL)
        self.values.append(None)
        self.failed += 1

    def step(self) -> None:
        """Ask for one trial, build its candidate and tell the study what it scored."""
        from optuna.trial import TrialState

        from roadmap.errors import SpecError
        from roadmap.search.candidates import architecture_key
        from roadmap.search.sampling import suggest

        trial = self.study.ask()
        reference = trial.user_attrs.get("reference")
        try:
            steps = suggest(trial, self.ctx["space"], self.ctx["seed_spec"])
            if reference:
                steps = copy.deepcopy(self.ctx["refs"][reference])
            spec = self.ctx["apply_steps"](self.ctx["seed_spec"], steps)
        except SpecError:  # an invalid spec: a failed candidate, counted as in the search
            return self._fail(trial)
        key = architecture_key(spec)
        if key in self.seen:  # a duplicate is rejected and not counted
            if self.tell_duplicates:  # what-if: the sampler learns the earlier candidate's values
                self.study.tell(trial, self.seen[key])
            else:  # what roadmap search does: the sampler never sees the point scored
                self.study.tell(trial, state=TrialState.PRUNED)
            self.pruned += 1
            return
        t0 = time.perf_counter()
        try:
            psnr, static = self.ctx["standin"].evaluate(spec)
        except SpecError:  # the search's static check fails such a candidate (counted)
            return self._fail(trial)
        finally:
            self.eval_seconds += time.perf_counter() - t0
        self.seen[key] = (psnr, static["macs"], static["peak_memory_predicted_bytes"])
        self.study.tell(trial, self.seen[key])
        self.values.append(self.seen[key])

    def run(self, budget: int) -> None:
        """Step until ``budget`` candidates count, or stop where ``roadmap search`` would
        raise: ``MAX_REJECTIONS_IN_A_ROW`` trials in a row without a counted candidate."""
        in_a_row, counted = 0, 0
        while len(self.values) < budget:
            self.step()
            in_a_row = 0 if len(self.values) > counted else in_a_row + 1
            counted = len(self.values)
            if in_a_row >= MAX_REJECTIONS_IN_A_ROW:
                break


# --------------------------------------------------------------------------- hypervolume


def seed_point(ctx: dict) -> np.ndarray:
    """The seed's (stand-in PSNR, MACs, memory): the normalisation of every run."""
    psnr, static = ctx["standin"].evaluate(ctx["seed_spec"])
    return np.array([psnr, static["macs"], static["peak_memory_predicted_bytes"]], dtype=float)


def to_loss(values: list, seed: np.ndarray) -> np.ndarray:
    """(PSNR loss in dB vs the seed, MACs / seed's, memory / seed's) of the counted candidates."""
    rows = np.array([v for v in values if v is not None], dtype=float).reshape(-1, 3)
    return np.c_[seed[0] - rows[:, 0], rows[:, 1] / seed[1], rows[:, 2] / seed[2]]


def reference_point() -> np.ndarray:
    return np.array([PSNR_MARGIN_DB, COST_FACTOR, COST_FACTOR])


def hv_at(values: list, seed: np.ndarray, checkpoints: list[int]) -> dict[int, float]:
    """Hypervolume after the first ``n`` counted candidates, relative to the seed's own."""
    from roadmap.pareto import dominated_volume

    ref = reference_point()
    unit = dominated_volume(to_loss([tuple(seed)], seed), ref)
    out = {}
    for n in checkpoints:
        done = values[:n]
        out[n] = dominated_volume(to_loss(done, seed), ref) / unit if any(v is not None for v in done) else 0.0
    return out


# --------------------------------------------------------------------------- the runs


def context(features: tuple[str, ...] = si.FEATURES) -> dict:
    """What every search shares: space, seed spec, references, stand-in."""
    from benchmarks.proxy.candidates import seed_spec
    from roadmap.search.space import default_space_path, load_space
    from roadmap.transforms import apply_steps

    spec = seed_spec()
    return {
        "space": load_space(default_space_path("nafnet"), "nafnet"),
        "seed_spec": spec,
        "refs": reference_steps(spec),
        "apply_steps": apply_steps,
        "standin": si.StandIn(names=features),
    }


def run_all(samplers: list[str], seeds: list[int], budget: int, ctx: dict, tell_duplicates: bool = False) -> list[dict]:
    """Every (sampler, seed) search; seeds outermost so the analysis cache warms evenly."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    seed = seed_point(ctx)
    checkpoints = sorted({min(budget, c) for c in (10, 20, 30, 40, budget)})
    runs = []
    for s in seeds:
        for name in samplers:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # relative samplers warn on enqueued params
                search = Search(name, s, ctx, tell_duplicates)
                search.run(budget)
            wall = time.perf_counter() - t0
            trials = len(search.study.trials)
            runs.append(
                {
                    "sampler": name,
                    "seed": s,
                    "counted": len(search.values),
                    "failed": search.failed,
                    "pruned": search.pruned,
                    "trials": trials,
                    "wall_seconds": wall,
                    "sampler_seconds_per_trial": (wall - search.eval_seconds) / trials,
                    "hv_at": hv_at(search.values, seed, checkpoints),
                    "values": search.values,
                }
            )
            r = runs[-1]
            print(
                f"{name:6} seed {s:2}: HV {r['hv_at'][checkpoints[-1]]:.3f}, {r['counted']} counted of "
                f"{trials} trials ({search.pruned} duplicates), {wall:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            ctx["standin"].cache.save()
    return runs


# --------------------------------------------------------------------------- statistics and output


def _p_vs(final: dict[str, np.ndarray], name: str, other: str) -> float | None:
    """One-sided Mann-Whitney U p-value: ``name``'s final HVs greater than ``other``'s."""
    from scipy.stats import mannwhitneyu

    if other == name or other not in final:
        return None
    return float(mannwhitneyu(final[name], final[other], alternative="greater").pvalue)


def summarize(runs: list[dict], samplers: list[str], budget: int) -> list[dict]:
    """Per sampler: final-HV median / IQR, median HV at each checkpoint, one-sided
    Mann-Whitney U p-value against random (and against NSGA-II, today's default)."""
    final = {n: np.array([r["hv_at"][budget] for r in runs if r["sampler"] == n]) for n in samplers}
    rows = []
    for name in samplers:
        rs = [r for r in runs if r["sampler"] == name]
        hv = final[name]
        rows.append(
            {
                "sampler": name,
                "runs": len(rs),
                "hv_median": float(np.median(hv)),
                "hv_iqr": [float(np.percentile(hv, 25)), float(np.percentile(hv, 75))],
                "hv_at_median": {n: float(np.median([r["hv_at"][n] for r in rs])) for n in rs[0]["hv_at"]},
                "p_vs_random": _p_vs(final, name, "random"),
                "p_vs_nsga2": _p_vs(final, name, "nsga2"),
                "wall_seconds_median": float(np.median([r["wall_seconds"] for r in rs])),
                "sampler_seconds_per_trial_median": float(np.median([r["sampler_seconds_per_trial"] for r in rs])),
                "duplicates_median": float(np.median([r["pruned"] for r in rs])),
                # searches that stopped early: MAX_REJECTIONS_IN_A_ROW duplicates in a row (the
                # real search raises there) -- their HV is that of the candidates counted so far
                "stalled": sum(r["counted"] < budget for r in rs),
            }
        )
    return rows


def best_known(runs: list[dict], seed: np.ndarray) -> float:
    """HV of every counted candidate of every run together: how close to the front any run got."""
    values = [v for r in runs for v in r["values"]]
    return hv_at(values, seed, [len(values)])[len(values)]


def winner(rows: list[dict]) -> str:
    """The sampler with the best median final HV among those that beat random at ALPHA."""
    better = [r for r in rows if r["p_vs_random"] is not None and r["p_vs_random"] < ALPHA]
    if not better:
        return f"no sampler beats random search at alpha {ALPHA:.2f}"
    best = max(better, key=lambda r: r["hv_median"])
    vs = "" if best["p_vs_nsga2"] is None else f"; vs nsga2 p = {best['p_vs_nsga2']:.3f}"
    return (
        f"winner: {best['sampler']} (median HV {best['hv_median']:.3f}, vs random p = "
        f"{best['p_vs_random']:.3f}{vs}); beat random at alpha {ALPHA:.2f}: " + ", ".join(r["sampler"] for r in better)
    )


def standin_report(standin: si.StandIn) -> dict:
    """Leave-one-out fit of the PSNR stand-in against the reference, printed and returned."""
    from scipy.stats import kendalltau, spearmanr

    loo = standin.loo()
    ref = standin.reference
    tau, rho = float(kendalltau(loo, ref)[0]), float(spearmanr(loo, ref)[0])
    rmse = float(np.sqrt(np.mean((loo - ref) ** 2)))
    both = int((standin.seed_counts == len(si.REFERENCE_SEEDS)).sum())
    print(
        f"PSNR stand-in: ridge (alpha {si.RIDGE:g}) on {', '.join(standin.names)}; fitted on "
        f"{len(ref)} calibration candidates ({both} with both reference seeds)"
    )
    print(
        "coefficients (dB per feature s.d.): "
        + ", ".join(f"{n} {c:+.2f}" for n, c in zip(standin.names, standin.model.coef, strict=False))
    )
    print(
        table(
            [
                [lab, f"{r:.2f}", f"{p:.2f}", int(n)]
                for lab, r, p, n in zip(standin.labels, ref, loo, standin.seed_counts, strict=False)
            ],
            ["candidate", "reference dB", "LOO stand-in dB", "seeds"],
        )
    )
    print(f"leave-one-out vs reference: Kendall tau {tau:.3f}, Spearman rho {rho:.3f}, RMSE {rmse:.2f} dB")
    print("latency is stood in by MACs; memory by analyze()'s predicted peak activation memory")
    return {
        "features": list(standin.names),
        "ridge_alpha": si.RIDGE,
        "n": len(ref),
        "both_seeds": both,
        "coefficients": dict(zip(standin.names, map(float, standin.model.coef), strict=False)),
        "intercept": standin.model.intercept,
        "kendall_tau_loo": tau,
        "spearman_rho_loo": rho,
        "rmse_loo_db": rmse,
        "candidates": [
            {"label": lab, "reference": float(r), "loo": float(p), "seeds": int(n)}
            for lab, r, p, n in zip(standin.labels, ref, loo, standin.seed_counts, strict=False)
        ],
    }


def print_table(rows: list[dict], budget: int) -> None:
    cps = list(rows[0]["hv_at_median"])
    fmt_p = lambda p: "-" if p is None else f"{p:.3f}"  # noqa: E731
    print(
        table(
            [
                [
                    r["sampler"],
                    r["runs"],
                    f"{r['hv_median']:.3f}",
                    f"{r['hv_iqr'][0]:.3f}-{r['hv_iqr'][1]:.3f}",
                    " / ".join(f"{r['hv_at_median'][n]:.2f}" for n in cps),
                    fmt_p(r["p_vs_random"]),
                    fmt_p(r["p_vs_nsga2"]),
                    f"{r['wall_seconds_median']:.1f}",
                    f"{r['sampler_seconds_per_trial_median']:.3f}",
                    f"{r['duplicates_median']:.0f}",
                    r["stalled"],
                ]
                for r in rows
            ],
            [
                "sampler",
                "runs",
                f"HV@{budget} median",
                "IQR",
                "median HV @ " + "/".join(map(str, cps)),
                "p vs random",
                "p vs nsga2",
                "wall s/search",
                "sampler s/trial",
                "duplicates",
                "stalled",
            ],
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="random seeds per sampler (0 .. N-1)")
    p.add_argument("--budget", type=int, default=50, help="counted candidates per search")
    p.add_argument("--samplers", default=",".join(SAMPLERS))
    p.add_argument(
        "--tell-duplicates",
        action="store_true",
        help="what-if: tell a duplicate its earlier values instead of PRUNED (still not counted); "
        "writes search_efficiency-tell-duplicates.json",
    )
    p.add_argument(
        "--features",
        default=",".join(si.FEATURES),
        help="features of the PSNR stand-in (a robustness check; see benchmarks/proxy/standin.py)",
    )
    p.add_argument("--out", help="JSON file name under benchmarks/results (default search_efficiency.json)")
    args = p.parse_args(argv)
    samplers = [s for s in args.samplers.split(",") if s]
    if unknown := set(samplers) - set(SAMPLERS):
        p.error(f"--samplers: unknown {', '.join(sorted(unknown))} (choose from {', '.join(SAMPLERS)})")
    import torch

    torch.set_num_threads(1)  # GPSampler and analyze() use torch; the machine is shared
    t0 = time.perf_counter()
    ctx = context(tuple(f for f in args.features.split(",") if f))
    fit = standin_report(ctx["standin"])
    runs = run_all(samplers, list(range(args.seeds)), args.budget, ctx, args.tell_duplicates)
    rows = summarize(runs, samplers, args.budget)
    best = best_known(runs, seed_point(ctx))
    for r in runs:
        r.pop("values")  # thousands of rows; the HVs are what the JSON is for
    print(
        f"\nNAFNet-w16, search_spaces/nafnet.yaml, budget {args.budget} counted candidates, "
        f"{args.seeds} seeds; HV relative to the seed alone, reference point PSNR -{PSNR_MARGIN_DB:g} dB, "
        f"MACs and memory x{COST_FACTOR:g}; p: one-sided Mann-Whitney U (row better); duplicates "
        + ("told their earlier values (what-if)" if args.tell_duplicates else "PRUNED (as roadmap search)")
    )
    print_table(rows, args.budget)
    print(f"best known HV (all {len(runs)} searches' candidates together): {best:.3f}")
    verdict = winner(rows)
    print(verdict)
    total = time.perf_counter() - t0
    name = args.out or ("search_efficiency-tell-duplicates.json" if args.tell_duplicates else "search_efficiency.json")
    path = write_json(
        name,
        {
            "standin": fit,
            "seed_point": seed_point(ctx).tolist(),
            "reference_point": {
                "psnr_loss_db": PSNR_MARGIN_DB,
                "macs_factor": COST_FACTOR,
                "memory_factor": COST_FACTOR,
            },
            "budget": args.budget,
            "seeds": args.seeds,
            "population": POPULATION,
            "alpha": ALPHA,
            "duplicates": "told earlier values" if args.tell_duplicates else "pruned",
            "table": rows,
            "best_known_hv": best,
            "verdict": verdict,
            "runs": runs,
            "total_seconds": total,
            "machine": {"cpus": os.cpu_count()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    print(f"{total:.0f} s in all; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
