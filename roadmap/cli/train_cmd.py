"""``roadmap train SPEC [--data DIR] [--iterations N] [--workers N] [--init W] [--out weights.pt]``."""

from __future__ import annotations

import argparse
import sys

from roadmap.cli.common import (
    RemovedFlag,
    add_data_argument,
    add_random_seed_argument,
    add_spec_argument,
    add_task_arguments,
    add_threads_argument,
    finite_float,
    nonnegative_int,
    positive_float,
    positive_int,
    spec_and_task,
    threads_of,
)

EXAMPLES = """examples:
  roadmap train winner.yaml --data ~/data/sidd --iterations 20000 --out winner.pt
  roadmap train winner.yaml --out winner.pt          # embedded photographs; rerun to resume
  roadmap train nafnet --variant w16 --iterations 300 --out seed.pt
  roadmap train winner.yaml --init seed.pt --out winner.pt      # start from the seed's weights, carried
  roadmap train winner.yaml --workers 2 --batch 16 --threads 4 --out winner.pt   # 2 CPU workers (DDP)
  roadmap train winner.yaml --address 10.0.0.1:6379 --workers 8 --gpus-per-worker 1 \\
      --batch 64 --iterations 200000 --data /shared/sidd --out /shared/winner.pt    # 8 GPUs of a Ray cluster
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a spec for real: resumable, data-parallel on Ray Train, from carried weights",
        description=(
            "Full training of a spec (e.g. the output of roadmap export) with the same data pipeline "
            "as the search's proxy training: random crops and flips, the task's synthetic degradation (or "
            "real input/target pairs), PSNR loss, AdamW with cosine decay. An exponential moving average of "
            "the weights is validated every --validate-every iterations on the fixed validation crops (the "
            "best kept as <out stem>.best.pt) and exported; the test images are scored at the end. A "
            "checkpoint <out>.ckpt is written every --checkpoint-every iterations; running the same command "
            "again resumes from it, with any --workers. --workers N trains on N data-parallel Ray Train "
            "workers (DDP: gloo on CPUs, NCCL on GPUs), each on --batch / N crops of the same global batch."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p, help="spec YAML file (e.g. from roadmap export) or seed name")
    add_data_argument(p, help="clean images, input/target pairs, or train/ + val/ (default: embedded photographs)")
    add_task_arguments(p)
    _add_optimisation_arguments(p)
    add_threads_argument(p, "training and validation (per worker)")
    p.add_argument(
        "--device", default=None, help="torch device: cpu, cuda or cuda:N (default: cpu; cuda with --gpus-per-worker)"
    )
    add_random_seed_argument(p, help="random seed of weights and batches (default: 0)")
    p.add_argument(
        "--seed",
        action=RemovedFlag,
        instead="the architecture is SEED_OR_SPEC (--seed is the "
        "architecture in `roadmap search`), the random seed is --random-seed",
    )
    _add_worker_arguments(p)
    _add_output_arguments(p)
    p.set_defaults(func=run)


def _add_optimisation_arguments(p: argparse.ArgumentParser) -> None:
    """Iterations, batch, crop, learning rate, clipping, precision, EMA and the starting weights."""
    g = p.add_argument_group("optimisation")
    g.add_argument("--iterations", type=positive_int, default=None, help="training iterations (default: 2500)")
    g.add_argument(
        "--batch", type=positive_int, default=None, help="GLOBAL batch size, shared by the workers (default: 8)"
    )
    g.add_argument("--crop", type=positive_int, default=None, help="training crop size (default: 128)")
    g.add_argument(
        "--lr",
        type=finite_float,
        default=None,
        help="peak learning rate of the global batch (default: 2e-3; not scaled with --workers)",
    )
    g.add_argument(
        "--grad-clip",
        type=positive_float,
        default=None,
        metavar="NORM",
        help="clip the gradients' global norm to NORM (default: no clipping)",
    )
    g.add_argument(
        "--precision",
        default="auto",
        metavar="P",
        help="auto (bf16 on a GPU that has it, else fp16; fp32 on the CPU), fp32, bf16 or fp16",
    )
    g.add_argument(
        "--ema",
        type=finite_float,
        default=None,
        metavar="DECAY",
        help="decay of the weight average that is validated and exported (default 0.999; 0: none)",
    )
    g.add_argument(
        "--init",
        default=None,
        metavar="WEIGHTS",
        help="start from these weights (a roadmap train file of the seed or of an earlier point of "
        "this spec's roadmap), carried through the remaining steps as the search's screen does",
    )


def _add_worker_arguments(p: argparse.ArgumentParser) -> None:
    r = p.add_argument_group("workers (Ray Train)")
    r.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="data-parallel workers (default 1: in this process, without Ray)",
    )
    r.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="a running Ray cluster to train on (default: start Ray here when --workers > 1)",
    )
    r.add_argument(
        "--gpus-per-worker",
        type=nonnegative_int,
        default=None,
        metavar="G",
        help="GPUs each worker reserves (default: 1 with --device cuda, else 0)",
    )


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("output")
    o.add_argument("--out", default="weights.pt", help="weights file to write (default: weights.pt)")
    o.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=100,
        metavar="N",
        help="iterations between checkpoints (default: 100)",
    )
    o.add_argument(
        "--validate-every",
        type=positive_int,
        default=None,
        metavar="K",
        help="iterations between validations (default: a tenth of --iterations)",
    )
    o.add_argument(
        "--log-every",
        type=positive_int,
        default=100,
        metavar="N",
        help="iterations between progress lines and rows of <out stem>.log.csv (default: 100)",
    )
    o.add_argument("--tensorboard", default=None, metavar="DIR", help="also write TensorBoard scalars to DIR")
    o.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")


def settings_of(args: argparse.Namespace):
    """The checked `TrainSettings` of the command's options."""
    from roadmap.review.train_settings import resolve_train_settings

    return resolve_train_settings(
        iterations=args.iterations,
        batch=args.batch,
        crop=args.crop,
        lr=args.lr,
        grad_clip=args.grad_clip,
        threads=threads_of(args),
        device=args.device,
        gpus_per_worker=args.gpus_per_worker,
        workers=args.workers,
        address=args.address,
        precision=args.precision,
        ema=args.ema,
        validate_every=args.validate_every,
        init=args.init,
        tensorboard=args.tensorboard,
        seed=args.random_seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        restart=args.restart,
    )


def run(args: argparse.Namespace) -> int:
    from roadmap.review.train import train_spec

    settings = settings_of(args)
    spec, task = spec_and_task(args)
    result = train_spec(
        spec, args.out, settings, data=args.data, task=task, log=lambda line: print(line, file=sys.stderr, flush=True)
    )
    val, best = result.val, result.best
    print(
        f"wrote {result.out}: {result.iterations} iterations, validation PSNR {_db(val.get('psnr'))} "
        f"(degraded input {_db(val.get('input_psnr'))}; raw weights {_db(val.get('raw_psnr'))}), "
        f"test PSNR {_db(val.get('test_psnr'))}, SSIM {val.get('ssim', float('nan')):.4f} ({result.seconds:.0f} s)"
    )
    if best:
        print(
            f"best validated weights: iteration {best['step']}, validation PSNR {_db(best.get('psnr'))}, "
            f"test PSNR {_db(best.get('test_psnr'))} ({best['path']})"
        )
    return 0


def _db(value) -> str:
    return "n/a" if value is None else f"{value:.3f} dB"
