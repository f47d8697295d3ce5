"""Named seed architectures: one spec YAML per ``<seed>-<variant>`` in ``roadmap/seeds/``.

Like timm's ``model_cfgs``, variants are data: adding a YAML file adds a seed variant.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from roadmap.errors import RoadmapError, SpecError
from roadmap.spec import UNetSpec, load_spec

DEFAULT_VARIANTS = {"nafnet": "w16", "pmrid": "rgb", "unet": "w16", "gama": "s", "unetpp": "w16"}


def _seed_files() -> dict[tuple[str, str], Path]:
    folder = resources.files("roadmap") / "seeds"
    files = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            seed, _, variant = entry.name[: -len(".yaml")].partition("-")
            files[(seed, variant)] = Path(str(entry))
    return files


def list_seeds() -> dict[str, list[str]]:
    """Seed names and their variants, e.g. ``{"nafnet": ["w16", "w32", "w64"], ...}``."""
    seeds: dict[str, list[str]] = {}
    for seed, variant in sorted(_seed_files()):
        seeds.setdefault(seed, []).append(variant)
    return seeds


def default_variant(seed: str) -> str:
    return DEFAULT_VARIANTS.get(seed) or list_seeds()[seed][0]


def get_seed(name: str, variant: str | None = None) -> UNetSpec:
    """The spec of seed ``name`` at ``variant`` (the seed's default variant when ``None``)."""
    seeds = list_seeds()
    if name not in seeds:
        raise RoadmapError(f"unknown seed {name!r}; known seeds: {', '.join(seeds)}")
    variant = variant or default_variant(name)
    if variant not in seeds[name]:
        raise RoadmapError(f"unknown variant {variant!r} of seed {name!r}; known variants: {', '.join(seeds[name])}")
    return load_spec(_seed_files()[(name, variant)])


def looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text or Path(text).exists()


def resolve_spec(seed_or_path: str, variant: str | None = None) -> UNetSpec:
    """What a CLI ``SEED_OR_SPEC`` argument means: a seed name (with ``variant``) or a spec file."""
    if seed_or_path in list_seeds():
        return get_seed(seed_or_path, variant)
    if looks_like_path(seed_or_path):
        if variant is not None:
            raise RoadmapError(f"--variant applies to seeds, not to the spec file {seed_or_path}")
        if not Path(seed_or_path).exists():
            raise SpecError(f"{seed_or_path}: no such spec file")
        return load_spec(Path(seed_or_path))
    raise RoadmapError(
        f"unknown seed {seed_or_path!r}; known seeds: {', '.join(list_seeds())} (or give a spec .yaml file)"
    )
