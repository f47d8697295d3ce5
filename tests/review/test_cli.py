"""`roadmap pareto`, `roadmap export` and their bad-input errors (in-process CLI)."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from roadmap.cli import main
from tests.review.review_studies import MB, SIGMA, T2, TRIALS, write_study


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pareto_json(study_dir, capsys):
    code, out, err = run_cli(capsys, "pareto", study_dir, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"trials", "front", "hypervolume", "failed"} <= set(data)
    assert data["failed"] == 2
    finished = [n for n, row in TRIALS.items() if row[0] != "FAIL"]
    assert [t["number"] for t in data["trials"]] == finished
    assert sorted(data["front"]) == [0, 1, 2, 3, 6, 8, 9]  # trial 4 is dominated, 5 and 7 failed
    keys = {
        "number",
        "psnr",
        "latency_ms",
        "peak_memory_measured_bytes",
        "params",
        "macs",
        "transforms",
        "reference",
        "psnr_runs",
        "psnr_band_db",
        "versus_seed",
        "feasible",
    }
    for t in data["trials"]:
        assert keys <= set(t)
    refs = {t["number"]: t["reference"] for t in data["trials"]}
    assert refs == {0: "seed", 1: "mofa", 2: "unet--", 3: None, 4: None, 6: None, 8: None, 9: None}
    assert data["trials"][0]["peak_memory_measured_bytes"] == 200 * MB
    assert 0 < data["hypervolume"] < 1
    ref = data["hypervolume_reference_point"]
    # nadir + 10 % of the range: PSNR 28 - 0.26, latency 120 + 7, memory 220 + 13 MB
    assert ref["psnr"] == pytest.approx(27.74)
    assert ref["latency_ms"] == pytest.approx(127.0)
    assert ref["peak_memory_measured_bytes"] == pytest.approx(233 * MB)
    assert data["failures"] == {
        "5": "diverged: loss became nan at iteration 12",
        "7": "invalid spec: encoder[0].conv.portion",
    }
    assert data["screened_out"] == {} and data["top_rung"] == 0 and data["top_rung_iterations"] == 3


def test_pareto_table_and_csv(study_dir, capsys):
    code, out, _ = run_cli(capsys, "pareto", study_dir)
    assert code == 0
    assert "2 failed (ignored)" in out
    assert "hypervolume" in out and "reference point" in out
    for name in ("seed", "mofa", "unet--"):
        assert name in out
    assert "pconv(portion=0.25) > drop_skips(levels=[0])" in out
    code, out, _ = run_cli(capsys, "pareto", study_dir, "--csv")
    import pandas as pd

    frame = pd.read_csv(io.StringIO(out))
    assert frame["trial"].tolist() == [8, 9, 0, 3, 1, 2, 6]  # front by decreasing PSNR
    assert set(frame["front"]) == {"*"}
    code, out, _ = run_cli(capsys, "pareto", study_dir, "--csv", "--all")
    frame = pd.read_csv(io.StringIO(out))
    assert sorted(frame["trial"]) == [0, 1, 2, 3, 4, 6, 8, 9]


def test_pareto_user_reference_point(study_dir, capsys):
    code, out, _ = run_cli(capsys, "pareto", study_dir, "--json", "--hv-ref", "20,1000,1000")
    assert code == 0
    data = json.loads(out)
    assert data["hypervolume_reference_point"]["psnr"] == 20
    assert data["hypervolume_reference_point"]["peak_memory_measured_bytes"] == 1000 * MB


@pytest.mark.parametrize(
    "pick,expected",
    [
        ("knee", 1),
        ("max-psnr", 8),
        ("min-latency", 6),
        ("min-memory", 2),
        ("trial:3", 3),
    ],
)
def test_export_picks(study_dir, tmp_path, capsys, pick, expected):
    out = tmp_path / "winner.yaml"
    code, _stdout, err = run_cli(capsys, "export", study_dir, "--pick", pick, "--out", out)
    assert code == 0, err
    data = yaml.safe_load(out.read_text())
    assert data["provenance"]["trial"] == expected


def test_export_limits(study_dir, tmp_path, capsys):
    out = tmp_path / "w.yaml"
    # max PSNR under 90 ms: trial 3 (29.8 dB, 80 ms)
    code, _, err = run_cli(capsys, "export", study_dir, "--pick", "max-psnr", "--max-latency-ms", "90", "--out", out)
    assert code == 0, err
    assert yaml.safe_load(out.read_text())["provenance"]["trial"] == 3
    # ... and under 120 MB: trials 2 and 6 remain, 2 has more PSNR
    code, _, err = run_cli(
        capsys,
        "export",
        study_dir,
        "--pick",
        "max-psnr",
        "--max-latency-ms",
        "90",
        "--max-memory-mb",
        "120",
        "--out",
        out,
    )
    assert yaml.safe_load(out.read_text())["provenance"]["trial"] == 2


def test_export_provenance_and_same_network(study_dir, review, tmp_path, capsys):
    import torch

    import roadmap
    from roadmap.review.specs import spec_of

    out = tmp_path / "winner.yaml"
    code, _, err = run_cli(capsys, "export", study_dir, "--pick", "trial:6", "--out", out)
    assert code == 0, err
    spec = roadmap.load_spec(out)
    prov = spec.provenance
    assert prov["seed"] == "nafnet/w16"
    assert [s["transform"] for s in prov["steps"]] == ["pconv", "drop_skips"]
    assert prov["study"] == str(study_dir.resolve())
    assert prov["trial"] == 6
    assert prov["metrics"]["psnr"] == 29.0 and prov["metrics"]["latency_ms"] == 50.0
    assert prov["metrics"]["peak_memory_measured_bytes"] == 100 * MB
    assert prov["metrics"]["psnr_runs"] == [29.0]
    assert prov["metrics"]["psnr_band_db"] == pytest.approx(T2 * SIGMA)
    assert prov["metrics"]["versus_seed"]["overall"] == "trade-off"
    assert prov["metrics"]["versus_seed"]["psnr"]["verdict"] == "worse"
    assert prov["metrics"]["rung"] == 0 and prov["metrics"]["iterations"] == 3
    assert "job_seconds" not in prov["metrics"]  # one run's bookkeeping, not the trial's
    assert prov["device"] == "cpu" and prov["fidelity"] == "smoke"
    # the same network the trial evaluated: same params, same output for the same weights
    trial = review.trial(6)
    evaluated = spec_of(trial)
    a, b = roadmap.build_model(spec), roadmap.build_model(evaluated)
    n_a = sum(p.numel() for p in a.parameters())
    assert n_a == sum(p.numel() for p in b.parameters()) == trial.params
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x), rtol=0, atol=0)
    # `roadmap show` reads it and reports the same parameter count
    code, shown, err = run_cli(capsys, "show", out)
    assert code == 0, err
    assert f"{trial.params:,}" in shown


def test_export_reference_keeps_its_name(study_dir, tmp_path, capsys):
    out = tmp_path / "mofa.yaml"
    assert run_cli(capsys, "export", study_dir, "--pick", "trial:1", "--out", out)[0] == 0
    assert yaml.safe_load(out.read_text())["provenance"]["reference"] == "mofa"


def _one_line_error(err: str, cmd: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"roadmap {cmd}: error: ")
    return lines[0]


def test_missing_study_dir(tmp_path, capsys):
    for cmd in (["pareto"], ["plot"], ["export", "--out", tmp_path / "x.yaml"]):
        code, _, err = run_cli(capsys, cmd[0], tmp_path / "nope", *cmd[1:])
        assert code == 2
        assert "does not exist" in _one_line_error(err, cmd[0])


def test_not_a_study_dir(tmp_path, capsys):
    code, _, err = run_cli(capsys, "pareto", tmp_path)
    assert code == 2
    assert "study.db" in _one_line_error(err, "pareto")


def test_no_finished_trial(tmp_path, capsys):
    d = write_study(tmp_path / "s", {0: ("FAIL", "diverged"), 1: ("FAIL", "oom")}, with_files=False)
    code, _, err = run_cli(capsys, "pareto", d)
    assert code == 2
    line = _one_line_error(err, "pareto")
    assert "no finished trial (2 failed;" in line and "--failed" in line  # points at the reasons
    code, _, err = run_cli(capsys, "export", d, "--pick", "knee", "--out", tmp_path / "w.yaml")
    assert code == 2
    _one_line_error(err, "export")


def test_missing_trial_and_failed_trial(study_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", study_dir, "--pick", "trial:42", "--out", tmp_path / "w.yaml")
    assert code == 2
    line = _one_line_error(err, "export")
    assert "trial 42" in line and "0-4,6,8-9" in line
    code, _, err = run_cli(capsys, "export", study_dir, "--pick", "trial:5", "--out", tmp_path / "w.yaml")
    assert code == 2
    assert "trial 5 failed" in _one_line_error(err, "export")
    assert not (tmp_path / "w.yaml").exists()


def test_no_trial_within_limits(study_dir, tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "export", study_dir, "--pick", "knee", "--max-latency-ms", "10", "--out", tmp_path / "w.yaml"
    )
    assert code == 2
    assert "no feasible trial satisfies --max-latency-ms 10 (fastest 50 ms, smallest 90 MB)" in _one_line_error(
        err, "export"
    )
    code, _, err = run_cli(
        capsys, "export", study_dir, "--pick", "trial:0", "--max-memory-mb", "150", "--out", tmp_path / "w.yaml"
    )
    assert code == 2
    assert "does not satisfy --max-memory-mb 150" in _one_line_error(err, "export")


def test_bad_pick_and_bad_reference(study_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", study_dir, "--pick", "best", "--out", tmp_path / "w.yaml")
    assert code == 2
    assert "--pick" in _one_line_error(err, "export")
    code, _, err = run_cli(capsys, "pareto", study_dir, "--hv-ref", "30,abc")
    assert code == 2
    assert "--hv-ref" in _one_line_error(err, "pareto")
    code, _, err = run_cli(capsys, "pareto", study_dir, "--hv-ref", "31,1000,1000")  # PSNR ref above best
    assert code == 2
    assert "psnr" in _one_line_error(err, "pareto")
