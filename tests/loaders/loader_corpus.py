"""The files every loader is fed: the shipped YAML, a fidelity file and a study's settings.json,
and the loaders themselves, keyed by kind (spec, space, roadmap, fidelity, settings).

A plain module (``tests.loaders.loader_corpus``), not conftest.py: conftest files hold fixtures only."""

from __future__ import annotations

import functools
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KINDS = ("spec", "space", "roadmap", "fidelity", "settings")
FIDELITY_TEXT = "iterations: 90\nrungs: [10, 30, 90]\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\nlr: 1.0e-3\n"


@functools.cache
def settings_text() -> str:
    """A study's settings.json as `roadmap search --seed nafnet --fidelity smoke` writes it."""
    from roadmap.search import resolve_settings

    settings = resolve_settings({"backend": "local", "fidelity": "smoke"}, Path("unused"), None)
    return json.dumps({**settings.binding(), "budget": 5, "created": "2025-01-01T10:00:00"}, indent=2)


@functools.cache
def shipped(kind: str) -> tuple[bytes, ...]:
    """The well-formed files of ``kind`` the mutations start from."""
    folders = {"spec": "roadmap/seeds", "space": "search_spaces", "roadmap": "roadmap/roadmaps"}
    if kind in folders:
        return tuple(p.read_bytes() for p in sorted((REPO / folders[kind]).glob("*.yaml")))
    return ((FIDELITY_TEXT if kind == "fidelity" else settings_text()).encode(),)


def file_name(kind: str) -> str:
    return "settings.json" if kind == "settings" else f"{kind}.yaml"


def load(kind: str, path: Path):
    """Feed ``path`` to the loader of ``kind``; returns what it loaded."""
    from roadmap.evaluation.fidelity import load_fidelity
    from roadmap.roadmaps import get_roadmap
    from roadmap.search.settings_file import read_settings
    from roadmap.search.space import load_space
    from roadmap.seeds import get_seed
    from roadmap.spec import load_spec

    if kind == "spec":
        return load_spec(path)
    if kind == "space":
        return load_space(path)
    if kind == "roadmap":
        return get_roadmap(str(path), get_seed("nafnet"))
    if kind == "fidelity":
        return load_fidelity(str(path))
    return read_settings(path.parent)
