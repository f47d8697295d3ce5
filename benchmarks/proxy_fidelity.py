"""How well does the proxy training rank architectures? Kendall tau between the PSNR of
the `default` fidelity and of a run with 10x the iterations, over specs spread over
the transformations (seeds and transformed variants).

    python benchmarks/proxy_fidelity.py [--fidelity default] [--factor 10] [--jobs 2]

Each training runs in its own process with one thread (as search trials do). Finished
runs are cached in ``benchmarks/results/proxy_fidelity_runs.json`` so an interrupted
benchmark resumes; the table goes to stdout and ``proxy_fidelity.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, table, write_json  # noqa: E402

# label -> (seed, variant, steps); steps as roadmap.transforms.apply_steps takes them.
SPECS: dict[str, tuple[str, str, list[dict] | str]] = {
    "nafnet-w16": ("nafnet", "w16", []),
    "nafnet-w16 pconv0.25": ("nafnet", "w16", [{"transform": "pconv", "params": {"portion": 0.25}}]),
    "nafnet-w16 pconv0.5+decouple": ("nafnet", "w16", [
        {"transform": "pconv", "params": {"portion": 0.5}},
        {"transform": "decouple", "params": {"direction": "both", "portion": 0.25}}]),
    "nafnet-w16 mofa": ("nafnet", "w16", "mofa"),
    "nafnet-w16 unet--": ("nafnet", "w16", "unet--"),
    "nafnet-w16 depth2": ("nafnet", "w16", [{"transform": "depth", "params": {"levels": 2}}]),
    "nafnet-w16 drop_skip0": ("nafnet", "w16", [{"transform": "drop_skips", "params": {"levels": [0]}}]),
    "nafnet-w16 pconv0.125+pdw": ("nafnet", "w16", [
        {"transform": "pconv", "params": {"portion": 0.125}},
        {"transform": "pdwconv", "params": {"threshold": 2}}]),
    "unet-w16": ("unet", "w16", []),
    "pmrid-rgb": ("pmrid", "rgb", []),
}


def build_spec(label: str):
    """The `UNetSpec` of a benchmark label."""
    import roadmap
    from roadmap.transforms import apply_steps

    seed, variant, steps = SPECS[label]
    spec = roadmap.get_seed(seed, variant)
    if isinstance(steps, str):
        from roadmap.roadmaps import get_roadmap

        steps = get_roadmap(steps, spec)
    return apply_steps(spec, steps) if steps else spec


def run_one(label: str, fidelity: dict, seed: int) -> dict:
    """Train one spec at one fidelity in this (worker) process; 1 thread."""
    import torch

    torch.set_num_threads(1)
    from roadmap.evaluation import evaluate_spec

    t0 = time.perf_counter()
    out = evaluate_spec(build_spec(label), fidelity, None, random_seed=seed, measure=False)
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b of two equally long score lists (ties counted as in tau-b)."""
    conc = disc = ties_a = ties_b = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                conc += 1
            else:
                disc += 1
    denom = ((conc + disc + ties_a) * (conc + disc + ties_b)) ** 0.5
    return (conc - disc) / denom if denom else float("nan")


def main(argv: list[str] | None = None) -> int:
    from roadmap.evaluation.fidelity import get_fidelity

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fidelity", default="default")
    p.add_argument("--factor", type=float, default=10.0, help="iterations multiplier of the reference")
    p.add_argument("--reference", help="a preset used as the reference instead of --factor (e.g. long)")
    p.add_argument("--jobs", type=int, default=2, help="trainings in parallel (1 thread each)")
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument("--specs", nargs="*", default=list(SPECS), help="labels (default: all)")
    args = p.parse_args(argv)

    proxy = get_fidelity(args.fidelity)
    ref = get_fidelity(args.reference) if args.reference else proxy.scaled(args.factor)
    cache_path = RESULTS / "proxy_fidelity_runs.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}

    def key(label, fid):
        return json.dumps([label, fid.to_dict(), args.random_seed], sort_keys=True)

    todo = [(l, f) for f in (ref, proxy) for l in args.specs if key(l, f) not in cache]  # long first
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, l, f.to_dict(), args.random_seed): (l, f) for l, f in todo}
        for fut in as_completed(futures):
            l, f = futures[fut]
            cache[key(l, f)] = fut.result()
            print(f"done: {l} @ {f.name}: PSNR {cache[key(l, f)]['psnr']} "
                  f"({cache[key(l, f)]['wall_seconds']:.0f} s)", file=sys.stderr, flush=True)
            write_json(cache_path.name, cache)

    rows, a, b = [], [], []
    for l in args.specs:
        r_p, r_r = cache[key(l, proxy)], cache[key(l, ref)]
        rows.append([l, f"{r_p['params']:,}", f"{r_p['macs'] / 1e9:.2f}G",
                     f"{r_p['psnr']:.2f}" if r_p["psnr"] is not None else r_p["status"],
                     f"{r_r['psnr']:.2f}" if r_r["psnr"] is not None else r_r["status"],
                     f"{r_p['train_seconds']:.0f}", f"{r_r['train_seconds']:.0f}"])
        if r_p["psnr"] is not None and r_r["psnr"] is not None:
            a.append(r_p["psnr"])
            b.append(r_r["psnr"])
    tau = kendall_tau(a, b)
    print(table(rows, ["spec", "params", "MACs", f"PSNR {proxy.name}", f"PSNR {ref.name}",
                       "train s", "ref train s"]))
    print(f"\nKendall tau ({proxy.name} vs {ref.name}, {len(a)} specs): {tau:.3f}  (target >= 0.6)")
    path = write_json("proxy_fidelity.json", {
        "proxy_fidelity": proxy.to_dict(), "reference_fidelity": ref.to_dict(),
        "random_seed": args.random_seed, "kendall_tau": tau,
        "specs": {l: {"proxy": cache[key(l, proxy)], "reference": cache[key(l, ref)]} for l in args.specs},
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
