"""The two recommendations (the knee; the fastest trial with no loss against the seed) and the
noise floor's sigma, degrees of freedom and source in `pareto`, `plot` and `export`."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from roadmap.cli import main
from roadmap.evaluation.fidelity import PRESETS
from roadmap.review import plots
from roadmap.review.study import load_study_dir
from roadmap.review.summary import pareto_summary
from tests.review.review_studies import PCONV, RUNG_TRIALS, write_study

T24 = 2.0638985616280245  # Student's t, two-sided 95 %, 24 degrees of freedom


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pareto_json_names_both_recommendations_and_the_noise(study_dir, capsys):
    code, out, err = run_cli(capsys, "pareto", study_dir, "--json")
    assert code == 0, err
    data = json.loads(out)
    # trial 1 (mofa) is the knee; trial 3 ties with the seed in PSNR, is faster and smaller; trial 9
    # ties too but is slower than the seed, trial 6 is faster but 1 dB worse
    assert data["recommendations"] == {"knee": 1, "fastest_no_loss": 3}
    assert {"sigma_db", "source", "dof"} <= set(data["noise"]) and data["noise"]["dof"] == 2


def test_pareto_text_states_both_recommendations(study_dir, capsys):
    code, out, err = run_cli(capsys, "pareto", study_dir)
    assert code == 0, err
    line = next(row for row in out.splitlines() if row.startswith("recommended:"))
    assert line.startswith("recommended: the knee, trial 1 (mofa): 29.60 dB, 55 ms (-45 % against the seed), 150 MB; ")
    assert line.endswith(
        "fastest with no loss against the seed: trial 3: 29.80 dB, 80 ms (-20 % against the seed), "
        "180 MB (export it with --pick fastest-no-loss)"
    )


def test_export_picks_the_fastest_no_loss_and_records_the_noise(study_dir, tmp_path, capsys):
    out = tmp_path / "fast.yaml"
    code, stdout, err = run_cli(capsys, "export", study_dir, "--pick", "fastest-no-loss", "--out", out)
    assert code == 0, err
    assert stdout.startswith("trial 3: PSNR 29.800")
    prov = yaml.safe_load(out.read_text())["provenance"]
    assert prov["trial"] == 3
    noise = prov["noise"]
    assert (noise["kind"], noise["dof"]) == ("study", 2) and noise["source"].startswith("study: 2 candidates")
    assert noise["sigma_db"] == pytest.approx(0.06 * math.sqrt(2))


def test_export_fastest_no_loss_exits_1_when_no_trial_qualifies(tmp_path, capsys):
    # trial 1 is twice as fast but 2 dB below the seed, beyond any band of the study's one pair
    study = write_study(
        tmp_path / "s",
        {0: ((30.06, 29.94), 100.0, 200.0, "seed", []), 1: (28.0, 50.0, 100.0, None, [PCONV])},
        with_files=False,
    )
    out = tmp_path / "w.yaml"
    code, stdout, err = run_cli(capsys, "export", study, "--pick", "fastest-no-loss", "--out", out)
    assert code == 1 and stdout == "" and not out.exists()
    assert err == (
        f"roadmap export: study {study}: no trial qualifies for --pick fastest-no-loss: no trial ties "
        "with or beats the seed in PSNR beyond the noise, uses no more memory and is faster than the "
        "seed; --pick knee names the knee of the front\n"
    )
    code, out_json, _ = run_cli(capsys, "pareto", study, "--json")
    assert code == 0 and json.loads(out_json)["recommendations"] == {"knee": 1, "fastest_no_loss": None}


def test_export_fastest_no_loss_within_limits(study_dir, tmp_path, capsys):
    out = tmp_path / "w.yaml"
    code, _, err = run_cli(
        capsys, "export", study_dir, "--pick", "fastest-no-loss", "--max-latency-ms", "70", "--out", out
    )
    assert code == 1 and not out.exists()
    assert (
        "no trial qualifies for --pick fastest-no-loss: the trials that lose nothing against the seed break "
        "--max-latency-ms 70;"
        in err
        and err.count("\n") == 1
    )


def test_plot_marks_the_fastest_no_loss_apart_from_the_knee(review):
    info = plots.pareto_plot_info(pareto_summary(review), knee=1, fastest_no_loss=3)
    groups = {name: (pts["numbers"], marker["symbol"]) for name, pts, marker in plots._groups(info)}
    assert groups["recommended (knee)"] == ([1], "circle-open")
    assert groups["fastest with no loss vs seed"] == ([3], "square-open")
    legend = [trace.name for trace in plots.plot_pareto_2d(info).data if trace.showlegend]
    assert "fastest with no loss vs seed" in legend and "recommended (knee)" in legend
    assert "fastest with no loss vs seed" in [trace.name for trace in plots.plot_pareto_3d(info).data]


def test_report_names_the_noise_and_the_second_recommendation(review):
    from roadmap.review.report import build_report

    text = build_report(review, input_hw=(32, 32))
    assert "fastest with no loss vs seed" in text  # the plot's legend entry
    assert "2 degrees of freedom (study: 2 candidates of this study trained twice" in text
    assert "t = 4.30 (Student&#x27;s t, 95 %, 2 dof)" in text


def test_a_default_fidelity_study_pools_the_prior_with_its_pairs(tmp_path, capsys):
    study = write_study(tmp_path / "d", RUNG_TRIALS, with_files=False, rungs=(2, 6))
    settings = json.loads((study / "settings.json").read_text())
    settings["fidelity"] = PRESETS["default"].to_dict()  # its top rung is rung 1, as in RUNG_TRIALS
    (study / "settings.json").write_text(json.dumps(settings))
    review = load_study_dir(study)
    sum_sq = 4 * 0.06**2  # the seed's and trial 1's pairs at rung 1
    assert (review.noise.kind, review.noise.dof) == ("prior + study", 24)
    assert review.noise.sigma == pytest.approx(math.sqrt((22 * 0.091**2 + sum_sq) / 24))
    assert review.trial(4).psnr_band == pytest.approx(T24 * review.noise.sigma)
    code, out, err = run_cli(capsys, "pareto", study)
    assert code == 0, err
    assert (
        "2 degrees of freedom" not in out
        and "24 degrees of freedom (prior + study: the default fidelity's "
        "denoise prior (0.091 dB, 22 dof) pooled with 2 candidates of this study trained twice at the top rung "
        "(2 dof))"
    ) in out
