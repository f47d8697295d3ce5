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

import json
import shlex
import sys
from typing import Any

from roadmap.cli.common import (
    add_data_argument,
    add_device_argument,
    add_fidelity_argument,
    add_json_argument,
    add_random_seed_argument,
    add_spec_argument,
    add_task_arguments,
    add_threads_argument,
    int_in,
    nonnegative_float,
    positive_float,
)
from roadmap.cli.latency_options import add_latency_arguments
from roadmap.errors import RoadmapError
from roadmap.search.settings import DEFAULT_BUDGET, MAX_BUDGET


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
            "budget = completed + failed candidates of the sampler; the reference points (seed, mofa, "
            "unet--) are trained besides it, and candidates rejected by a constraint before training, "
            "duplicates and interrupted trials do not count. Options left out on a resumed study take "
            "the study's settings. Exit codes: 0 done, 1 no candidate finished or no trial is feasible "
            "(the study is kept), 2 bad input or a fault of the machine (one line), 130 stopped."
        ),
    )
    _what_to_search(p)
    _sampler_and_constraints(p)
    add_latency_arguments(
        p.add_argument_group("latency (binding: a resumed study keeps its backend)"),
        default_note="torch, or the study's",
    )
    _execution(p)
    g = p.add_argument_group("output")
    g.add_argument("--quiet", action="store_true", help="no progress line")
    add_json_argument(g, help="print the final summary as JSON on stdout")
    p.set_defaults(func=run)


def _what_to_search(p: Any) -> None:
    """The seed, space, budget, study, fidelity, data and task options."""
    g = p.add_argument_group("what to search")
    add_spec_argument(g, flag="--seed", help="seed architecture: a seed name or a spec YAML file (default nafnet)")
    add_setting_flags(g, "what to search")  # --space
    g.add_argument(
        "--budget",
        type=int_in(1, MAX_BUDGET),
        metavar="N",
        help=f"completed + failed candidates to reach, 1 to {MAX_BUDGET} (default {DEFAULT_BUDGET}); the "
        "reference points train besides them",
    )
    g.add_argument(
        "--study",
        metavar="DIR",
        help="study directory (default studies/runs/<seed>[-<variant>][-<task>], e.g. nafnet-sr-x2)",
    )
    add_fidelity_argument(
        g,
        default=None,
        help="proxy training: a preset ({presets}) "
        "or a YAML/JSON file of fidelity fields (default: the task's calibrated "
        "preset, README 'How far the PSNR axis can be trusted')",
    )
    add_data_argument(g, help="training/validation images (default: the built-in photos)")
    add_task_arguments(p)


def _sampler_and_constraints(p: Any) -> None:
    g = p.add_argument_group("sampler")
    add_setting_flags(g, "sampler")  # --sampler, --population-size
    add_random_seed_argument(g, default=None, help="seed of the sampler and of training (default 0)")
    add_setting_flags(p.add_argument_group("constraints"), "constraints")


def add_setting_flags(group: Any, name: str, cls: type | None = None) -> None:
    """The flags of the settings of ``cls`` (`SearchSettings`) declared with an `Arg` of
    argument group ``name``, in field order: a setting only this command takes gets its flag
    from its declaration."""
    from roadmap.search.settings import SearchSettings
    from roadmap.search.settings_schema import settings_of

    for setting in settings_of(cls or SearchSettings):
        if setting.arg is not None and setting.arg.group == name:
            group.add_argument(setting.arg.flag(setting.name), **setting.arg.keywords())


def _execution(p: Any) -> None:
    """Where and how trials run: backend, cluster address, slots, threads, device."""
    g = p.add_argument_group("execution")
    g.add_argument(
        "--backend",
        choices=("ray", "local"),
        default="ray",
        help="ray: Ray Tune trials (default); local: one trial at a time in this process",
    )
    g.add_argument("--address", help="address of a running Ray cluster (default: start a local Ray)")
    g.add_argument("--concurrency", type=int, help="trials training at once (default: CPUs / --cpus-per-trial)")
    g.add_argument("--cpus-per-trial", type=positive_float, default=1.0, help="CPUs per trial, > 0 (default 1)")
    g.add_argument(
        "--gpus-per-trial",
        type=nonnegative_float,
        default=0.0,
        help="GPUs per trial, fractions allowed (default 0; 0.25 with --device cuda on Ray: a trial that reserves "
        "none sees no GPU)",
    )
    add_threads_argument(g, "each trial's training, latency and memory (binding: part of the study's fidelity)")
    add_device_argument(
        g,
        default=None,
        help="device to train and measure on: cpu, cuda, cuda:N (default cpu; cuda with --gpus-per-trial)",
    )


def run(args: Any) -> int:
    from roadmap.search.progress import Progress
    from roadmap.search.settings import resolve_search

    settings = resolve_search(vars(args))  # the study folder, its stored settings, the defaults
    study_dir = settings.study_dir
    summary = _searched(settings, Progress(settings.budget, enabled=not args.quiet))
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print(_text(summary))
    if summary.interrupted:
        resume = shlex.join(["roadmap", "search", "--study", str(study_dir), "--budget", str(settings.budget)])
        print(f"roadmap search: stopped; finished trials are kept. Resume with: {resume}", file=sys.stderr)
        return 130
    if summary.exhausted:
        print(f"roadmap search: stopped before the budget: {summary.exhausted}", file=sys.stderr)
    if summary.complete == 0:
        print(
            f"roadmap search: no candidate finished ({summary.failed} failed); see "
            f"`roadmap pareto {study_dir} --failed`",
            file=sys.stderr,
        )
        return 1
    if summary.no_feasible:
        print(
            f"roadmap search: no feasible trial: {summary.no_feasible}; see `roadmap pareto {study_dir} --failed`",
            file=sys.stderr,
        )
        return 1
    return 0


def _searched(settings: Any, progress: Any) -> Any:
    """`run_search` with the evaluator on `roadmap.evaluation` (the search core knows only its
    protocol), with SQLite's own shape of a full or read-only disk (sqlalchemy's
    ``OperationalError: database or disk is full``) named as a write to the study's study.db."""
    from roadmap.adapters.evaluator import RoadmapEvaluator
    from roadmap.files import WriteError, os_fault
    from roadmap.search import run_search

    try:
        return run_search(settings, RoadmapEvaluator.from_settings(settings), progress=progress)
    except Exception as exc:
        if isinstance(exc, (OSError, RoadmapError)) or os_fault(exc) is None:
            raise
        raise WriteError(
            f"study {settings.study_dir / 'study.db'}: cannot write ({os_fault(exc)}); the "
            "search stopped and keeps its finished trials"
        ) from exc


def _noise_text(noise: dict) -> str:
    """The noise floor: one run's sigma, its degrees of freedom and where it came from."""
    if noise.get("t_quantile") is None:
        return f"noise floor unknown ({noise['source']}): PSNR differences are not judged"
    return (
        f"noise floor: one run's PSNR varies by {noise['sigma_db']:.3f} dB between random seeds, "
        f"{noise['dof']} degrees of freedom ({noise['source']}); tie bands use Student's t = "
        f"{noise['t_quantile']:.2f}"
    )


def _recommendation_lines(summary: Any) -> list[str]:
    """The knee and the fastest point with no loss against the seed, each with its PSNR over
    its runs and its verdict against the seed (said once when they are the same trial)."""
    from roadmap.evaluation.tasks import gain_text

    lines, knee, fast = [], summary.knee, summary.fastest_no_loss
    same = fast is not None and knee is not None and fast["number"] == knee["number"]
    for name, point in (
        ("recommended (knee)", knee),
        ("fastest with no loss against the seed", None if same else fast),
    ):
        if point is None:
            continue
        band = "" if point["psnr_band_db"] is None else f" +/-{point['psnr_band_db']:.2f}"
        gain = gain_text(point["psnr"], point.get("input_psnr"))
        lines.append(
            f"{name}: trial {point['number']}, PSNR {point['psnr']:.2f}{band} dB over "
            f"{point['runs']} run(s){' (' + gain + ')' if gain else ''}, {point['latency_ms']:.1f} ms"
        )
        if point["verdict"]:
            lines.append(f"  against the seed: {point['verdict']}")
    if same:
        lines.append(f"fastest with no loss against the seed: the knee itself (trial {knee['number']})")
    elif knee is not None and fast is None:
        why = (
            "no trial ties with or beats the seed in PSNR, uses no more memory and is faster"
            if summary.noise.get("t_quantile") is not None
            else "no noise estimate to tell a tie from a loss"
        )
        lines.append(f"fastest with no loss against the seed: none ({why})")
    return lines


def _text(summary: Any) -> str:
    """The closing lines: counts, front, the task and its baseline, noise floor, the two
    recommendations (the knee; the fastest point with no loss) against the degraded input and
    the seed, this run's time, the study's cost."""
    from roadmap.evaluation.tasks import Task, task_line

    hv = "n/a" if summary.hypervolume is None else f"{summary.hypervolume:.3f}"
    lines = [
        f"study {summary.study}: {summary.done}/{summary.budget} candidates and {summary.references} reference "
        f"point{'' if summary.references == 1 else 's'} ({summary.complete} complete, {summary.failed} failed; "
        f"{summary.rejected_or_requeued} rejected or re-queued, not counted); "
        f"Pareto front {summary.front_size} at rung {summary.top_rung}, hypervolume {hv}",
        task_line(Task.from_dict(summary.task), summary.input_psnr),
    ]
    if summary.no_feasible:
        lines.append(f"no feasible trial: {summary.no_feasible}")
    for reason, count in summary.failure_reasons[:5]:
        lines.append(f"failed x{count}: {reason}")
    lines.append(_noise_text(summary.noise))
    lines += _recommendation_lines(summary)
    timing = summary.timing
    if not timing.get("iterations_this_run") and not timing.get("trials_this_run"):
        lines.append("this run: nothing to run (budget spent, every promotion and replicate done)")
    else:
        lines.append(
            f"this run: {timing.get('trials_this_run', 0)} new candidates, {timing['iterations_this_run']} "
            f"training steps in {timing.get('total_seconds', 0):.0f} s; time outside training and "
            f"measurement: {timing.get('overhead_share', 0):.1%} of the search loop"
        )
    from roadmap.review.summary import cost_lines

    lines += cost_lines(summary.cost)  # every run of the study, this one included
    lines.append(f"review it with: roadmap pareto {summary.study}")
    return "\n".join(lines)
