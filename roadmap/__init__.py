"""roadmap: search the simplification roadmaps of image-restoration U-Nets.

>>> import roadmap
>>> spec = roadmap.get_seed("nafnet", "w16")
>>> model = roadmap.build_model(spec)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from roadmap.errors import RoadmapError, SpecError
from roadmap.seeds import get_seed, list_seeds, resolve_spec
from roadmap.spec import ConvSpec, UNetSpec, load_spec, save_spec

if TYPE_CHECKING:
    from roadmap.build import UNet, build_model

__all__ = [
    "UNet",
    "build_model",
    "RoadmapError",
    "SpecError",
    "get_seed",
    "list_seeds",
    "resolve_spec",
    "ConvSpec",
    "UNetSpec",
    "load_spec",
    "save_spec",
]
__version__ = "0.1.0"

# Loaded on first use: roadmap.build imports torch and every block, and importing any module of
# the package (the spec, the CLI's option parsing) runs this file first.
_LAZY = {"UNet": "roadmap.build", "build_model": "roadmap.build", "build": "roadmap.build"}


def __getattr__(name: str) -> Any:
    """``roadmap.build_model``, ``roadmap.UNet`` and ``roadmap.build``, imported when first used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'roadmap' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name == "build" else getattr(module, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
