"""CLI: seeds, show and apply -- output keys, exit codes and one-line errors."""

import json
import subprocess
import sys

import pytest

import roadmap
from roadmap.cli import main
from roadmap.spec import with_upscale


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seeds_lists_seeds_and_variants(capsys):
    code, out, _ = run(capsys, "seeds", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["nafnet"]["variants"] == ["w16", "w32", "w64"] and data["nafnet"]["default"] == "w16"
    assert {"pmrid", "unet"} <= set(data)


def test_show_json_has_the_documented_keys(capsys):
    code, out, _ = run(capsys, "show", "nafnet", "--variant", "w16", "--json")
    data = json.loads(out)
    assert code == 0
    for key in (
        "params",
        "params_conv_only",
        "macs",
        "skip_memory_elements_peak",
        "peak_activation_elements",
        "stages",
    ):
        assert key in data
    assert data["params_conv_only"] == 286_579
    assert sum(data["stages"].values()) == data["macs"]


def test_show_accepts_a_spec_file_and_input_size(capsys, tmp_path):
    path = roadmap.save_spec(roadmap.get_seed("pmrid"), tmp_path / "p.yaml")
    code, out, _ = run(capsys, "show", str(path), "--input", "128", "128")
    assert code == 0 and "pmrid/rgb at 1x3x128x128" in out and "1,031,619" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["show", "resnet"], "unknown seed 'resnet'"),
        (["show", "nafnet", "--variant", "w8"], "unknown variant 'w8' of seed 'nafnet'"),
        (["apply", "nafnet", "--roadmap", "fast", "--no-latency"], "unknown roadmap 'fast'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_invalid_field_in_a_spec_file(capsys, tmp_path):
    data = roadmap.get_seed("nafnet").to_dict()
    data["encoder"][2]["conv"] = {"kind": "pconv", "portion": 1.5}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(data))
    code, _, err = run(capsys, "show", str(path))
    assert code == 2
    # the file, the line of the field (JSON is one line here), the field and the rule
    assert (
        err.strip() == f"roadmap show: error: spec {path}: line 1: encoder[2].conv.portion: must be in (0, 1], got 1.5"
    )


def test_apply_json_rows_and_out_file(capsys, tmp_path):
    out_path = tmp_path / "final.yaml"
    code, out, _ = run(
        capsys,
        "apply",
        "nafnet",
        "--roadmap",
        "mofa",
        "--json",
        "--out",
        str(out_path),
        "--input",
        "64",
        "64",
        "--repeats",
        "2",
    )
    data = json.loads(out)
    assert code == 0
    assert [s["step"] for s in data["steps"]] == ["seed", "pconv", "more_params", "more_params", "decouple", "pdwconv"]
    for step in data["steps"]:
        for key in (
            "params",
            "params_conv_only",
            "macs",
            "skip_memory_elements_peak",
            "peak_activation_elements",
            "latency_ms",
        ):
            assert step[key] is not None, key
    assert data["steps"][1]["params_changed"] == {"portion": 0.25}
    assert data["steps"][-1]["params"] == 221_955
    assert roadmap.load_spec(out_path).provenance["steps"][-1] == {"transform": "pdwconv", "params": {"threshold": 16}}


def test_show_counts_a_super_resolution_spec_at_its_lr_input(capsys, tmp_path):
    path = roadmap.save_spec(with_upscale(roadmap.get_seed("nafnet"), 2), tmp_path / "sr.yaml")
    code, out, _ = run(capsys, "show", str(path), "--input-size", "256", "256")
    assert code == 0
    assert out.splitlines()[:2] == ["nafnet/w16 at 1x3x128x128", "  input 128x128 (LR) -> output 256x256 (x2)"]
    assert "MACs              279M (279,013,888)" in out and "289,996" in out
    code, out, _ = run(capsys, "show", str(path), "--input-size", "96", "64", "--json")
    data = json.loads(out)
    assert (code, data["input_hw"], data["output_hw"]) == (0, [48, 32], [96, 64])
    assert "(LR)" not in run(capsys, "show", "nafnet")[1]


def test_show_refuses_an_output_size_the_sr_scale_does_not_divide(capsys, tmp_path):
    path = roadmap.save_spec(with_upscale(roadmap.get_seed("nafnet"), 3), tmp_path / "sr.yaml")
    code, out, err = run(capsys, "show", str(path))
    assert (code, out) == (2, "")
    assert err == (
        "roadmap show: error: --input-size 256 256: output size 256x256 is not divisible by the "
        "super-resolution scale 3\n"
    )


def test_apply_times_a_super_resolution_spec_at_its_lr_input(capsys, tmp_path):
    path = roadmap.save_spec(with_upscale(roadmap.get_seed("nafnet"), 4), tmp_path / "sr.yaml")
    code, out, _ = run(
        capsys,
        "apply",
        str(path),
        "--roadmap",
        "mofa",
        "--json",
        "--input-size",
        "64",
        "64",
        "--repeats",
        "1",
        "--quiet",
    )
    data = json.loads(out)
    assert (code, data["input"], data["output"]) == (0, [16, 16], [64, 64])
    assert all(step["latency_ms"] > 0 for step in data["steps"])
    code, out, _ = run(capsys, "apply", str(path), "--roadmap", "mofa", "--input-size", "64", "64", "--no-latency")
    assert code == 0 and out.startswith("roadmap mofa on nafnet/w16, input 1x3x16x16 (LR) -> output 64x64 (x4)\n")


def test_console_script_reports_errors_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "roadmap", "show", "nafnet", "--variant", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "roadmap show: error: unknown variant 'nope' of seed 'nafnet'; known variants: w16, w32, w64"
    )


def test_unetpp_is_listed_shown_and_has_a_space(capsys):
    code, out, _ = run(capsys, "seeds")
    assert code == 0 and "unetpp   w16 (default), w32" in out
    code, out, _ = run(capsys, "show", "unetpp")
    assert code == 0 and "params            686,937" in out and "skip memory peak  4,456,448 elements (68*H*W" in out
    assert "x[0,3] 0" in out and "decoder[0]" in out  # the node timeline; the nodes' MACs per level
    code, out, _ = run(capsys, "show", "unetpp", "--json")
    data = json.loads(out)
    assert sum(data["stages"].values()) == data["macs"] and data["peak_activation_bytes"] > 0
    code, out, _ = run(capsys, "space", "unetpp")
    assert code == 0 and "transform: prune" in out and "transform: msiam" not in out
