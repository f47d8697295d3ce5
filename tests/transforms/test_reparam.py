"""The ``reparam`` transform (FMEN RRRBs as a U-Net knob): spec, build, fold, weight carry-over,
deployed measurements and ONNX."""

import pytest
import torch

import roadmap
from blocks import RRRB, SeparableRRRB
from roadmap.analysis import analyze
from roadmap.build import build_model, fold_model, fold_spec, spec_has_reparam
from roadmap.errors import SpecError
from roadmap.spec import load_spec, stage_conv
from roadmap.transforms import apply_steps, apply_transform, carry_weights

X_SHAPE = (1, 3, 33, 47)
REPARAM = {"transform": "reparam", "params": {}}


def architecture(spec):
    return {k: v for k, v in spec.to_dict().items() if k != "provenance"}


def randomised(spec, seed: int = 7):
    """``build_model(spec)`` with every parameter random (NAFBlock's beta / gamma start at zero,
    which would make its blocks identities and hide errors)."""
    torch.manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * (0.5 / p[0].numel() ** 0.5 if p.dim() > 1 else 0.3))
    return model.eval()


def run(model, shape=X_SHAPE):
    with torch.no_grad():
        return model(torch.randn(shape, generator=torch.Generator().manual_seed(1)))


# ----------------------------------------------------------------------------- spec


def test_reparam_flag_round_trips_and_is_left_out_when_false():
    spec = apply_transform(roadmap.get_seed("unet", "w16"), "reparam")
    assert "reparam: true" in spec.to_yaml() and load_spec(spec.to_yaml()) == spec
    assert "reparam" not in roadmap.get_seed("unet", "w16").to_yaml()


@pytest.mark.parametrize(
    "conv,message",
    [
        (
            {"kind": "pconv", "portion": 0.5, "reparam": True},
            "encoder[0].conv.reparam: only vanilla, depthwise, separable convs can be re-parameterised (RRRB), "
            "this conv is pconv",
        ),
        ({"kind": "vanilla", "reparam": "yes"}, "encoder[0].conv.reparam: must be true or false, got 'yes'"),
    ],
)
def test_invalid_reparam_specs_are_one_line_errors(conv, message):
    data = roadmap.get_seed("unet", "w16").to_dict()
    data["encoder"][0]["conv"] = conv
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert message in str(info.value) and "\n" not in str(info.value)


# ----------------------------------------------------------------------------- transform


@pytest.mark.parametrize(
    "seed,variant,module", [("unet", "w16", RRRB), ("nafnet", "w16", RRRB), ("pmrid", "rgb", SeparableRRRB)]
)
def test_default_reparam_takes_every_stage_and_no_sampler(seed, variant, module):
    start = roadmap.get_seed(seed, variant)
    spec = apply_transform(start, "reparam")
    stages = [s for s in spec.encoder + spec.middle + spec.decoder if s.depth > 0]
    assert all(stage_conv(s).reparam for s in stages)
    assert not any(h.conv is not None and h.conv.reparam for h in spec.down + spec.up + spec.skips)
    assert any(isinstance(m, module) for m in roadmap.build_model(spec).modules())
    assert apply_steps(start, spec.provenance["steps"]) == spec
    assert architecture(fold_spec(spec)) == architecture(start)  # folding gives the seed back


def test_targets_reach_samplers_and_skips_and_refuse_partial_convs():
    pmrid = apply_transform(roadmap.get_seed("pmrid", "rgb"), "reparam", targets=["level[1]", "down[2]"])
    assert pmrid.skips[1].conv.reparam and pmrid.down[2].conv.reparam and stage_conv(pmrid.decoder[1]).reparam
    assert not stage_conv(pmrid.encoder[2]).reparam
    spec = apply_transform(roadmap.get_seed("nafnet", "w16"), "pconv", portion=0.5, targets=["encoder[1]"])
    with pytest.raises(SpecError, match=r"^reparam.targets: encoder\[1\] has a pconv conv: only vanilla, "):
        apply_transform(spec, "reparam", targets=["encoder[1]"])
    assert not stage_conv(apply_transform(spec, "reparam").encoder[1]).reparam  # the default passes over it
    done = apply_transform(roadmap.get_seed("unet", "w16"), "reparam")
    with pytest.raises(SpecError, match=r"^reparam.targets: no conv left to re-parameterise at this network's"):
        apply_transform(done, "reparam")


def test_pconv_after_reparam_replaces_the_rrrb():
    spec = apply_steps(roadmap.get_seed("unet", "w16"), [REPARAM, {"transform": "pconv", "params": {"portion": 0.5}}])
    assert not spec_has_reparam(spec)


# ----------------------------------------------------------------------------- fold


@pytest.mark.parametrize(
    "seed,variant,steps",
    [
        ("unet", "w16", [REPARAM]),
        ("nafnet", "w16", [REPARAM]),
        ("pmrid", "rgb", [{"transform": "reparam", "params": {"targets": ["level[1]", "middle", "down[2]"]}}]),
    ],
)
def test_folded_model_is_the_folded_spec_and_computes_the_same_function(seed, variant, steps):
    spec = apply_steps(roadmap.get_seed(seed, variant), steps)
    model = randomised(spec)
    folded = fold_model(model)
    assert not spec_has_reparam(fold_spec(spec)) and fold_spec(spec).provenance["folded"] is True
    plain = build_model(fold_spec(spec)).eval()
    plain.load_state_dict(folded.state_dict(), strict=True)  # the same names and shapes
    assert any(isinstance(m, RRRB) for m in model.modules())  # the model itself is not folded
    expected = run(model)
    assert float((run(folded) - expected).abs().max()) <= 1e-5
    assert float((run(plain) - expected).abs().max()) <= 1e-5


def test_fold_spec_and_fold_model_leave_plain_networks_alone():
    spec = roadmap.get_seed("unet", "w16")
    model = build_model(spec)
    assert fold_spec(spec) is spec and fold_model(model) is model


# ----------------------------------------------------------------------------- carry-over


@pytest.mark.parametrize(
    "seed,variant,params",
    [
        ("unet", "w16", {}),
        ("unet", "w16", {"targets": ["down[0]", "middle[0]"]}),
        ("nafnet", "w16", {}),
        ("pmrid", "rgb", {"targets": ["level[1]", "middle", "down[2]"]}),
    ],
)
def test_reparam_carry_is_function_preserving(seed, variant, params):
    start = roadmap.get_seed(seed, variant)
    before = randomised(start)
    step = {"transform": "reparam", "params": params}
    after = build_model(apply_steps(start, [step])).eval()
    after.load_state_dict(carry_weights(start, before.state_dict(), [step]), strict=True)
    expected = run(before)
    assert float((expected - run(after)).abs().max()) <= 1e-5


def test_the_carried_rrrb_holds_the_old_kernel_minus_its_identities():
    start = roadmap.get_seed("unet", "w16")
    state = randomised(start).state_dict()
    carried = carry_weights(start, state, [REPARAM])
    old, new = state["encoder.1.1.conv.weight"], carried["encoder.1.1.conv.fea.weight"]
    delta = torch.zeros_like(old)
    delta[range(32), range(32), 1, 1] = 2  # the inner and the outer identity
    torch.testing.assert_close(new[:32, :32], old - delta)
    assert torch.equal(carried["encoder.1.1.conv.fea.bias"][:32], state["encoder.1.1.conv.bias"])


def test_a_transform_after_reparam_reads_the_rrrb_as_its_folded_conv():
    """pconv reads the conv it replaces: an RRRB reads as the conv it folds into, so
    reparam then pconv carries the same network as pconv alone."""
    start = roadmap.get_seed("nafnet", "w16")
    state = randomised(start).state_dict()
    pconv = {"transform": "pconv", "params": {"portion": 0.5}}
    spec = apply_steps(start, [pconv])
    outputs = []
    for steps in ([pconv], [REPARAM, pconv]):
        model = build_model(spec).eval()
        model.load_state_dict(carry_weights(start, state, steps), strict=True)
        outputs.append(run(model))
    assert float((outputs[0] - outputs[1]).abs().max()) <= 1e-5


# ----------------------------------------------------------------------------- deployment


def test_analysis_gives_both_forms_and_measure_spec_the_deployed_one(monkeypatch):
    from roadmap.evaluation import evaluate

    seed = roadmap.get_seed("unet", "w16")
    spec = apply_transform(seed, "reparam")
    a, plain = analyze(spec, (64, 64)), analyze(seed, (64, 64))
    assert a.params > plain.params and a.deployed["params"] == plain.params == a.to_dict()["deployed"]["params"]
    assert a.deployed["macs"] == plain.macs and plain.deployed is None
    measured = []
    monkeypatch.setattr(evaluate, "_measure", lambda model, *args, **kw: measured.append(model) or {})
    out = evaluate.measure_spec(spec, latency_hw=(64, 64))
    assert out["params"] == plain.params and out["macs"] == plain.macs
    assert not any(isinstance(m, RRRB) for m in measured[0].modules())


def test_show_prints_training_and_deployed_params(tmp_path, capsys):
    from roadmap.cli import main

    path = tmp_path / "r.yaml"
    path.write_text(apply_transform(roadmap.get_seed("unet", "w16"), "reparam").to_yaml())
    assert main(["show", str(path), "--input-size", "64", "64"]) == 0
    out = capsys.readouterr().out
    assert "training form, RRRBs unfolded" in out and "deployed params   641,011" in out


def conv_nodes(path) -> int:
    import onnx

    return sum(node.op_type == "Conv" for node in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize(
    "seed,variant,params", [("unet", "w16", {}), ("nafnet", "w16", {"targets": ["level[0]", "middle"]})]
)
def test_onnx_of_a_reparam_spec_has_one_conv_per_rrrb(tmp_path, seed, variant, params):
    pytest.importorskip("onnxruntime")
    from roadmap.evaluation.onnx import export_model_onnx
    from roadmap.review.onnx_export import export_onnx

    spec = apply_transform(roadmap.get_seed(seed, variant), "reparam", **params)
    model = randomised(spec)
    rrrbs = sum(isinstance(m, RRRB) for m in model.modules())
    x = torch.randn(1, 3, 32, 32)
    unfolded = conv_nodes(export_model_onnx(model, tmp_path / "train.onnx", x))
    result = export_onnx(model, tmp_path / "deploy.onnx", input_hw=(32, 32))  # checks onnxruntime vs PyTorch
    assert result.max_abs_error <= 1e-4
    plain = conv_nodes(export_model_onnx(build_model(fold_spec(spec)).eval(), tmp_path / "plain.onnx", x))
    assert rrrbs > 0 and conv_nodes(result.path) == unfolded - 2 * rrrbs == plain


def test_carried_state_loads_strictly_through_the_other_transforms_after_reparam():
    spec = roadmap.get_seed("unet", "w16")
    state = build_model(spec).state_dict()
    for step in [
        REPARAM,
        {"transform": "reparam", "params": {"targets": ["down[1]"]}},
        {"transform": "width", "params": {"multiplier": 2.0}},
        {"transform": "blocks", "params": {"depth": {"middle[0]": 3}}},
        {"transform": "depth", "params": {"levels": 2}},
        {"transform": "decouple", "params": {}},
        {"transform": "msiam", "params": {}},
        {"transform": "pconv", "params": {"targets": ["level[0]"]}},
    ]:
        state = carry_weights(spec, state, [step])
        spec = apply_steps(spec, [step])
        build_model(spec).load_state_dict(state, strict=True)
    assert spec_has_reparam(spec)


def test_evaluate_spec_trains_the_rrrbs_and_reports_the_deployed_network():
    from roadmap.evaluation import evaluate_spec

    seed = roadmap.get_seed("unet", "w16")
    spec = apply_transform(seed, "reparam")
    kw = {"latency_hw": (32, 32), "latency_repeats": 2}
    got, plain = evaluate_spec(spec, "smoke", **kw), evaluate_spec(seed, "smoke", measure=False, **kw)
    assert got["status"] == "ok" and got["latency_ms"] > 0
    for key in ("params", "macs", "peak_memory_predicted_bytes"):
        assert got[key] == plain[key]
