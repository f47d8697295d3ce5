"""roadmap: search the simplification roadmaps of image-restoration U-Nets.

>>> import roadmap
>>> spec = roadmap.get_seed("nafnet", "w16")
>>> model = roadmap.build_model(spec)
"""
from roadmap.build import UNet, build_model
from roadmap.errors import RoadmapError, SpecError
from roadmap.seeds import get_seed, list_seeds, resolve_spec
from roadmap.spec import ConvSpec, UNetSpec, load_spec, save_spec

__all__ = [
    "UNet", "build_model", "RoadmapError", "SpecError", "get_seed", "list_seeds", "resolve_spec",
    "ConvSpec", "UNetSpec", "load_spec", "save_spec",
]
__version__ = "0.1.0"
