"""Named roadmaps (``mofa``, ``unet--``) and user roadmap files: ordered transform steps.

A roadmap YAML has either ``steps: [...]`` (one list for any seed) or ``seeds: {seed: [...],
default: [...]}`` (per-seed settings, as MOFA tuned them per network). A step is
``{transform: NAME, params: {...}, note: "why"}``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from roadmap import io
from roadmap.errors import RoadmapError
from roadmap.spec import UNetSpec


def builtin_roadmaps() -> dict[str, Path]:
    folder = resources.files("roadmap") / "roadmaps"
    return {e.name[:-5]: Path(str(e)) for e in folder.iterdir() if e.name.endswith(".yaml")}


def seed_name(spec: UNetSpec) -> str:
    """The seed a spec descends from (``nafnet`` for provenance seed ``nafnet/w16``)."""
    return str(spec.provenance.get("seed") or spec.name).split("/")[0]


ROADMAP_KEYS = ("name", "description", "steps", "seeds")
STEP_KEYS = ("transform", "params", "note")


def _load(path: Path) -> tuple[io.YamlDoc, dict]:
    """The checked roadmap file at ``path``: its document and its data (see the module docstring)."""
    doc = io.load_yaml(path, "roadmap")
    data = doc.data
    if not isinstance(data, dict) or not ({"steps", "seeds"} & set(data)):
        raise RoadmapError(f"{doc.label}: a roadmap is a mapping with 'steps' (a list) or 'seeds' (seed -> list)")
    try:
        _check_roadmap(data)
    except RoadmapError as exc:
        raise doc.error(str(exc)) from None
    return doc, data


def _check_roadmap(data: dict) -> None:
    """The shape of a roadmap (keys, types, known transforms); what the transforms think of the
    parameters is checked when they are applied."""
    unknown = [k for k in data if k not in ROADMAP_KEYS]
    if unknown:
        raise RoadmapError(f"{unknown[0]}: unknown field (allowed: {', '.join(ROADMAP_KEYS)})")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise RoadmapError(f"{key}: must be text, got {data[key]!r}")
    if "steps" in data and "seeds" in data:
        raise RoadmapError("seeds: give either steps or seeds, not both")
    if "steps" in data:
        _check_steps("steps", data["steps"])
        return
    seeds = data["seeds"]
    if not isinstance(seeds, dict) or not seeds:
        raise RoadmapError("seeds: must map a seed name to a list of steps")
    for seed, steps in seeds.items():
        _check_steps(f"seeds.{seed}", steps)


def _check_steps(where: str, steps: object) -> None:
    from roadmap.transforms import list_transforms

    if not isinstance(steps, list) or not steps:
        raise RoadmapError(f"{where}: steps must be a non-empty list")
    known = list_transforms()
    for k, step in enumerate(steps):
        at = f"{where}[{k}]"
        if not isinstance(step, dict):
            raise RoadmapError(f"{at}: must be a mapping with 'transform' and 'params'")
        unknown = [key for key in step if key not in STEP_KEYS]
        if unknown:
            raise RoadmapError(f"{at}.{unknown[0]}: unknown field (allowed: {', '.join(STEP_KEYS)})")
        if step.get("transform") not in known:
            raise RoadmapError(
                f"{at}.transform: unknown transform {step.get('transform')!r} (known: {', '.join(known)})"
            )
        params = step.get("params")
        if params is not None and not (isinstance(params, dict) and all(isinstance(p, str) for p in params)):
            raise RoadmapError(f"{at}.params: must be a mapping of parameter names to values")
        if "note" in step and not isinstance(step["note"], str):
            raise RoadmapError(f"{at}.note: must be text")


def get_roadmap(name_or_path: str, spec: UNetSpec) -> list[dict]:
    """The steps of roadmap ``name_or_path`` (built-in name or YAML file) for ``spec``'s seed."""
    builtin = builtin_roadmaps()
    if name_or_path in builtin:
        path = builtin[name_or_path]
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise RoadmapError(
                f"unknown roadmap {name_or_path!r}: not one of {', '.join(sorted(builtin))} and no such file"
            )
    doc, data = _load(path)
    if "steps" in data:
        return data["steps"]
    seeds, seed = data["seeds"], seed_name(spec)
    if seed not in seeds and "default" not in seeds:
        raise RoadmapError(
            io.one_line(
                f"{doc.label}: roadmap {data.get('name', path.stem)!r} has no settings for "
                f"seed {seed!r} (it has: {', '.join(map(str, seeds))})"
            )
        )
    return seeds.get(seed, seeds.get("default"))
