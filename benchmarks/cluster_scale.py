"""Does the search keep a Ray cluster busy, and does its driver keep up as the budget grows?

    python benchmarks/cluster_scale.py [--budgets 50,200,1000] [--slots 2,8,32]
                                       [--seed-seconds 0.5 | --seconds-per-slot 4]
                                       [--extra BUDGET:SLOTS:SEED_SECONDS ...] [--fidelity replicated]

For each slot count, a Ray cluster of several nodes starts on this machine (`ray_cluster.py`):
a head that trains nothing (``ray start --head --num-cpus 0``: the driver runs there and may
measure candidates while trials train) and worker nodes with their own CPU counts
(``ray start --address HEAD --num-cpus K``; 2 = 1 + 1, 8 = 4 + 2 + 2, 32 = 16 + 8 + 8 slots of one
CPU per trial). Logical CPUs may exceed the machine's: the trainings only sleep. On it,
``run_search`` (default fidelity and plan: the seed trained first, screens, one promotion, the
knee confirmed; ``--fidelity`` another preset, e.g. ``replicated``: every top-rung candidate
trained with a second random seed, no confirmation rounds) runs with `FakeEvaluator` trainings
that sleep their simulated cost: the iterations a job trains times its step's cost relative
to the seed's (`step_cost`: a fixed share plus the rest in proportion to the MACs), the seed's
whole training (1350 iterations) lasting ``--seed-seconds`` (a screen about a tenth of it), or
``--seconds-per-slot`` times the slots: then every cell asks the driver for new candidates at
the same rate. Each
``--extra`` cell runs one budget on one slot count with its own time scale (long trainings:
a cluster's case, where the driver is not what limits it).

Per cell:

* driver CPU per candidate: the driver process's CPU seconds (every thread: Tune, Ray's
  core worker, the scheduler, Optuna, SQLite) from the scheduler's start to its end, over the
  budget; ``sampler``: the part spent in the sampler's own calls (TPE models every trial so
  far, so its share grows with the budget: the algorithm's cost, not the driver's); ``rest``:
  the driver's overhead besides it, the target being that it does not grow with the budget;
  ``asked/cand``: trials asked of the sampler per candidate (with the reference points and the
  duplicates it proposes, rejected: more as the space fills), ``rest/asked`` the overhead per
  trial asked;
* utilisation: busy slot-seconds (every job's time in its worker) / (slots x wall); ``start-up``:
  from the first job handed out to the first training's start in its worker (Ray starting the
  trial processes: on this machine all of them import torch on its 2 cores, where a cluster's
  nodes start theirs on their own), and the utilisation after it (wall less the start-up); explore
  utilisation: the same from the first screen handed out to the last, while the plan had a
  screen waiting for every free slot (only the driver and Ray can leave a slot idle there);
* ideal: total simulated work / slots; plan bound: the least wall time any executor needs for
  the same jobs with the plan's barriers (the seed's run before the screens, every rung before
  the next, each round of second-seed runs after the last): the sum over the phases of
  max(work / slots, longest job); bound util = work / (slots x bound), the most the plan
  allows. ``wall / bound`` is what the driver and Ray add.

Prints a table and writes ``benchmarks/results/cluster_scale.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json
from benchmarks.ray_cluster import LocalCluster

NODES = {2: (1, 1), 8: (4, 2, 2), 32: (16, 8, 8)}  # worker nodes' CPUs per slot count
SEED_ITERATIONS = 1350  # the default fidelity's whole training: what --seed-seconds lasts


def recording_scheduler():
    """The search's `Scheduler`, noting when each job was handed out and ended (driver clock)
    and the driver's CPU time from its start to its close."""
    from roadmap.search.scheduler import Scheduler

    class Recording(Scheduler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.cpu0, self.jobs, self.starts = time.process_time(), [], {}

        def started(self, job):
            super().started(job)
            self.starts[(job.number, job.rung, job.random_seed)] = time.perf_counter()

        def finished(self, job, result):
            start = self.starts.pop((job.number, job.rung, job.random_seed), None)
            super().finished(job, result)
            if start is not None:
                self.jobs.append(
                    (job.number, job.rung, job.random_seed, start - self.t0, time.perf_counter() - self.t0)
                )

        def close(self):
            super().close()
            self.cpu = time.process_time() - self.cpu0
            self.wall = time.perf_counter() - self.t0

    return Recording


class SamplerClock:
    """The driver's CPU seconds inside the sampler (its model of the trials so far: TPE's grows
    with them), counted from the outermost of its calls."""

    CALLS = ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial", "after_trial")

    def __init__(self):
        self.seconds, self.depth = 0.0, 0

    def wrap(self, sampler):
        for name in self.CALLS:
            setattr(sampler, name, self._timed(getattr(sampler, name)))
        return sampler

    def _timed(self, call):
        def timed(*args, **kwargs):
            self.depth += 1
            t0 = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.depth -= 1
                if not self.depth:
                    self.seconds += time.process_time() - t0

        return timed


def run_cell(
    address: str,
    budget: int,
    slots: int,
    seed_seconds: float,
    folder: Path,
    fidelity: str = "default",
    profile_to: str | None = None,
) -> dict:
    """One search on the cluster at ``address`` with the ``fidelity`` preset; its figures (see
    the module docstring). ``profile_to``: write the driver's cProfile to
    ``<profile_to>-b<budget>-s<slots>.prof``."""
    import roadmap.search.engine as engine
    import roadmap.search.samplers as samplers
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.progress import Progress
    from roadmap.search.testing import FakeEvaluator

    # one study per cell: an --extra cell may share its budget and slots with a grid cell
    study = folder / f"b{budget}-s{slots}-t{seed_seconds:g}-{fidelity}"
    options = {"backend": "ray", "address": address, "budget": budget, "seed": "nafnet", "fidelity": fidelity}
    settings = resolve_settings(options, study, None)
    evaluator = FakeEvaluator(seconds_per_iteration=seed_seconds / SEED_ITERATIONS)  # the seed's step costs 1
    recording, plain = recording_scheduler(), engine.Scheduler
    engine.Scheduler = recording
    clock, make_sampler = SamplerClock(), samplers.make_sampler
    samplers.make_sampler = lambda *args: clock.wrap(make_sampler(*args))
    schedulers = []
    recording.prepare = _keep(recording.prepare, schedulers)
    profile = cProfile.Profile(time.thread_time) if profile_to else None  # the main thread's CPU
    try:  # as `roadmap search > log` runs it: the progress line written at every training's end
        if profile:
            profile.enable()
        summary = run_search(settings, evaluator, Progress(budget, stream=io.StringIO()))
    finally:
        engine.Scheduler, samplers.make_sampler = plain, make_sampler
        if profile:
            profile.disable()
            profile.dump_stats(f"{profile_to}-b{budget}-s{slots}.prof")
    row = figures(schedulers[0], study, evaluator, budget, slots, summary)
    rest = schedulers[0].cpu - clock.seconds
    return {
        **row,
        "fidelity": fidelity,
        "sampler_cpu_s": clock.seconds,
        "overhead_cpu_per_candidate_s": rest / budget,
        "overhead_cpu_per_asked_s": rest / row["asked"],
    }


def _keep(prepare, into: list):
    def wrapped(self, new_study):
        into.append(self)
        return prepare(self, new_study)

    return wrapped


def figures(scheduler, study: Path, evaluator, budget: int, slots: int, summary) -> dict:
    """Driver CPU, utilisation, ideal and plan bound of one finished search."""
    from roadmap.search.results import load_candidates
    from roadmap.search.study import count_trials, open_study, read_evaluations
    from roadmap.search.testing import step_cost
    from roadmap.spec import load_spec

    s = open_study(study)
    counts = count_trials(s)
    records, specs = read_evaluations(s), {c.number: c.spec_yaml for c in load_candidates(s)}
    relative = {n: step_cost(load_spec(y)) for n, y in specs.items() if y}
    cost = {k: evaluator.seconds_per_iteration * rec["job_iterations"] * relative[k[0]] for k, rec in records.items()}
    busy = sum(rec.get("job_seconds") or 0.0 for rec in records.values())
    work = sum(cost.values())
    jobs = [(n, r, sd, a, b, cost[(n, r, sd)]) for n, r, sd, a, b in scheduler.jobs]
    bound = plan_bound(jobs, slots, main_seed=0)
    working = [(b - (records[(n, r, sd)].get("job_seconds") or 0.0), b) for n, r, sd, _, b, _ in jobs]
    startup = min(a for a, _ in working) - min(j[3] for j in jobs)
    return {
        "budget": budget,
        "slots": slots,
        "seed_seconds": evaluator.seconds_per_iteration * SEED_ITERATIONS,
        "candidates": summary.done,
        # trials asked of the sampler: the candidates, the reference points and the rejected (duplicates)
        "asked": counts["complete"] + counts["failed"] + counts["pruned"],
        "jobs": len(records),
        "driver_cpu_s": scheduler.cpu,
        "driver_cpu_per_candidate_s": scheduler.cpu / budget,
        "wall_s": scheduler.wall,
        "busy_slot_s": busy,
        "work_s": work,
        "ideal_s": work / slots,
        "plan_bound_s": bound,
        "utilisation": busy / (slots * scheduler.wall),
        "startup_s": startup,
        "utilisation_after_startup": busy / (slots * (scheduler.wall - startup)),
        "explore_utilisation": fed_utilisation(jobs, working, slots),
        "bound_utilisation": work / (slots * bound),
        "wall_over_ideal": scheduler.wall * slots / work,
        "wall_over_bound": scheduler.wall / bound,
        "batches": summary.timing.get("batches"),
        # every job: trial, rung, random seed, handed out and ended (driver clock, s), simulated cost
        "timeline": [[n, r, sd, round(a, 3), round(b, 3), round(c, 3)] for n, r, sd, a, b, c in jobs],
    }


def fed_utilisation(jobs: list[tuple], working: list[tuple[float, float]], slots: int) -> float | None:
    """Utilisation while the exploration had a screen waiting: from the first screen handed out
    to the last one (after it, the idle slots wait for the promotion, which needs every screen:
    the plan's barrier, not the driver). ``working``: each job's ``(start, end)`` of work."""
    starts = [a for _, r, _, a, _, _ in jobs if r == 0]
    if len(starts) < 2:
        return None
    lo, hi = min(starts), max(starts)
    busy = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in working)
    return busy / (slots * (hi - lo))


def plan_bound(jobs: list[tuple], slots: int, main_seed: int) -> float:
    """The sum over the plan's phases of max(work / slots, longest job): base (the seed's runs
    before the first screen), every rung, then the confirmations, each round of them (jobs
    whose times overlap) after the last. ``jobs``: (trial, rung, seed, start, end, cost)."""
    first_screen = min((a for _, r, _, a, _, _ in jobs if r == 0), default=0.0)
    phases: dict[object, list[float]] = {}
    rounds: list[list[tuple]] = []  # jobs with the second seed whose times overlap
    for n, r, sd, a, b, c in sorted(jobs, key=lambda j: j[3]):
        if a < first_screen:
            phases.setdefault("base", []).append(c)
        elif sd == main_seed:
            phases.setdefault(r, []).append(c)
        elif rounds and a < max(j[4] for j in rounds[-1]):
            rounds[-1].append((n, r, sd, a, b, c))
        else:
            rounds.append([(n, r, sd, a, b, c)])
    groups = [*phases.values(), *([j[5] for j in group] for group in rounds)]
    return sum(max(sum(costs) / slots, max(costs)) for costs in groups)


def print_table(rows: list[dict]) -> None:
    print(
        table(
            [
                [
                    r.get("fidelity", "default"),
                    r["budget"],
                    r["slots"],
                    f"{r['seed_seconds']:g}",
                    f"{1000 * r['driver_cpu_per_candidate_s']:.0f}",
                    f"{1000 * r['sampler_cpu_s'] / r['budget']:.0f}",
                    f"{1000 * r['overhead_cpu_per_candidate_s']:.0f}",
                    f"{r['asked'] / r['budget']:.2f}",
                    f"{1000 * r['overhead_cpu_per_asked_s']:.0f}",
                    f"{100 * r['utilisation']:.0f} %",
                    f"{r['startup_s']:.0f}: {100 * r['utilisation_after_startup']:.1f} %",
                    "-" if r["explore_utilisation"] is None else f"{100 * r['explore_utilisation']:.0f} %",
                    f"{r['wall_s']:.0f}",
                    f"{r['ideal_s']:.0f}",
                    f"{r['plan_bound_s']:.0f}",
                    f"{100 * r['bound_utilisation']:.0f} %",
                    f"{r['wall_over_bound']:.2f}",
                ]
                for r in rows
            ],
            [
                "fidelity",
                "budget",
                "slots",
                "seed s",
                "driver ms/cand",
                "sampler",
                "rest",
                "asked/cand",
                "rest/asked",
                "utilisation",
                "start-up s: after",
                "explore util",
                "wall s",
                "ideal s",
                "plan bound s",
                "bound util",
                "wall/bound",
            ],
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="50,200,1000")
    p.add_argument("--slots", default="2,8,32", help=f"slot counts, each of {', '.join(map(str, NODES))}")
    p.add_argument("--seed-seconds", type=float, default=0.5, help="simulated seconds of the seed's whole training")
    p.add_argument(
        "--seconds-per-slot",
        type=float,
        help="instead: the seed's whole training lasts this times the slots (every cell asks the driver for "
        "candidates at the same rate)",
    )
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="BUDGET:SLOTS:SEED_SECONDS",
        help="one more cell with its own time scale (repeatable)",
    )
    p.add_argument("--fidelity", default="default", help="the search's fidelity preset in every cell")
    p.add_argument("--out", default="cluster_scale.json")
    p.add_argument(
        "--profile",
        metavar="PREFIX",
        help="write each cell's driver profile (cProfile) to PREFIX-b<budget>-s<slots>.prof",
    )
    args = p.parse_args(argv)
    scale = (lambda slots: args.seconds_per_slot * slots) if args.seconds_per_slot else (lambda _: args.seed_seconds)
    cells = [(b, s, scale(s)) for s in map(int, args.slots.split(",")) for b in map(int, args.budgets.split(","))]
    try:
        cells += [(int(b), int(s), float(t)) for b, s, t in (e.split(":") for e in args.extra)]
    except ValueError:
        p.error("--extra: BUDGET:SLOTS:SEED_SECONDS, e.g. 200:32:48")
    if unknown := {s for _, s, _ in cells} - set(NODES):
        p.error(f"--slots: no node layout for {sorted(unknown)} (one of {', '.join(map(str, NODES))})")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    t0, rows, commands = time.perf_counter(), [], {}
    with tempfile.TemporaryDirectory(prefix="cluster-scale-") as tmp:
        for slots in dict.fromkeys(s for _, s, _ in cells):  # one cluster per slot count, in order
            with LocalCluster(0, NODES[slots], Path(tmp) / f"ray{slots}") as cluster:
                os.environ["HOME"] = cluster.env()["HOME"]  # where its authentication token is
                commands[slots] = cluster.commands
                for budget, _, seed_seconds in (c for c in cells if c[1] == slots):
                    rows.append(
                        run_cell(cluster.address, budget, slots, seed_seconds, Path(tmp), args.fidelity, args.profile)
                    )
                    print_row_line(rows[-1])
                    path = write_report(args.out, rows, commands, time.perf_counter() - t0)  # a cell at a time
    print_table(rows)
    print(f"{time.perf_counter() - t0:.0f} s in all; wrote {path}")
    return 0


def write_report(out: str, rows: list[dict], commands: dict, seconds: float) -> Path:
    """The cells measured so far to ``benchmarks/results/<out>``."""
    return write_json(
        out,
        {
            "rows": rows,
            "nodes": NODES,
            "commands": commands,
            "total_seconds": seconds,
            "machine": {"cpus": os.cpu_count()},
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )


def print_row_line(r: dict) -> None:
    print(
        f"budget {r['budget']}, {r['slots']} slots: driver {1000 * r['driver_cpu_per_candidate_s']:.0f} ms/candidate "
        f"({1000 * r['overhead_cpu_per_candidate_s']:.0f} besides the sampler), "
        f"utilisation {100 * r['utilisation']:.0f} %, wall {r['wall_s']:.0f} s (ideal {r['ideal_s']:.0f} s, plan "
        f"bound {r['plan_bound_s']:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
