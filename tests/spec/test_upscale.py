"""Super-resolution heads (``head.upscale``): the spec, the built networks, the analysis at the
low-resolution input, ONNX export, and transforms with weight carry-over on an SR spec."""

import doctest

import pytest
import torch
from torch.nn import functional as F

import roadmap
from roadmap.analysis import analyze
from roadmap.errors import SpecError
from roadmap.roadmaps import get_roadmap
from roadmap.spec import input_hw, load_spec, with_upscale
from roadmap.transforms import apply_steps, carry_weights


def sr(seed="nafnet", variant="w16", scale=2):
    return with_upscale(roadmap.get_seed(seed, variant), scale)


def randomised(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Every parameter random (NAFBlock's beta / gamma start at zero, which would make every
    block an identity), small enough that the outputs stay near the input's range."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 / p[0].numel() ** 0.5 if p.dim() > 1 else 0.3))
    return model.eval()


# --------------------------------------------------------------------------- the spec


def test_yaml_round_trip_writes_upscale_only_when_it_is_not_1():
    spec = sr(scale=3)
    text = spec.to_yaml()
    assert "head: {upscale: 3}" in text and "upscale: 3}" in text.splitlines()[-1]
    assert load_spec(text) == spec and load_spec(text).upscale == 3
    assert "upscale" not in roadmap.get_seed("nafnet").to_yaml()


@pytest.mark.parametrize("value", [0, 5, 8, -2, "2", 2.0, True, None])
def test_a_bad_upscale_names_the_field(value):
    data = roadmap.get_seed("nafnet").to_dict()
    data["head"] = {"upscale": value}
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert str(info.value) == f"head.upscale: must be one of 1, 2, 3, 4, got {value!r}"


def test_input_hw_is_the_low_resolution_input_of_an_output_size():
    assert input_hw(sr(scale=2), (256, 192)) == (128, 96)
    assert input_hw(sr(scale=3), (63, 45)) == (21, 15)
    assert input_hw(roadmap.get_seed("nafnet"), (255, 7)) == (255, 7)
    with pytest.raises(SpecError) as info:
        input_hw(sr(scale=2), (255, 256))
    assert str(info.value) == "output size 255x256 is not divisible by the super-resolution scale 2"


def test_with_upscale_records_the_scale_and_refuses_to_compose():
    seed = roadmap.get_seed("nafnet")
    x2 = with_upscale(seed, 2)
    assert (x2.upscale, x2.head.upscale, x2.provenance) == (2, 2, {"seed": "nafnet/w16", "upscale": 2})
    assert seed.upscale == 1 and "upscale" not in seed.provenance  # a copy
    assert with_upscale(seed, 1) is seed and with_upscale(x2, 2) is x2
    with pytest.raises(SpecError) as info:
        with_upscale(x2, 3)
    assert str(info.value) == "head.upscale: the spec already super-resolves x2; x3 needs a spec at scale 1"
    with pytest.raises(SpecError) as info:
        with_upscale(seed, 5)
    assert str(info.value) == "head.upscale: must be one of 1, 2, 3, 4, got 5"


def test_the_doctests_of_input_hw_and_with_upscale():
    import roadmap.spec

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for name in ("input_hw", "with_upscale"):
        for test in finder.find(getattr(roadmap.spec, name), name, globs=vars(roadmap.spec)):
            runner.run(test)
    assert runner.summarize(verbose=False) == doctest.TestResults(failed=0, attempted=6)


# --------------------------------------------------------------------------- the networks


@pytest.mark.parametrize("seed", ["nafnet", "unetpp", "pmrid"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_input_gives_the_scaled_output(seed, scale):
    spec = sr(seed, None, scale)
    model = roadmap.build_model(spec).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 24, 32)).shape == (1, 3, 24 * scale, 32 * scale)
        assert model(torch.rand(2, 3, 23, 31)).shape == (2, 3, 23 * scale, 31 * scale)  # padded inside


def test_every_unetpp_head_upscales():
    spec = sr("unetpp", "w16", 3)
    model = roadmap.build_model(spec).eval()
    with torch.no_grad():
        outs = model.forward_heads(torch.rand(1, 3, 24, 32))
    assert {d: o.shape for d, o in outs.items()} == dict.fromkeys((1, 2, 3), (1, 3, 72, 96))
    assert [tuple(model.head[d].weight.shape) for d in "123"] == [(27, 16, 3, 3)] * 3


def test_the_head_conv_makes_scale_squared_times_the_channels():
    plain = roadmap.build_model(roadmap.get_seed("nafnet")).state_dict()
    x2 = roadmap.build_model(sr(scale=2)).state_dict()
    assert list(x2) == list(plain)  # the same parameter names
    assert (tuple(x2["head.weight"].shape), tuple(x2["head.bias"].shape)) == ((12, 16, 3, 3), (12,))
    assert {k: v.shape for k, v in x2.items() if not k.startswith("head.")} == {
        k: v.shape for k, v in plain.items() if not k.startswith("head.")
    }


@pytest.mark.parametrize("hw", [(24, 32), (23, 31), (17, 9)])
def test_the_global_residual_is_the_bicubic_input_cropped_exactly(hw):
    """With a zero head the output is the residual alone: bicubic up-sampling of the input as
    given (the U-Net's padding does not reach it), at exactly ``s*h x s*w``."""
    for spec in (sr("nafnet", "w16", 2), sr("unetpp", "w16", 3)):
        model = randomised(roadmap.build_model(spec))
        heads = model.head.values() if spec.nested is not None else [model.head]
        with torch.no_grad():
            for head in heads:
                head.weight.zero_()
                head.bias.zero_()
            x = torch.rand(1, 3, *hw)
            expected = F.interpolate(x, scale_factor=spec.upscale, mode="bicubic", align_corners=False)
            assert torch.equal(model(x), expected)


def test_upscale_1_builds_todays_network():
    spec = roadmap.get_seed("nafnet", "w16")
    model = roadmap.build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == 288_691
    assert type(model.head) is torch.nn.Conv2d and model.upscale == 1
    assert with_upscale(spec, 1) is spec


# --------------------------------------------------------------------------- the analysis


def test_analysis_counts_at_the_low_resolution_input():
    plain, plain_lr = analyze(roadmap.get_seed("nafnet"), (256, 256)), analyze(roadmap.get_seed("nafnet"), (128, 128))
    a = analyze(sr(scale=2), (256, 256))
    assert (a.input_hw, a.output_hw) == ((128, 128), (256, 256))
    assert (plain.input_hw, plain.output_hw) == ((256, 256), (256, 256))
    # the body costs what it costs at 128x128; only the head makes 4x the channels
    body = {k: v for k, v in a.stages.items() if k != "head"}
    assert body == {k: v for k, v in plain_lr.stages.items() if k != "head"}
    assert a.stages["head"] == 4 * plain_lr.stages["head"] == plain.stages["head"]
    assert a.macs == plain_lr.macs + 3 * plain_lr.stages["head"] == 279_013_888
    assert a.macs < 0.28 * plain.macs  # a quarter (SCA's 1x1 convs on pooled vectors do not shrink) + the head
    assert a.skip_memory_timeline == plain_lr.skip_memory_timeline
    assert a.params == plain.params + 16 * 9 * 9 + 9
    assert a.to_dict()["output_hw"] == [256, 256] and a.to_dict()["input_hw"] == [128, 128]


def test_analysis_of_an_output_the_scale_does_not_divide_is_refused():
    with pytest.raises(SpecError) as info:
        analyze(sr(scale=3), (256, 256))
    assert str(info.value) == "output size 256x256 is not divisible by the super-resolution scale 3"


def test_an_odd_low_resolution_input_is_padded_and_noted():
    a = analyze(sr(scale=3), (69, 93))
    assert (a.input_hw, a.output_hw) == ((23, 31), (69, 93))
    assert a.notes == ["input padded to (24, 32) (a multiple of 8)"]


# --------------------------------------------------------------------------- ONNX


def test_onnx_export_of_an_sr_network_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnx
    import onnxruntime as ort

    from roadmap.review.onnx_export import export_onnx

    spec = sr("nafnet", "w16", 2)
    model = randomised(roadmap.build_model(spec))
    result = export_onnx(model, tmp_path / "sr.onnx", input_hw=(48, 62))  # the output size
    assert (result.input_shape, result.output_shape) == ((1, 3, 24, 31), (1, 3, 48, 62))
    assert result.max_abs_error <= 1e-4
    resize = [n for n in onnx.load(str(result.path)).graph.node if n.op_type == "Resize"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in resize[0].attribute}
    assert (len(resize), attrs["mode"], attrs["cubic_coeff_a"]) == (1, b"cubic", -0.75)
    # another input and batch size: the dynamic batch axis, and the network does something
    x = torch.rand(2, 3, 24, 31, generator=torch.Generator().manual_seed(7))
    got = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert float(np.abs(got - expected).max()) <= 1e-4
    assert float(np.abs(expected - F.interpolate(x, scale_factor=2, mode="bicubic").numpy()).max()) > 1e-2


def test_onnx_export_of_an_sr_spec_refuses_an_output_the_scale_does_not_divide(tmp_path):
    from roadmap.review.onnx_export import export_onnx

    with pytest.raises(SpecError, match="output size 64x50 is not divisible by the super-resolution scale 4"):
        export_onnx(sr(scale=4), tmp_path / "sr.onnx", input_hw=(64, 50), check=False)


# --------------------------------------------------------------------------- transforms


def _step(transform, **params):
    return {"transform": transform, "params": params}


SR_STEPS = {
    "mofa": "mofa",
    "msiam": [_step("msiam", target_level=2)],
    "drop_skips": [_step("drop_skips", levels=[0])],
    "depth": [_step("depth", levels=2)],
    "width": [_step("width", multiplier=0.5)],
    "attention": [_step("attention", attention="gama")],
    "blocks": [_step("blocks", depth={"level[0]": 2})],
    "reparam": [_step("reparam")],
    "pconv+width": [_step("pconv", portion=0.25), _step("width", overrides={"level[0]": 2.0})],
}


@pytest.mark.parametrize("name", list(SR_STEPS))
def test_transforms_keep_the_scale_and_carry_the_head(name):
    seed = sr("nafnet", "w16", 2)
    steps = get_roadmap("mofa", seed) if SR_STEPS[name] == "mofa" else SR_STEPS[name]
    torch.manual_seed(3)
    seed_state = randomised(roadmap.build_model(seed)).state_dict()
    spec = apply_steps(seed, steps)
    assert (spec.upscale, spec.provenance["upscale"]) == (2, 2)
    carried = carry_weights(seed, seed_state, steps)
    model = roadmap.build_model(spec).eval()
    model.load_state_dict(carried, strict=True)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 24, 32)).shape == (1, 3, 48, 64)
    head, old = carried["head.weight"], seed_state["head.weight"]
    width = min(head.shape[1], old.shape[1])  # width may change decoder[0]'s channels
    assert head.shape == (12, spec.decoder[0].width, 3, 3)
    assert torch.equal(head[:, :width], old[:, :width]) and torch.equal(carried["head.bias"], seed_state["head.bias"])
