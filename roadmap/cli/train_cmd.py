"""``roadmap train SPEC [--data DIR] [--iterations N] [--out weights.pt]``: full training."""
from __future__ import annotations

import argparse
import sys

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
            "as the search's proxy training: random crops and flips, synthetic Gaussian noise (or real "
            "input/target pairs), PSNR loss, AdamW with cosine decay; PSNR/SSIM on the fixed validation "
            "crops at the end. A checkpoint <out>.ckpt is written every --checkpoint-every iterations; "
            "running the same command again resumes from it."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", metavar="SPEC", help="spec YAML file or seed name")
    p.add_argument("--variant", default=None, help="seed variant (when SPEC is a seed name)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="clean images, input/target pairs, or train/ + val/ (default: embedded photographs)")
    p.add_argument("--iterations", type=int, default=None, help="training iterations (default: 3000)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: 8)")
    p.add_argument("--crop", type=int, default=None, help="training crop size (default: 128)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-3)")
    p.add_argument("--sigma", type=float, default=None, help="synthetic noise level on 0-255 (default: 25)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--random-seed", type=int, default=None, help="random seed of weights and batches (default: 0)")
    p.add_argument("--seed", type=int, default=None, dest="old_seed", help=argparse.SUPPRESS)  # deprecated alias
    p.add_argument("--out", default="weights.pt", help="weights file to write (default: weights.pt)")
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="N",
                   help="iterations between checkpoints (default: 100)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadmap.review.train import checkpoint_path, full_fidelity, train_spec
    from roadmap.seeds import resolve_spec

    from roadmap.evaluation.device import check_device

    check_device(args.device)
    if args.old_seed is not None:
        print("roadmap train: warning: --seed is deprecated (it means the architecture in `search`); "
              "use --random-seed", file=sys.stderr)
    random_seed = next((s for s in (args.random_seed, args.old_seed) if s is not None), 0)
    spec = resolve_spec(args.spec, args.variant)
    fid = full_fidelity(iterations=args.iterations, batch=args.batch, crop=args.crop, lr=args.lr,
                        threads=args.threads)
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
                        checkpoint_every=args.checkpoint_every, restart=args.restart, sigma=args.sigma,
                        progress=progress)
    if result.resumed_from:
        print(f"resumed at iteration {result.resumed_from}", file=sys.stderr)
    print(f"wrote {result.out}: {result.iterations} iterations, validation PSNR {result.val.get('psnr', float('nan')):.3f} dB, "
          f"SSIM {result.val.get('ssim', float('nan')):.4f} ({result.seconds:.0f} s)")
    return 0
