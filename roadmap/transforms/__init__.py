"""Roadmap transformations: pure ``spec -> spec`` rewrites, registered by name.

>>> from roadmap.seeds import get_seed
>>> spec = apply_transform(get_seed("nafnet", "w16"), "pconv", portion=0.25)
>>> spec.provenance["steps"]
[{'transform': 'pconv', 'params': {'portion': 0.25}}]
"""

from roadmap.transforms import (  # noqa: F401  (registers them)
    attention,
    depth,
    partial,
    prune,
    reparam,
    sampling,
    scaling,
    skips,
)
from roadmap.transforms.registry import (
    TRANSFORMS,
    apply_steps,
    apply_transform,
    get_transform,
    list_transforms,
    transform_parameters,
)
from roadmap.transforms.weights import CARRY_RULES, carries, carry_weights

__all__ = [
    "TRANSFORMS",
    "apply_steps",
    "apply_transform",
    "get_transform",
    "list_transforms",
    "transform_parameters",
    "CARRY_RULES",
    "carries",
    "carry_weights",
]
