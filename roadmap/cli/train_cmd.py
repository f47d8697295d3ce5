"""``roadmap train SPEC [--data DIR] [--iterations N] [--out weights.pt]``: full training."""
from __future__ import annotations

import argparse
import sys

from roadmap.cli.common import (RemovedFlag, add_data_argument, add_device_argument, add_random_seed_argument,
                                add_spec_argument, add_task_arguments, add_threads_argument, finite_float, positive_int,
                                spec_and_task, threads_of)

EXAMPLES = """examples:
  roadmap train winner.yaml --data ~/data/sidd --iterations 20000 --out winner.pt
  roadmap train winner.yaml --out winner.pt          # embedded photographs; rerun to resume
  roadmap train nafnet --variant w16 --iterations 300 --out seed.pt
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a spec for real with the evaluation data pipeline (resumable)",
        description=(
            "Full training of a spec (e.g. the output of roadmap export) with the same data pipeline "
            "as the search's proxy training: random crops and flips, the task's synthetic degradation (or "
            "real input/target pairs), PSNR loss, AdamW with cosine decay; PSNR/SSIM on the fixed validation "
            "crops at the end. A checkpoint <out>.ckpt is written every --checkpoint-every iterations; "
            "running the same command again resumes from it."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p, help="spec YAML file (e.g. from roadmap export) or seed name")
    add_data_argument(p, help="clean images, input/target pairs, or train/ + val/ (default: embedded photographs)")
    add_task_arguments(p)
    p.add_argument("--iterations", type=positive_int, default=None, help="training iterations (default: 3000)")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size (default: 8)")
    p.add_argument("--crop", type=positive_int, default=None, help="training crop size (default: 128)")
    p.add_argument("--lr", type=finite_float, default=None, help="peak learning rate (default: 1e-3)")
    add_threads_argument(p, "training and validation")
    add_device_argument(p, help="torch device: cpu, cuda or cuda:N (default: cpu)")
    add_random_seed_argument(p, help="random seed of weights and batches (default: 0)")
    p.add_argument("--seed", action=RemovedFlag, instead="the architecture is SEED_OR_SPEC (--seed is the "
                   "architecture in `roadmap search`), the random seed is --random-seed")
    p.add_argument("--out", default="weights.pt", help="weights file to write (default: weights.pt)")
    p.add_argument("--checkpoint-every", type=positive_int, default=100, metavar="N",
                   help="iterations between checkpoints (default: 100)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadmap.review.train import checkpoint_path, full_fidelity, train_spec

    from roadmap.evaluation.device import check_device

    check_device(args.device)
    random_seed = args.random_seed
    spec, task = spec_and_task(args)
    fid = full_fidelity(iterations=args.iterations, batch=args.batch, crop=args.crop, lr=args.lr,
                        threads=threads_of(args))
    if args.lr is not None and fid.min_lr > fid.lr:
        import dataclasses

        fid = dataclasses.replace(fid, min_lr=fid.lr * 1e-3)

    def progress(done: int, total: int, loss: float, seconds: float) -> None:
        if done % 100 == 0 or done == total:
            print(f"  {done}/{total}  loss {loss:.4f}  {seconds:.0f} s", file=sys.stderr, flush=True)

    ckpt = checkpoint_path(args.out)
    if ckpt.exists() and not args.restart:
        print(f"resuming from {ckpt}", file=sys.stderr)
    result = train_spec(spec, args.out, data=args.data, fidelity=fid, seed=random_seed, device=args.device,
                        checkpoint_every=args.checkpoint_every, restart=args.restart, task=task,
                        progress=progress)
    if result.resumed_from:
        print(f"resumed at iteration {result.resumed_from}", file=sys.stderr)
    test = result.val.get("test_psnr")
    print(f"wrote {result.out}: {result.iterations} iterations, validation PSNR {result.val.get('psnr', float('nan')):.3f} dB "
          f"(degraded input {result.val.get('input_psnr', float('nan')):.3f} dB), "
          f"test PSNR {'n/a' if test is None else f'{test:.3f} dB'}, "
          f"SSIM {result.val.get('ssim', float('nan')):.4f} ({result.seconds:.0f} s)")
    return 0
