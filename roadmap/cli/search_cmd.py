"""``roadmap search``: multi-objective search over a seed's transformations.

Examples::

    roadmap search --seed nafnet --budget 50            # studies/runs/nafnet, local Ray
    roadmap search --seed nafnet --budget 60            # the same study, 10 trials more
    roadmap search --seed pmrid --sampler tpe --max-memory-mb 200 --study studies/runs/pmrid-tpe
    roadmap search --seed unet --address 127.0.0.1:6379 --concurrency 4

Options left out on a resumed study take the study's settings (settings.json); options
given must match them. Everything is validated before the study directory is touched.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

SAMPLERS = ("nsga2", "tpe", "random")
DEFAULTS: dict[str, Any] = {
    "seed": "nafnet",
    "variant": None,
    "fidelity": "default",
    "data": None,
    "sampler": "nsga2",
    "population_size": 10,
    "random_seed": 0,
    "max_latency_ms": None,
    "max_memory_mb": None,
    "min_psnr": None,
    "device": None,
}
DEFAULT_BUDGET = 50


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search",
        help="search a seed's transformations for the PSNR / latency / memory Pareto front",
        description=(
            "Multi-objective search (PSNR up, latency and peak memory down) over the transform "
            "steps of a seed. Trials run on Ray Tune (a local Ray by default); the study lives in "
            "--study and the same command resumes it towards --budget."
        ),
        epilog=(
            "budget = completed + failed trials; candidates rejected by a constraint before "
            "training, duplicates and interrupted trials do not count. Options left out on a "
            "resumed study take the study's settings."
        ),
    )
    g = p.add_argument_group("what to search")
    g.add_argument("--seed", help="seed architecture (default nafnet)")
    g.add_argument("--variant", help="seed variant (default: the seed's default, e.g. nafnet w16)")
    g.add_argument("--space", metavar="FILE", help="search-space YAML (default search_spaces/<seed>.yaml)")
    g.add_argument("--budget", type=int, help=f"completed + failed trials to reach (default {DEFAULT_BUDGET})")
    g.add_argument("--study", metavar="DIR", help="study directory (default studies/runs/<seed>[-<variant>])")
    g.add_argument("--fidelity", help="proxy-training preset (smoke, quick, default, long) or a JSON/YAML file")
    g.add_argument("--data", metavar="DIR", help="training/validation images (default: the built-in photos)")
    g = p.add_argument_group("sampler")
    g.add_argument("--sampler", choices=SAMPLERS, help="nsga2 (default), tpe or random")
    g.add_argument("--population-size", type=int, help="NSGA-II population / TPE start-up trials (default 10)")
    g.add_argument("--random-seed", type=int, help="seed of the sampler and of training (default 0)")
    g = p.add_argument_group("constraints")
    g.add_argument("--max-latency-ms", type=float, help="reject candidates slower than this (measured before training)")
    g.add_argument("--max-memory-mb", type=float,
                   help="reject candidates whose predicted or measured peak memory is above this (before training)")
    g.add_argument("--min-psnr", type=float, help="candidates below this PSNR are marked infeasible")
    g = p.add_argument_group("execution")
    g.add_argument("--backend", choices=("ray", "local"), default="ray",
                   help="ray: Ray Tune trials (default); local: one trial at a time in this process")
    g.add_argument("--address", help="address of a running Ray cluster (default: start a local Ray)")
    g.add_argument("--concurrency", type=int, help="trials training at once (default: CPUs / --cpus-per-trial)")
    g.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial (default 1)")
    g.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, fractions allowed (default 0)")
    g.add_argument("--device", choices=("cpu", "cuda"), help="device to train and measure on (default cpu, cuda with GPUs)")
    g = p.add_argument_group("output")
    g.add_argument("--quiet", action="store_true", help="no progress line")
    g.add_argument("--json", action="store_true", help="print the final summary as JSON on stdout")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- validation


def _resolve_fidelity(value: str) -> Any:
    """A preset name stays a name; a file becomes its dict. Validated either way."""
    from roadmap.evaluation.fidelity import PRESETS, Fidelity, get_fidelity

    if value in PRESETS:
        return value
    path = Path(value)
    if path.is_file():
        import yaml

        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise RoadmapError(f"--fidelity {value}: unreadable ({exc})") from None
        if not isinstance(data, dict):
            raise RoadmapError(f"--fidelity {value}: must hold a mapping of fidelity fields")
        return Fidelity.from_dict(data).to_dict()
    get_fidelity(value)  # raises the helpful "unknown preset" error
    return value


def _positive(name: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise RoadmapError(f"--{name}: impossible constraint {value:g} (must be > 0)")


def _reference_steps(seed_spec: Any, notes: list[str]) -> dict[str, list[dict]]:
    from roadmap.roadmaps import get_roadmap
    from roadmap.transforms import apply_steps

    refs: dict[str, list[dict]] = {"seed": []}
    for name in ("mofa", "unet--"):
        try:
            steps = [{"transform": s["transform"], "params": dict(s.get("params") or {})}
                     for s in get_roadmap(name, seed_spec)]
            apply_steps(seed_spec, steps)
        except RoadmapError as exc:
            notes.append(f"reference {name} skipped: {exc}")
            continue
        refs[name] = steps
    return refs


def _sample_candidates(space: Any, seed_spec: Any, n: int, seed: int) -> list[Any]:
    import optuna

    from roadmap.search.space import suggest
    from roadmap.transforms import apply_steps

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(apply_steps(seed_spec, suggest(trial, space, seed_spec)))
        study.tell(trial, 0.0)
    return out


def _check_constraints(args: Any, space: Any, seed_spec: Any, refs: dict, evaluator: Any) -> None:
    """Refuse constraints no candidate can meet (checked on the references and 64 random
    candidates of the space, with the static analysis; latency with one measurement)."""
    _positive("max-latency-ms", args.max_latency_ms)
    _positive("max-memory-mb", args.max_memory_mb)
    if args.min_psnr is not None and (not math.isfinite(args.min_psnr) or args.min_psnr >= 100):
        raise RoadmapError(f"--min-psnr: impossible constraint {args.min_psnr:g} dB (a proxy training "
                           "reaches 20-40 dB)")
    if args.max_memory_mb is None and args.max_latency_ms is None:
        return
    from roadmap.transforms import apply_steps

    specs = [apply_steps(seed_spec, steps) for steps in refs.values()]
    specs += _sample_candidates(space, seed_spec, 64, 0)
    checks = [evaluator.check(s) for s in specs]
    if args.max_memory_mb is not None:
        mems = [c.get("peak_memory_predicted_bytes") for c in checks if c.get("peak_memory_predicted_bytes")]
        if mems and min(mems) > args.max_memory_mb * 2**20:
            raise RoadmapError(
                f"--max-memory-mb {args.max_memory_mb:g}: impossible constraint; no candidate of the space "
                f"comes close (smallest predicted peak memory {min(mems) / 2**20:.1f} MB)"
            )
    if args.max_latency_ms is not None:
        macs = [c.get("macs") for c in checks if c.get("macs")]
        seed_macs = checks[0].get("macs")
        if macs and seed_macs:
            seed_latency = evaluator.measure(seed_spec, device=args.device)["latency_ms"]
            floor = seed_latency * min(macs) / seed_macs * 0.25  # generous: 4x better than MACs say
            if args.max_latency_ms < floor:
                raise RoadmapError(
                    f"--max-latency-ms {args.max_latency_ms:g}: impossible constraint; the seed takes "
                    f"{seed_latency:.1f} ms and the cheapest candidate has {min(macs) / seed_macs:.0%} of its "
                    f"MACs (about {seed_latency * min(macs) / seed_macs:.1f} ms)"
                )


def _settings(args: Any, stored: dict | None) -> dict:
    """The study settings: given options, else the stored study's, else the defaults."""
    out = {}
    for key, default in DEFAULTS.items():
        value = getattr(args, key, None)
        if value is None:
            value = stored.get(key, default) if stored else default
        out[key] = value
    if out["device"] is None:
        out["device"] = "cuda" if args.gpus_per_trial else "cpu"
    return out


# --------------------------------------------------------------------------- the command


def run(args: Any) -> int:
    from roadmap.search import study as st
    from roadmap.search.jobs import evaluator_ref, get_evaluator
    from roadmap.search.space import default_space_path, load_space
    from roadmap.seeds import get_seed

    t_start = time.perf_counter()
    # 1. Validate everything before the study directory is touched.
    seed_name = args.seed or DEFAULTS["seed"]
    study_dir = Path(args.study) if args.study else st.default_study_dir(seed_name, args.variant)
    if study_dir.exists() and not study_dir.is_dir():
        raise RoadmapError(f"--study {study_dir}: exists and is not a directory")
    stored = st.read_settings(study_dir) if study_dir.is_dir() else None
    if stored and args.seed is None:
        seed_name = stored.get("seed", seed_name)
    args.seed = seed_name
    settings = _settings(args, stored)
    seed_spec = get_seed(settings["seed"], settings["variant"])
    settings["variant"] = str(seed_spec.provenance.get("seed", "")).partition("/")[2] or settings["variant"]
    if args.space:
        space = load_space(Path(args.space), settings["seed"])
    elif stored and stored.get("space"):
        space = load_space(stored["space"], settings["seed"])
    else:
        space = load_space(default_space_path(settings["seed"]), settings["seed"])
    settings["space"] = space.to_dict()
    settings["fidelity"] = _resolve_fidelity(settings["fidelity"]) if isinstance(settings["fidelity"], str) \
        else settings["fidelity"]
    if settings["data"] is not None:
        data = Path(settings["data"])
        if not data.is_dir():
            raise RoadmapError(f"--data {data}: no such folder")
        settings["data"] = str(data.resolve())
    if settings["sampler"] not in SAMPLERS:
        raise RoadmapError(f"--sampler: unknown sampler {settings['sampler']!r}")
    if not isinstance(settings["population_size"], int) or settings["population_size"] < 2:
        raise RoadmapError(f"--population-size: must be an integer >= 2, got {settings['population_size']!r}")
    budget = args.budget if args.budget is not None else (stored or {}).get("budget", DEFAULT_BUDGET)
    if budget < 1:
        raise RoadmapError(f"--budget: must be >= 1, got {budget}")
    if args.concurrency is not None and args.concurrency < 1:
        raise RoadmapError(f"--concurrency: must be >= 1, got {args.concurrency}")
    if args.cpus_per_trial <= 0 or args.gpus_per_trial < 0:
        raise RoadmapError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if settings["device"] == "cuda":
        import torch

        if not torch.cuda.is_available() and not args.address:
            raise RoadmapError("--device cuda: no CUDA device here")
    notes: list[str] = []
    refs = _reference_steps(seed_spec, notes)
    args.device = settings["device"]
    for key in ("max_latency_ms", "max_memory_mb", "min_psnr"):
        setattr(args, key, settings[key])
    ev_ref = evaluator_ref()
    evaluator = get_evaluator(ev_ref)
    if settings["data"] is not None and hasattr(evaluator, "load_data"):
        evaluator.load_data(settings["data"], settings["fidelity"])  # a bad folder: one-line error now
    _check_constraints(args, space, seed_spec, refs, evaluator)
    if stored is not None:
        st.check_settings(study_dir, stored, settings)
    if study_dir.is_dir() and st.is_locked(study_dir):
        raise RoadmapError(f"study {study_dir} is being searched by another process")
    used = 0
    if stored is not None and (study_dir / "study.db").is_file():
        existing = st.open_study(study_dir)
        used = st.count_trials(existing)["budget_used"]
        st.close_study(existing)
    resume_cmd = shlex.join(["roadmap", "search", "--study", str(study_dir), "--budget", str(budget)])
    if used >= budget:
        print(f"study {study_dir} already has {used} trials (budget {budget}); nothing to run. "
              f"Review it with: roadmap pareto {study_dir}")
        return 0
    fail_trials = frozenset(int(x) for x in os.environ.get("ROADMAP_SEARCH_FAIL_TRIALS", "").split(",") if x.strip())

    # 2. Start (or reach) Ray before creating anything: an unreachable cluster changes nothing.
    from contextlib import ExitStack

    with ExitStack() as stack:
        runtime = None
        concurrency = args.concurrency or 1
        if args.backend == "ray":
            from roadmap.search.ray_backend import RayRuntime

            runtime = stack.enter_context(RayRuntime(
                address=args.address,
                num_cpus=None if args.address else (os.cpu_count() or 1),
                num_gpus=None,  # Ray detects the GPUs
            ))
            if args.concurrency is None:
                res = runtime.resources()
                concurrency = max(1, int(res.get("CPU", 1) // args.cpus_per_trial))
                if args.gpus_per_trial:
                    concurrency = max(1, min(concurrency, int(res.get("GPU", 0) // args.gpus_per_trial)))
        elif args.address:
            raise RoadmapError("--address needs --backend ray")

        # 3. The study.
        new_study = stored is None
        study_dir.mkdir(parents=True, exist_ok=True)
        lock = stack.enter_context(st.StudyLock(study_dir))  # noqa: F841
        if new_study:
            st.write_settings(study_dir, {**settings, "budget": budget})
        else:
            st.write_settings(study_dir, {**stored, "budget": max(budget, stored.get("budget", 0))})
        from roadmap.search.driver import SearchConfig, SearchDriver, make_sampler, run_local
        from roadmap.search.progress import Progress

        sampler = make_sampler(settings["sampler"], settings["random_seed"], settings["population_size"])
        study = st.load_or_create_study(study_dir, sampler)
        cfg = SearchConfig(
            seed_spec=seed_spec,
            space=space,
            fidelity=settings["fidelity"],
            study_dir=study_dir,
            budget=budget,
            data=settings["data"],
            sampler=settings["sampler"],
            population_size=settings["population_size"],
            random_seed=settings["random_seed"],
            concurrency=concurrency,
            max_latency_ms=settings["max_latency_ms"],
            max_memory_mb=settings["max_memory_mb"],
            min_psnr=settings["min_psnr"],
            device=settings["device"],
            evaluator=ev_ref,
            fail_trials=fail_trials,
            references=refs,
        )
        progress = Progress(budget, enabled=not args.quiet)
        driver = SearchDriver(cfg, study, progress)
        driver.prepare(new_study)
        if new_study and notes:
            study.set_user_attr("reference_notes", notes)
        for note in notes:
            progress.message(f"roadmap search: note: {note}")
        if not args.quiet:
            where = "in process" if args.backend == "local" else (
                f"Ray at {args.address}" if args.address else "local Ray")
            progress.message(
                f"roadmap search: {'new' if new_study else 'resuming'} study {study_dir} "
                f"({driver.used}/{budget} done; {settings['sampler']}, fidelity "
                f"{settings['fidelity'] if isinstance(settings['fidelity'], str) else 'custom'}; "
                f"{concurrency} at a time, {where})"
            )

        def on_sigint(signum: int, frame: Any) -> None:
            if driver.stop_requested or args.backend == "local":
                driver.stop_requested = True
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            driver.stop_requested = True
            progress.message("roadmap search: stopping after Ctrl-C (press it again to abort at once) ...")

        previous = signal.signal(signal.SIGINT, on_sigint)
        interrupted = False
        try:
            if args.backend == "ray":
                from roadmap.search.ray_backend import run_on_ray

                run_on_ray(driver, concurrency=concurrency, cpus_per_trial=args.cpus_per_trial,
                           gpus_per_trial=args.gpus_per_trial)
            else:
                run_local(driver)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            signal.signal(signal.SIGINT, previous)
            driver.close()
            progress.finish()
        interrupted = interrupted or driver.stop_requested
        timing = driver.timing()
        timing["ray_start_seconds"] = runtime.started_seconds if runtime else 0.0
        timing["total_seconds"] = time.perf_counter() - t_start
        timing["overhead_share_total"] = max(0.0, 1 - timing["work_seconds"] / timing["total_seconds"])
        runs = list(study.user_attrs.get("runs", []))
        runs.append({**{k: round(v, 3) if isinstance(v, float) else v for k, v in timing.items()},
                     "backend": args.backend, "concurrency": concurrency,
                     "interrupted": interrupted, "budget": budget})
        study.set_user_attr("runs", runs)
        counts = st.count_trials(study)
    hv, front = driver.hypervolume()
    st.close_study(study)
    summary = {
        "study": str(study_dir),
        "budget": budget,
        "done": counts["budget_used"],
        "complete": counts["complete"],
        "failed": counts["failed"],
        "rejected_or_requeued": counts["pruned"],
        "front_size": front,
        "hypervolume": hv,
        "interrupted": interrupted,
        "timing": timing,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"study {study_dir}: {counts['budget_used']}/{budget} trials ({counts['complete']} complete, "
            f"{counts['failed']} failed; {counts['pruned']} rejected or re-queued, not counted); "
            f"Pareto front {front}, hypervolume {hv:.3f}"
        )
        print(
            f"this run: {timing['trials_this_run']} trials in {timing['total_seconds']:.0f} s; time outside "
            f"training and measurement: {timing['overhead_share']:.1%} of the search loop, "
            f"{timing['overhead_share_total']:.1%} of the whole command"
        )
    if interrupted:
        print(f"roadmap search: stopped; finished trials are kept. Resume with: {resume_cmd}", file=sys.stderr)
        return 130
    if not args.json:
        print(f"review it with: roadmap pareto {study_dir}")
    return 0
