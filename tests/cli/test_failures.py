"""When something fails the user sees why: an all-diverged search exits non-zero with the
reasons, `pareto --failed` lists them, device and fidelity inputs are checked like the rest."""

from __future__ import annotations

import json

import pytest

from roadmap.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def diverged_study(tmp_path_factory):
    """A 1-candidate study (and its 3 reference points) whose every training diverges (lr written
    as YAML's 1.0e6, which PyYAML reads as a string: it must still mean one million)."""
    root = tmp_path_factory.mktemp("diverged")
    fidelity = root / "fast-lr.yaml"
    fidelity.write_text("lr: 1.0e6\niterations: 4\nrungs: [2, 4]\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n")
    study = root / "study"
    code = main(
        ["search", "--backend", "local", "--budget", "1", "--fidelity", str(fidelity), "--study", str(study), "--quiet"]
    )
    return study, code


def test_an_all_diverged_search_exits_1_and_says_why(diverged_study, capsys):
    study, code = diverged_study
    assert code == 1
    settings = json.loads((study / "settings.json").read_text())
    assert settings["fidelity"]["lr"] == 1e6
    code, out, err = run(capsys, "pareto", study)
    assert code == 2 and err.count("\n") == 1 and "no finished trial (4 failed" in err and "--failed" in err
    code, out, _ = run(capsys, "pareto", study, "--failed")
    assert code == 0 and out.count("diverged: loss became") == 4
    code, out, _ = run(capsys, "pareto", study, "--failed", "--json")
    rows = json.loads(out)["trials"]
    assert [r["kind"] for r in rows] == ["failed"] * 4
    assert all(r["reason"].startswith("diverged: loss became") for r in rows)


@pytest.mark.parametrize("command", [["eval", "nafnet", "--fidelity", "smoke"], ["train", "nafnet"]])
@pytest.mark.parametrize("device", ["cuda", "cuda:3", "bogus"])
def test_device_is_checked_like_other_input(capsys, command, device):
    import torch

    if device != "bogus" and torch.cuda.is_available():  # the check is about a machine without one
        device = f"cuda:{torch.cuda.device_count()}"
    code, _out, err = run(capsys, *command, "--device", device)
    assert code == 2 and err.count("\n") == 1 and f"--device {device}:" in err


def test_fidelity_number_fields_refuse_words(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: fast\n")
    code, _, err = run(capsys, "eval", "nafnet", "--fidelity", bad, "--no-measure")
    assert code == 2 and err.count("\n") == 1 and "fidelity.lr: must be a finite number" in err


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.testing import FakeEvaluator

    study = tmp_path_factory.mktemp("small") / "study"
    run_search(resolve_settings({"budget": 3, "fidelity": "smoke", "backend": "local"}, study, None), FakeEvaluator())
    return study


@pytest.mark.parametrize("case", ["missing weights", "onnx is a folder"])
def test_a_failing_export_writes_nothing(small_study, tmp_path, capsys, case):
    out, onnx = tmp_path / "winner.yaml", tmp_path / "winner.onnx"
    extra = ["--weights", tmp_path / "missing.pt"] if case == "missing weights" else []
    if case == "onnx is a folder":
        onnx.mkdir()
    code, _, err = run(
        capsys,
        "export",
        small_study,
        "--pick",
        "knee",
        "--out",
        out,
        "--onnx",
        onnx,
        "--input-size",
        "64",
        "64",
        *extra,
    )
    assert code == 2 and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == (["winner.onnx"] if case == "onnx is a folder" else [])
    assert not out.exists()


def test_a_good_export_writes_both(small_study, tmp_path, capsys):
    out, onnx = tmp_path / "winner.yaml", tmp_path / "winner.onnx"
    code, _stdout, _ = run(
        capsys, "export", small_study, "--pick", "knee", "--out", out, "--onnx", onnx, "--input-size", "64", "64"
    )
    assert code == 0 and out.is_file() and onnx.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["winner.onnx", "winner.yaml"]
