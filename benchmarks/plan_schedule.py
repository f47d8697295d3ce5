"""How full can a search's plan keep N slots, whatever the driver and Ray do?

    python benchmarks/plan_schedule.py [--budgets 200,1000] [--slots 32]
                                       [--fidelities default,replicated,inherited]

Runs the search's own scheduler (the nafnet seed, the fidelity's plan, the TPE sampler) on
`SimulatedSlots`: simulated time, nothing sleeps, no driver or Ray overhead, every freed slot
refilled as the Ray executor does, new candidates measured beside the trainings (a cluster's
head that trains nothing). A training lasts its steps times its cost relative to the seed's
(`FakeEvaluator.job_cost`: a fixed share plus the rest in proportion to the MACs); the time
unit is the seed's whole top-rung training, ``T``. Per cell: the trainings, the work (T), the
makespan (T), the utilisation work / (slots x makespan) -- the most any executor reaches with
this plan -- and each phase's first start and last end, which shows where slots wait: the
seed's base run before the screens, every rung before the next, the knee's confirmations after
the top rung. ``benchmarks/cluster_scale.py`` measures what a real Ray cluster adds to it.

Prints a table and writes ``benchmarks/results/plan_schedule.json``. About 3 CPU minutes per
cell at budget 1000 (the sampler and the study's bookkeeping are real).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import table, write_json


def simulate(budget: int, slots: int, fidelity: str, folder: Path) -> dict:
    """One search of ``budget`` candidates at ``fidelity`` on ``slots`` simulated slots."""
    from roadmap.search import resolve_settings
    from roadmap.search.testing import FakeEvaluator, SimulatedSlots, search_on_slots

    options = {"budget": budget, "seed": "nafnet", "fidelity": fidelity, "concurrency": slots, "backend": "local"}
    settings = resolve_settings(options, folder / f"{fidelity}-b{budget}-s{slots}", None)
    unit = FakeEvaluator(seconds_per_iteration=1.0 / settings.fidelity.iterations)  # the seed's T is 1
    executor = SimulatedSlots(slots, unit.job_cost)
    scheduler = search_on_slots(settings, FakeEvaluator(), executor, measure_while_training=True)
    phases: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for job, start, end in executor.trained:
        phases[_phase(scheduler, job)].append((start, end))
    work = sum(b - a for a, b in executor.intervals)
    makespan = max(b for _, b in executor.intervals)
    return {
        "fidelity": fidelity,
        "budget": budget,
        "slots": slots,
        "trainings": len(executor.intervals),
        "work_T": work,
        "makespan_T": makespan,
        "ideal_T": work / slots,
        "utilisation": work / (slots * makespan),
        "phases": {
            name: {"trainings": len(v), "first_start_T": min(a for a, _ in v), "last_end_T": max(b for _, b in v)}
            for name, v in sorted(phases.items())
        },
    }


def _phase(scheduler, job) -> str:
    """``base`` (the seed's runs whose weights the screens start from), ``rung K`` or ``rung K,
    second seed`` (the replicates and confirmations)."""
    plan = scheduler.trainings.plan
    if plan.screening and job.number == scheduler.trainings.seed_number and job.rung == plan.base_rung:
        return "base"
    return f"rung {job.rung}" + (", second seed" if job.random_seed != plan.random_seed else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="200,1000")
    p.add_argument("--slots", default="32")
    p.add_argument("--fidelities", default="default,replicated,inherited")
    args = p.parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="plan-schedule-") as tmp:
        for fidelity in args.fidelities.split(","):
            for slots in map(int, args.slots.split(",")):
                for budget in map(int, args.budgets.split(",")):
                    rows.append(simulate(budget, slots, fidelity, Path(tmp)))
                    r = rows[-1]
                    print(
                        f"{fidelity}, budget {budget}, {slots} slots: {100 * r['utilisation']:.0f} %", file=sys.stderr
                    )
    print(
        table(
            [
                [
                    r["fidelity"],
                    r["budget"],
                    r["slots"],
                    r["trainings"],
                    f"{r['work_T']:.1f}",
                    f"{r['ideal_T']:.2f}",
                    f"{r['makespan_T']:.2f}",
                    f"{100 * r['utilisation']:.0f} %",
                    "; ".join(
                        f"{name}: {ph['first_start_T']:.2f}-{ph['last_end_T']:.2f}" for name, ph in r["phases"].items()
                    ),
                ]
                for r in rows
            ],
            [
                "fidelity",
                "budget",
                "slots",
                "trainings",
                "work T",
                "ideal T",
                "makespan T",
                "utilisation",
                "phases (T)",
            ],
        )
    )
    path = write_json("plan_schedule.json", {"rows": rows, "date": time.strftime("%Y-%m-%d %H:%M:%S")})
    print(f"{time.perf_counter() - t0:.0f} s in all; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
