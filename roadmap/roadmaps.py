"""Named roadmaps (``mofa``, ``unet--``) and user roadmap files: ordered transform steps.

A roadmap YAML has either ``steps: [...]`` (one list for any seed) or ``seeds: {seed: [...],
default: [...]}`` (per-seed settings, as MOFA tuned them per network). A step is
``{transform: NAME, params: {...}, note: "why"}``.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from roadmap.errors import RoadmapError
from roadmap.spec import UNetSpec


def builtin_roadmaps() -> dict[str, Path]:
    folder = resources.files("roadmap") / "roadmaps"
    return {e.name[:-5]: Path(str(e)) for e in folder.iterdir() if e.name.endswith(".yaml")}


def seed_name(spec: UNetSpec) -> str:
    """The seed a spec descends from (``nafnet`` for provenance seed ``nafnet/w16``)."""
    return str(spec.provenance.get("seed") or spec.name).split("/")[0]


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RoadmapError(f"{path}: cannot read roadmap file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise RoadmapError(f"{path}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict) or not ({"steps", "seeds"} & set(data)):
        raise RoadmapError(f"{path}: a roadmap is a mapping with 'steps' (a list) or 'seeds' (seed -> list)")
    return data


def get_roadmap(name_or_path: str, spec: UNetSpec) -> list[dict]:
    """The steps of roadmap ``name_or_path`` (built-in name or YAML file) for ``spec``'s seed."""
    builtin = builtin_roadmaps()
    if name_or_path in builtin:
        path = builtin[name_or_path]
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise RoadmapError(f"unknown roadmap {name_or_path!r}: not one of {', '.join(sorted(builtin))} "
                               f"and no such file")
    data = _load(path)
    if "steps" in data:
        steps = data["steps"]
    else:
        seeds = data["seeds"]
        seed = seed_name(spec)
        if not isinstance(seeds, dict):
            raise RoadmapError(f"{path}: seeds must map a seed name to a list of steps")
        if seed not in seeds and "default" not in seeds:
            raise RoadmapError(f"roadmap {data.get('name', path.stem)!r} has no settings for seed {seed!r} "
                               f"(it has: {', '.join(seeds)})")
        steps = seeds.get(seed, seeds.get("default"))
    if not isinstance(steps, list) or not steps:
        raise RoadmapError(f"{path}: steps must be a non-empty list")
    return steps
