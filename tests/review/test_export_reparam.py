"""``roadmap export`` of a trial with re-parameterised convs: the training-form spec, its folded
(deployed) spec next to it, and an ONNX file of the folded network that passes the onnxruntime check."""

from __future__ import annotations

import pytest

from tests.review.review_studies import write_study

REPARAM = {"transform": "reparam", "params": {"targets": ["level[0]", "middle"]}}
TRIALS = {0: ((30.0, 30.1), 100.0, 200.0, "seed", []), 1: (30.2, 60.0, 150.0, None, [REPARAM])}


def conv_nodes(path) -> int:
    import onnx

    return sum(node.op_type == "Conv" for node in onnx.load(str(path)).graph.node)


def test_export_writes_the_folded_spec_and_a_folded_onnx(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import torch

    import roadmap
    from roadmap.build import fold_spec, spec_has_reparam
    from roadmap.cli import main
    from roadmap.evaluation.onnx import export_model_onnx

    study = write_study(tmp_path / "nafnet-w16", TRIALS, with_files=False)
    out = tmp_path / "w.yaml"
    code = main(
        [
            "export",
            str(study),
            "--pick",
            "trial:1",
            "--out",
            str(out),
            "--onnx",
            str(tmp_path / "w.onnx"),
            "--input-size",
            "32",
            "32",
        ]
    )
    text, err = capsys.readouterr()
    assert code == 0, err
    trained = roadmap.load_spec(out)
    deployed = roadmap.load_spec(tmp_path / "w.folded.yaml")
    assert spec_has_reparam(trained) and not spec_has_reparam(deployed)
    assert deployed.provenance["folded"] is True and deployed.provenance["trial"] == 1
    assert deployed == fold_spec(trained)
    assert "w.folded.yaml (deployed form" in text and "max abs error" in text
    plain = export_model_onnx(roadmap.build_model(deployed).eval(), tmp_path / "plain.onnx", torch.zeros(1, 3, 32, 32))
    assert conv_nodes(tmp_path / "w.onnx") == conv_nodes(plain)
