"""The build's registries (block types, down / up samplers, fusions, UNet++ fusions): each holds
exactly the names the spec accepts, each entry builds a network that runs, and an unknown name
is one line naming the known ones. Parametrised over the registries: a new entry is tested by
adding it."""

from __future__ import annotations

import pytest
import torch

from roadmap import spec as spec_module
from roadmap.build import (
    BLOCKS,
    DENSE_FUSIONS,
    DOWN_SAMPLERS,
    FUSIONS,
    UP_SAMPLERS,
    build_down,
    build_fusion,
    build_model,
    build_stage,
    build_up,
)
from roadmap.errors import RoadmapError
from roadmap.seeds import get_seed
from roadmap.spec import ConvSpec, FusionSpec, SamplerSpec, StageSpec, validate

REGISTRIES = [
    (BLOCKS, spec_module.BLOCK_TYPES),
    (DOWN_SAMPLERS, spec_module.DOWN_TYPES),
    (UP_SAMPLERS, spec_module.UP_TYPES),
    (FUSIONS, spec_module.FUSION_TYPES),
    (DENSE_FUSIONS, spec_module.NESTED_FUSIONS),
]


def runs(spec) -> None:
    """``spec`` validates, builds and maps a (1, 3, 32, 32) image to the same shape."""
    validate(spec)
    torch.manual_seed(0)
    with torch.no_grad():
        assert build_model(spec)(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


# A separable_strided down-sampler pads k // 2: with the default kernel 2 it makes one row and
# column too many, which the spec does not refuse (yet); an odd kernel halves exactly.
KERNELS = {"separable_strided": 3}


def sampler(name: str) -> SamplerSpec:
    """The sampler ``name``, with the conv it requires (a pmrid_block has a default one)."""
    needs_conv = name in spec_module.SAMPLERS_WITH_CONV and name != "pmrid_block"
    return SamplerSpec(name, KERNELS.get(name, 2), ConvSpec("vanilla") if needs_conv else None)


@pytest.mark.parametrize("registry,names", REGISTRIES, ids=lambda r: getattr(r, "kind", ""))
def test_each_registry_holds_the_names_the_spec_accepts(registry, names):
    assert set(registry) == set(names)


@pytest.mark.parametrize("name", BLOCKS.names())
def test_every_block_type_builds_every_stage(name):
    spec = get_seed("unet", "w16")
    for stage in [*spec.encoder, *spec.middle, *spec.decoder]:
        stage.block = name  # the block's own conv and attention
    runs(spec)


@pytest.mark.parametrize("name", DOWN_SAMPLERS.names())
def test_every_down_sampler_builds(name):
    spec = get_seed("unet", "w16")
    spec.down = [sampler(name) for _ in spec.down]
    runs(spec)


@pytest.mark.parametrize("name", UP_SAMPLERS.names())
def test_every_up_sampler_builds(name):
    spec = get_seed("unet", "w16")
    spec.up = [sampler(name) for _ in spec.up]
    runs(spec)


@pytest.mark.parametrize("name", FUSIONS.names())
def test_every_fusion_builds(name):
    spec = get_seed("unet", "w16")
    spec.skips = [FusionSpec(name) for _ in spec.skips]
    runs(spec)


@pytest.mark.parametrize("name", DENSE_FUSIONS.names())
def test_every_unetpp_fusion_builds(name):
    spec = get_seed("unetpp", "w16")
    spec.skips = [FusionSpec(name) for _ in spec.skips]
    runs(spec)


@pytest.mark.parametrize(
    "registry,build",
    [
        (BLOCKS, lambda: build_stage(StageSpec("transformer", 1, 8), 8)),
        (DOWN_SAMPLERS, lambda: build_down(SamplerSpec("transformer"), 8, 16)),
        (UP_SAMPLERS, lambda: build_up(SamplerSpec("transformer"), 16, 8)),
        (FUSIONS, lambda: build_fusion("transformer", None, 8, 8)),
        (DENSE_FUSIONS, lambda: DENSE_FUSIONS.lookup("transformer")),
    ],
    ids=lambda r: getattr(r, "kind", ""),
)
def test_an_unknown_name_is_one_line_naming_the_known_ones(registry, build):
    with pytest.raises(RoadmapError) as info:
        build()
    assert str(info.value) == f"unknown {registry.kind} 'transformer' (choose from {', '.join(registry)})"
