"""The calibration candidates: the three reference points, random draws from the NAFNet
search space (fixed sampler seed), and drastic edits that widen the PSNR range.

The list is written once to ``benchmarks/proxy_candidates.yaml`` (committed) so that the
cached reference runs stay valid when the search-space sampler changes.
"""

from __future__ import annotations

from pathlib import Path

import yaml

CANDIDATES_FILE = Path(__file__).resolve().parents[1] / "proxy_candidates.yaml"
SEED, VARIANT = "nafnet", "w16"
DRAW_SEED = 2026
# The task the candidates are built for (set once per benchmark run by `use_task`): an `sr` task
# gives the seed an up-sampling head, so every candidate is the same edit of the SR seed.
_TASK: dict = {"task": None}
# The 12 candidates of the per-task calibrations (deblur, sr): the references, seven draws and
# the two drastic edits that widen the PSNR span.
TASK_SUBSET = ("seed", "mofa", "unet--", *(f"draw {i:02d}" for i in range(1, 8)), "no skips", "one level")


def use_task(task) -> None:
    """Build every candidate for ``task`` (a `roadmap.evaluation.tasks.Task`)."""
    _TASK["task"] = task


DRASTIC = {
    "no skips": [{"transform": "drop_skips", "params": {"levels": [0, 1, 2]}}],
    "one level": [{"transform": "depth", "params": {"levels": 1}}],
}


def seed_spec():
    import roadmap
    from roadmap.evaluation.tasks import DEFAULT_TASK, for_task

    return for_task(roadmap.get_seed(SEED, VARIANT), _TASK["task"] or DEFAULT_TASK)


def draw_candidates(count: int = 17) -> dict[str, list[dict]]:
    """label -> steps: seed, mofa, unet--, ``count`` distinct random draws, drastic edits."""
    from roadmap.roadmaps import get_roadmap
    from roadmap.search.candidates import architecture_key
    from roadmap.search.sampling import random_steps
    from roadmap.search.space import default_space_path, load_space

    seed = seed_spec()
    out: dict[str, list[dict]] = {"seed": [], "mofa": get_roadmap("mofa", seed), "unet--": get_roadmap("unet--", seed)}
    space = load_space(default_space_path(SEED), SEED)
    seen = {architecture_key(build(s)) for s in out.values()}
    for steps in random_steps(space, seed, 200, DRAW_SEED):
        key = architecture_key(build(steps))
        if key not in seen and len(out) < 3 + count:
            seen.add(key)
            out[f"draw {len(out) - 2:02d}"] = steps
    out.update(DRASTIC)
    return out


def write_candidates(path: Path = CANDIDATES_FILE) -> Path:
    header = (
        "# Calibration candidates of benchmarks/proxy_fidelity.py (NAFNet-w16): the seed,\n"
        "# the two reference roadmaps, 17 random draws from search_spaces/nafnet.yaml\n"
        f"# (optuna RandomSampler seed {DRAW_SEED}) and two drastic edits.\n"
        "# Regenerate with `python benchmarks/proxy_fidelity.py --draw`.\n"
    )
    path.write_text(
        header
        + yaml.safe_dump({"seed": f"{SEED}/{VARIANT}", "candidates": draw_candidates()}, sort_keys=False, width=200)
    )
    return path


def load_candidates(path: Path = CANDIDATES_FILE) -> dict[str, list[dict]]:
    return yaml.safe_load(path.read_text())["candidates"]


def build(steps: list[dict]):
    from roadmap.transforms import apply_steps

    return apply_steps(seed_spec(), steps) if steps else seed_spec()
